/* rpc_descset.c - the index over the embedded FileDescriptorSet (built by
 * protoc --include_imports): each file's serialized bytes and imports, the
 * fully qualified symbols each file defines, and every method's streaming
 * kind, which protobuf-c's own service descriptors do not carry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "rpc_internal.h"

typedef struct strvec {
    char **v;
    int *file;
    rpc_kind *kind;
    size_t n, cap;
} strvec;

static bool vec_push(strvec *s, const char *prefix, const char *name, int file, rpc_kind kind) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        int *f = realloc(s->file, cap * sizeof *f);
        rpc_kind *k = realloc(s->kind, cap * sizeof *k);
        if (v) s->v = v;
        if (f) s->file = f;
        if (k) s->kind = k;
        if (!v || !f || !k)
            return false;
        s->cap = cap;
    }
    size_t len = strlen(prefix) + strlen(name) + 2;
    char *str = malloc(len);
    if (!str)
        return false;
    snprintf(str, len, "%s%s%s", prefix, prefix[0] && prefix[strlen(prefix) - 1] != '/' ? "." : "", name);
    s->v[s->n] = str;
    s->file[s->n] = file;
    s->kind[s->n] = kind;
    s->n++;
    return true;
}

static bool add_message(strvec *syms, const char *scope, const Google__Protobuf__DescriptorProto *m,
                        int file) {
    if (!vec_push(syms, scope, m->name, file, RPC_UNARY))
        return false;
    char inner[512];
    snprintf(inner, sizeof inner, "%s%s%s", scope, scope[0] ? "." : "", m->name);
    for (size_t i = 0; i < m->n_nested_type; i++)
        if (!add_message(syms, inner, m->nested_type[i], file))
            return false;
    for (size_t i = 0; i < m->n_enum_type; i++)
        if (!vec_push(syms, inner, m->enum_type[i]->name, file, RPC_UNARY))
            return false;
    return true;
}

static const char *const *sort_keys;
static int cmp_idx(const void *a, const void *b) {
    return strcmp(sort_keys[*(const size_t *)a], sort_keys[*(const size_t *)b]);
}

/* Sorts v (with its parallel arrays) by string, for the binary searches.
 * Returns false when out of memory (s is left as it was). */
static bool vec_sort(strvec *s) {
    size_t n = s->n ? s->n : 1;
    size_t *idx = malloc(n * sizeof *idx);
    char **v = malloc(n * sizeof *v);
    int *f = malloc(n * sizeof *f);
    rpc_kind *k = malloc(n * sizeof *k);
    if (!idx || !v || !f || !k) {
        free(idx); free(v); free(f); free(k);
        return false;
    }
    for (size_t i = 0; i < s->n; i++)
        idx[i] = i;
    sort_keys = (const char *const *)s->v;
    qsort(idx, s->n, sizeof *idx, cmp_idx);
    for (size_t i = 0; i < s->n; i++) {
        v[i] = s->v[idx[i]];
        f[i] = s->file[idx[i]];
        k[i] = s->kind[idx[i]];
    }
    free(s->v); free(s->file); free(s->kind); free(idx);
    s->v = v; s->file = f; s->kind = k;
    return true;
}

