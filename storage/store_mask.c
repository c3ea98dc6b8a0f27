/* store_mask.c - applying a google.protobuf.FieldMask generically through
 * protobuf-c descriptors, as AIP-134 says: named paths, "*" for every
 * mutable field, or (no mask) the mutable fields set in the request. A
 * shallow "shell" copy of the stored message gets those fields of the
 * request (dotted paths descend into sub-messages), and pack + unpack turns
 * the shell into an owned message. Also the other way round: which mutable
 * fields differ between two messages (what Apply reports as updated). */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASK_MAX_SHELLS 64

typedef struct {
    void *shells[MASK_MAX_SHELLS];
    int n;
} shell_list;

static size_t field_value_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return 4;
    }
}

/* Shallow copy of field f from src to dst (same message type). */
static void field_copy(void *dst, const void *src, const ProtobufCFieldDescriptor *f) {
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        memcpy((char *)dst + f->quantifier_offset, (const char *)src + f->quantifier_offset,
               sizeof(size_t));
        memcpy((char *)dst + f->offset, (const char *)src + f->offset, sizeof(void *));
        return;
    }
    if (f->quantifier_offset && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        memcpy((char *)dst + f->quantifier_offset, (const char *)src + f->quantifier_offset,
               sizeof(uint32_t));
    else if (f->quantifier_offset && f->label == PROTOBUF_C_LABEL_OPTIONAL)
        memcpy((char *)dst + f->quantifier_offset, (const char *)src + f->quantifier_offset,
               sizeof(protobuf_c_boolean));
    memcpy((char *)dst + f->offset, (const char *)src + f->offset, field_value_size(f));
}

/* A new shell of desc's type: a copy of from, or defaults if from is NULL. */
static ProtobufCMessage *shell_new(shell_list *sl, const ProtobufCMessageDescriptor *desc,
                                   const ProtobufCMessage *from) {
    if (sl->n >= MASK_MAX_SHELLS)
        return NULL;
    ProtobufCMessage *m = malloc(desc->sizeof_message);
    if (!m)
        return NULL;
    if (from)
        memcpy(m, from, desc->sizeof_message);
    else
        protobuf_c_message_init(desc, m);
    sl->shells[sl->n++] = m;
    return m;
}

static bool in_list(const char *const *list, const char *s, size_t n) {
    for (; *list; list++)
        if (strlen(*list) == n && strncmp(*list, s, n) == 0)
            return true;
    return false;
}

/* Applies one dotted path to dst from src (src NULL: defaults). */
static mvm_code apply_path(shell_list *sl, ProtobufCMessage *dst, const ProtobufCMessage *src,
                           const char *path, const char *seg, const char *const *mutable_fields,
                           mvm_error *err) {
    const char *dot = strchr(seg, '.');
    size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
    char name[128];
    if (n == 0 || n >= sizeof name)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "update_mask: bad path \"%.100s\"", path);
    memcpy(name, seg, n);
    name[n] = '\0';
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(dst->descriptor, name);
    if (!f)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "update_mask: unknown field \"%.100s\" in %s",
                        path, dst->descriptor->short_name);
    if (mutable_fields && !in_list(mutable_fields, seg, n))
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "update_mask: field \"%.100s\" of %s cannot be changed", path,
                        dst->descriptor->short_name);
    ProtobufCMessage *dflt = NULL;
    if (!src) {
        dflt = shell_new(sl, dst->descriptor, NULL);
        if (!dflt)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "update_mask: too many paths");
        src = dflt;
    }
    if (!dot) {
        field_copy(dst, src, f);
        return MVM_OK;
    }
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "update_mask: \"%.100s\": %s is not a message field", path, name);
    const ProtobufCMessageDescriptor *sub = f->descriptor;
    ProtobufCMessage *dsub, *ssub;
    memcpy(&dsub, (char *)dst + f->offset, sizeof dsub);
    memcpy(&ssub, (const char *)src + f->offset, sizeof ssub);
    dsub = shell_new(sl, sub, dsub);
    if (!dsub)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "update_mask: too many paths");
    memcpy((char *)dst + f->offset, &dsub, sizeof dsub);
    return apply_path(sl, dsub, ssub, path, dot + 1, NULL, err);
}

/* True if field f of m is set: a non-zero number or enum, a non-empty
 * string, bytes or repeated field (map), a present sub-message. */
static bool field_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
    const char *at = (const char *)m + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n;
        memcpy(&n, (const char *)m + f->quantifier_offset, sizeof n);
        return n > 0;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *str;
        memcpy(&str, at, sizeof str);
        return str && *str;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const void *sub;
        memcpy(&sub, at, sizeof sub);
        return sub != NULL;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData b;
        memcpy(&b, at, sizeof b);
        return b.len > 0;
    }
    default: {
        uint8_t zero[8] = {0};
        return memcmp(at, zero, field_value_size(f)) != 0;
    }
    }
}

/* True if field f holds the same value in a and b (scalars and strings). */
static bool field_same(const ProtobufCMessage *a, const ProtobufCMessage *b,
                       const ProtobufCFieldDescriptor *f) {
    const char *x = (const char *)a + f->offset, *y = (const char *)b + f->offset;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *sx, *sy;
        memcpy(&sx, x, sizeof sx);
        memcpy(&sy, y, sizeof sy);
        return strcmp(sx ? sx : "", sy ? sy : "") == 0;
    }
    return memcmp(x, y, field_value_size(f)) == 0;
}

#define IMPLIED_MAX 48
#define IMPLIED_LEN 128

typedef struct {
    char buf[IMPLIED_MAX][IMPLIED_LEN];
    const char *paths[IMPLIED_MAX];
    size_t n;
} implied_mask;

/* Adds the paths of the set fields of m under prefix: a set scalar, string
 * or map by name, a set sub-message by its own set fields (recursively). */
static mvm_code implied_add(implied_mask *im, const ProtobufCMessage *m, const char *prefix,
                            const char *only, mvm_error *err) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((only && strcmp(f->name, only) != 0) || !field_set(m, f))
            continue;
        char path[IMPLIED_LEN];
        bool sub_msg = f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED;
        if (snprintf(path, sizeof path, "%s%s%s", prefix, f->name, sub_msg ? "." : "") >=
            (int)sizeof path)
            return mvm_fail(err, MVM_INTERNAL, "update: field path too long");
        if (sub_msg) { /* path is "prefix.name." */
            const ProtobufCMessage *sub;
            memcpy(&sub, (const char *)m + f->offset, sizeof sub);
            mvm_code c = implied_add(im, sub, path, NULL, err);
            if (c)
                return c;
            continue;
        }
        if (im->n >= IMPLIED_MAX)
            return mvm_fail(err, MVM_INTERNAL, "update: too many fields set");
        memcpy(im->buf[im->n], path, sizeof path);
        im->paths[im->n] = im->buf[im->n];
        im->n++;
    }
    return MVM_OK;
}

/* Without a mask or with "*": an immutable field set in the request must
 * equal the stored value. */
static mvm_code immutable_check(const ProtobufCMessage *stored, const ProtobufCMessage *in,
                                const char *const *immutable, mvm_error *err) {
    for (const char *const *p = immutable; p && *p; p++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(in->descriptor, *p);
        if (f && field_set(in, f) && !field_same(stored, in, f))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "%s.%s cannot be changed (it is immutable); leave it unset or equal "
                            "to the stored value",
                            in->descriptor->short_name, *p);
    }
    return MVM_OK;
}

mvm_code store_mask_apply(const ProtobufCMessage *stored, const ProtobufCMessage *in,
                          const Google__Protobuf__FieldMask *mask, const store_mask_rules *rules,
                          ProtobufCMessage **out, mvm_error *err) {
    *out = NULL;
    const char *const *mut = rules->mutable_fields;
    const char *const *paths = NULL;
    size_t n = mask ? mask->n_paths : 0;
    bool star = false;
    for (size_t i = 0; i < n; i++)
        star |= mask->paths[i] && strcmp(mask->paths[i], "*") == 0;
    if (star && n > 1)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "update_mask: \"*\" (every mutable field) must be the only path");
    mvm_code c = star || n == 0 ? immutable_check(stored, in, rules->immutable, err) : MVM_OK;
    if (c)
        return c;
    implied_mask *im = NULL;
    if (star) { /* every mutable field */
        paths = mut;
        for (n = 0; mut[n]; n++)
            ;
    } else if (n == 0) { /* the mutable fields set in the request */
        im = calloc(1, sizeof *im);
        if (!im)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        for (const char *const *p = mut; *p && !c; p++)
            c = implied_add(im, in, "", *p, err);
        paths = im->paths;
        n = im->n;
    } else {
        paths = (const char *const *)mask->paths;
    }
    shell_list sl = {.n = 0};
    ProtobufCMessage *dst = c ? NULL : shell_new(&sl, stored->descriptor, stored);
    if (!c && !dst)
        c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n && !c; i++) {
        const char *p = paths[i] ? paths[i] : "";
        c = apply_path(&sl, dst, in, p, p, mut, err);
    }
    if (c == MVM_OK) {
        *out = store_msg_dup(dst, NULL);
        if (!*out)
            c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (int i = 0; i < sl.n; i++)
        free(sl.shells[i]);
    free(im);
    return c;
}

/* ---- what a replace would change ---- */

/* The entries of map field f of m (a repeated message of key/value
 * strings, like every labels map) and their count. */
static store_label **map_entries(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                                 size_t *n) {
    store_label **e;
    memcpy(n, (const char *)m + f->quantifier_offset, sizeof *n);
    memcpy(&e, (const char *)m + f->offset, sizeof e);
    return e;
}

static int label_cmp(const void *x, const void *y) {
    const store_label *a = *(store_label *const *)x, *b = *(store_label *const *)y;
    return strcmp(a->key ? a->key : "", b->key ? b->key : "");
}