static long vec_find(char *const *v, size_t n, const char *key) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(v[mid], key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

mvm_code rpc_descset_load(rpc_descset *ds, const uint8_t *data, size_t len, mvm_error *err) {
    memset(ds, 0, sizeof *ds);
    Google__Protobuf__FileDescriptorSet *set =
        google__protobuf__file_descriptor_set__unpack(NULL, len, data);
    if (!set)
        return mvm_fail(err, MVM_INTERNAL, "embedded descriptor set does not parse");
    strvec syms = {0}, methods = {0};
    ds->files = calloc(set->n_file ? set->n_file : 1, sizeof *ds->files);
    if (!ds->files)
        goto oom;
    ds->nfiles = set->n_file;
    for (size_t fi = 0; fi < set->n_file; fi++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[fi];
        rpc_descfile *df = &ds->files[fi];
        df->name = strdup(f->name);
        df->len = google__protobuf__file_descriptor_proto__get_packed_size(f);
        df->bytes = malloc(df->len ? df->len : 1);
        df->deps = calloc(f->n_dependency ? f->n_dependency : 1, sizeof *df->deps);
        if (!df->name || !df->bytes || !df->deps)
            goto oom;
        google__protobuf__file_descriptor_proto__pack(f, df->bytes);
        for (size_t d = 0; d < f->n_dependency; d++)
            for (size_t j = 0; j < fi; j++) /* protoc lists imports before importers */
                if (strcmp(set->file[j]->name, f->dependency[d]) == 0)
                    df->deps[df->ndeps++] = (int)j;
        const char *pkg = f->package ? f->package : "";
        for (size_t i = 0; i < f->n_message_type; i++)
            if (!add_message(&syms, pkg, f->message_type[i], (int)fi))
                goto oom;
        for (size_t i = 0; i < f->n_enum_type; i++)
            if (!vec_push(&syms, pkg, f->enum_type[i]->name, (int)fi, RPC_UNARY))
                goto oom;
        for (size_t i = 0; i < f->n_service; i++) {
            const Google__Protobuf__ServiceDescriptorProto *s = f->service[i];
            char full[256], path[300];
            snprintf(full, sizeof full, "%s%s%s", pkg, pkg[0] ? "." : "", s->name);
            if (!vec_push(&syms, "", full, (int)fi, RPC_UNARY))
                goto oom;
            for (size_t m = 0; m < s->n_method; m++) {
                const Google__Protobuf__MethodDescriptorProto *md = s->method[m];
                rpc_kind kind = md->client_streaming ? (md->server_streaming ? RPC_BIDI : RPC_CLIENT_STREAM)
                                                     : (md->server_streaming ? RPC_SERVER_STREAM : RPC_UNARY);
                snprintf(path, sizeof path, "/%s/", full);
                if (!vec_push(&syms, full, md->name, (int)fi, RPC_UNARY) ||
                    !vec_push(&methods, path, md->name, (int)fi, kind))
                    goto oom;
            }
        }
    }
    if (!vec_sort(&syms) || !vec_sort(&methods))
        goto oom;
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    ds->symbols = syms.v;
    ds->symbol_file = syms.file;
    ds->nsymbols = syms.n;
    free(syms.kind);
    ds->methods = methods.v;
    ds->method_kind = methods.kind;
    ds->nmethods = methods.n;
    free(methods.file);
    return MVM_OK;
oom:
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    for (size_t i = 0; i < syms.n; i++) free(syms.v[i]);
    for (size_t i = 0; i < methods.n; i++) free(methods.v[i]);
    free(syms.v); free(syms.file); free(syms.kind);
    free(methods.v); free(methods.file); free(methods.kind);
    rpc_descset_free(ds);
    return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory indexing the descriptor set");
}

void rpc_descset_free(rpc_descset *ds) {
    for (size_t i = 0; ds->files && i < ds->nfiles; i++) {
        free(ds->files[i].name);
        free(ds->files[i].bytes);
        free(ds->files[i].deps);
    }
    for (size_t i = 0; i < ds->nsymbols; i++)
        free(ds->symbols[i]);
    for (size_t i = 0; i < ds->nmethods; i++)
        free(ds->methods[i]);
    free(ds->files);
    free(ds->symbols);
    free(ds->symbol_file);
    free(ds->methods);
    free(ds->method_kind);
    memset(ds, 0, sizeof *ds);
}

int rpc_descset_method_kind(const rpc_descset *ds, const char *path, rpc_kind *kind) {
    long i = vec_find(ds->methods, ds->nmethods, path);
    if (i < 0)
        return -1;
    *kind = ds->method_kind[i];
    return 0;
}

int rpc_descset_file_by_name(const rpc_descset *ds, const char *name) {
    for (size_t i = 0; i < ds->nfiles; i++)
        if (strcmp(ds->files[i].name, name) == 0)
            return (int)i;
    return -1;
}

int rpc_descset_file_by_symbol(const rpc_descset *ds, const char *symbol) {
    long i = vec_find(ds->symbols, ds->nsymbols, symbol);
    return i < 0 ? -1 : ds->symbol_file[i];
}

static size_t closure_walk(const rpc_descset *ds, int idx, int *out, size_t n, bool *seen) {
    if (seen[idx])
        return n;
    seen[idx] = true;
    out[n++] = idx;
    for (size_t d = 0; d < ds->files[idx].ndeps; d++)
        n = closure_walk(ds, ds->files[idx].deps[d], out, n, seen);
    return n;
}

size_t rpc_descset_closure(const rpc_descset *ds, int idx, int *out) {
    bool *seen = calloc(ds->nfiles, sizeof *seen);
    if (!seen)
        return 0;
    size_t n = closure_walk(ds, idx, out, 0, seen);
    free(seen);
    return n;
}