/* True if the maps f of a and b hold the same key/value pairs, in any
 * order: both sorted by key (copies), then walked together. */
static mvm_code map_same(const ProtobufCMessage *a, const ProtobufCMessage *b,
                         const ProtobufCFieldDescriptor *f, bool *same, mvm_error *err) {
    size_t na, nb;
    store_label **ea = map_entries(a, f, &na), **eb = map_entries(b, f, &nb);
    *same = na == nb;
    if (!*same || na == 0)
        return MVM_OK;
    store_label **sa = malloc(na * sizeof *sa), **sb = malloc(nb * sizeof *sb);
    if (!sa || !sb) {
        free(sa);
        free(sb);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    memcpy(sa, ea, na * sizeof *sa);
    memcpy(sb, eb, nb * sizeof *sb);
    qsort(sa, na, sizeof *sa, label_cmp);
    qsort(sb, nb, sizeof *sb, label_cmp);
    for (size_t i = 0; i < na && *same; i++)
        *same = label_cmp(&sa[i], &sb[i]) == 0 &&
                strcmp(sa[i]->value ? sa[i]->value : "", sb[i]->value ? sb[i]->value : "") == 0;
    free(sa);
    free(sb);
    return MVM_OK;
}

/* True if the repeated scalar or string fields f of a and b hold the same
 * values in the same order (a list, such as Tenant.egress_cidrs, is
 * replaced as a whole, so another order is another value). */
static bool list_same(const ProtobufCMessage *a, const ProtobufCMessage *b,
                      const ProtobufCFieldDescriptor *f) {
    size_t na, nb;
    memcpy(&na, (const char *)a + f->quantifier_offset, sizeof na);
    memcpy(&nb, (const char *)b + f->quantifier_offset, sizeof nb);
    if (na != nb)
        return false;
    const char *va, *vb;
    memcpy(&va, (const char *)a + f->offset, sizeof va);
    memcpy(&vb, (const char *)b + f->offset, sizeof vb);
    size_t es = field_value_size(f);
    for (size_t i = 0; i < na; i++) {
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            const char *sa, *sb;
            memcpy(&sa, va + i * es, sizeof sa);
            memcpy(&sb, vb + i * es, sizeof sb);
            if (strcmp(sa ? sa : "", sb ? sb : "") != 0)
                return false;
        } else if (f->type == PROTOBUF_C_TYPE_BYTES ||
                   memcmp(va + i * es, vb + i * es, es) != 0) {
            return false; /* bytes lists: never in a resource; count as changed */
        }
    }
    return true;
}

/* Calls fn with prefix + the name of each field (of only, if not NULL)
 * that differs between a and b; a sub-message by its own fields (an absent
 * one counts as all defaults). */
static mvm_code diff_fields(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *a,
                            const ProtobufCMessage *b, const char *prefix,
                            const char *const *only, store_diff_fn fn, void *arg,
                            mvm_error *err) {
    mvm_code c = MVM_OK;
    ProtobufCMessage *dflt = NULL;
    if (!a || !b) { /* a missing sub-message: compare with its defaults */
        dflt = malloc(d->sizeof_message);
        if (!dflt)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
        protobuf_c_message_init(d, dflt);
        if (!a)
            a = dflt;
        if (!b)
            b = dflt;
    }
    for (unsigned i = 0; i < d->n_fields && !c; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (only && !in_list(only, f->name, strlen(f->name)))
            continue;
        char path[IMPLIED_LEN];
        if (snprintf(path, sizeof path, "%s%s", prefix, f->name) >= (int)sizeof path) {
            c = mvm_fail(err, MVM_INTERNAL, "diff: field path too long");
            break;
        }
        bool same;
        if (f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if ((c = map_same(a, b, f, &same, err)))
                break;
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            same = list_same(a, b, f);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sa, *sb;
            memcpy(&sa, (const char *)a + f->offset, sizeof sa);
            memcpy(&sb, (const char *)b + f->offset, sizeof sb);
            char sub[IMPLIED_LEN + 1]; /* path fits IMPLIED_LEN with its NUL */
            snprintf(sub, sizeof sub, "%s.", path);
            c = diff_fields(f->descriptor, sa, sb, sub, NULL, fn, arg, err);
            continue;
        } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
            ProtobufCBinaryData x, y;
            memcpy(&x, (const char *)a + f->offset, sizeof x);
            memcpy(&y, (const char *)b + f->offset, sizeof y);
            same = x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
        } else {
            same = field_same(a, b, f);
        }
        if (!same)
            c = fn(arg, path, err);
    }
    free(dflt);
    return c;
}

mvm_code store_mask_diff(const ProtobufCMessage *a, const ProtobufCMessage *b,
                         const store_mask_rules *rules, store_diff_fn fn, void *arg,
                         mvm_error *err) {
    return diff_fields(a->descriptor, a, b, "", rules->mutable_fields, fn, arg, err);
}
