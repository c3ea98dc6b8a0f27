/* cli_docs.c - the proto comments and streaming kinds mvm-cli shows in its
 * help, read from the descriptor set (with source info) that the build
 * embeds as mvm_descriptor_set[]. Parsed once, on first use. */
#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"

extern const uint8_t mvm_descriptor_set[];
extern const size_t mvm_descriptor_set_len;

static Google__Protobuf__FileDescriptorSet *docs_set(void) {
    static Google__Protobuf__FileDescriptorSet *set;
    static int tried;
    if (!tried) {
        tried = 1;
        set = google__protobuf__file_descriptor_set__unpack(
            NULL, mvm_descriptor_set_len, mvm_descriptor_set);
    }
    return set;
}

/* The leading comment at source path p[0..n) of file f, or NULL. */
static const char *comment_at(const Google__Protobuf__FileDescriptorProto *f,
                              const int32_t *p, size_t n) {
    const Google__Protobuf__SourceCodeInfo *sci = f->source_code_info;
    if (!sci)
        return NULL;
    for (size_t i = 0; i < sci->n_location; i++) {
        const Google__Protobuf__SourceCodeInfo__Location *l = sci->location[i];
        if (l->n_path == n && memcmp(l->path, p, n * sizeof *p) == 0)
            return l->leading_comments;
    }
    return NULL;
}

/* Finds message full (e.g. "mvm.v1.InstanceEvent.Type" is not a message;
 * "mvm.v1.Pool") and writes its source path into p; returns its file. */
static const Google__Protobuf__FileDescriptorProto *
find_message(const char *full, int32_t *p, size_t *n,
             const Google__Protobuf__DescriptorProto **out) {
    Google__Protobuf__FileDescriptorSet *set = docs_set();
    for (size_t fi = 0; set && fi < set->n_file; fi++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[fi];
        size_t pl = strlen(f->package);
        if (strncmp(full, f->package, pl) != 0 || full[pl] != '.')
            continue;
        const char *rest = full + pl + 1;
        size_t nm = f->n_message_type;
        Google__Protobuf__DescriptorProto *const *ms = f->message_type;
        *n = 0;
        p[(*n)++] = 4; /* FileDescriptorProto.message_type */
        for (;;) {
            size_t seg = strcspn(rest, ".");
            size_t i;
            for (i = 0; i < nm; i++)
                if (strlen(ms[i]->name) == seg && strncmp(ms[i]->name, rest, seg) == 0)
                    break;
            if (i == nm || *n + 3 > 16)
                break;
            p[(*n)++] = (int32_t)i;
            if (!rest[seg]) {
                *out = ms[i];
                return f;
            }
            rest += seg + 1;
            p[(*n)++] = 3; /* DescriptorProto.nested_type */
            nm = ms[i]->n_nested_type;
            ms = ms[i]->nested_type;
        }
    }
    return NULL;
}

const char *cli_docs_message(const char *msg) {
    int32_t p[16];
    size_t n;
    const Google__Protobuf__DescriptorProto *m;
    const Google__Protobuf__FileDescriptorProto *f = find_message(msg, p, &n, &m);
    return f ? comment_at(f, p, n) : NULL;
}

const char *cli_docs_field(const char *msg, const char *field) {
    int32_t p[18];
    size_t n;
    const Google__Protobuf__DescriptorProto *m;
    const Google__Protobuf__FileDescriptorProto *f = find_message(msg, p, &n, &m);
    if (!f)
        return NULL;
    for (size_t i = 0; i < m->n_field; i++) {
        if (strcmp(m->field[i]->name, field) == 0) {
            p[n] = 2; /* DescriptorProto.field */
            p[n + 1] = (int32_t)i;
            return comment_at(f, p, n + 2);
        }
    }
    return NULL;
}

/* Finds method of service; returns its file and fills p (source path). */
static const Google__Protobuf__FileDescriptorProto *
find_method(const char *service, const char *method, int32_t *p,
            const Google__Protobuf__MethodDescriptorProto **out) {
    Google__Protobuf__FileDescriptorSet *set = docs_set();
    for (size_t fi = 0; set && fi < set->n_file; fi++) {
        const Google__Protobuf__FileDescriptorProto *f = set->file[fi];
        size_t pl = strlen(f->package);
        if (strncmp(service, f->package, pl) != 0 || service[pl] != '.')
            continue;
        for (size_t si = 0; si < f->n_service; si++) {
            const Google__Protobuf__ServiceDescriptorProto *s = f->service[si];
            if (strcmp(s->name, service + pl + 1) != 0)
                continue;
            for (size_t mi = 0; mi < s->n_method; mi++) {
                if (strcmp(s->method[mi]->name, method) == 0) {
                    p[0] = 6; /* FileDescriptorProto.service */
                    p[1] = (int32_t)si;
                    p[2] = 2; /* ServiceDescriptorProto.method */
                    p[3] = (int32_t)mi;
                    *out = s->method[mi];
                    return f;
                }
            }
        }
    }
    return NULL;
}

const char *cli_docs_method(const char *service, const char *method) {
    int32_t p[4];
    const Google__Protobuf__MethodDescriptorProto *m;
    const Google__Protobuf__FileDescriptorProto *f = find_method(service, method, p, &m);
    return f ? comment_at(f, p, 4) : NULL;
}

int cli_docs_server_streaming(const char *service, const char *method) {
    int32_t p[4];
    const Google__Protobuf__MethodDescriptorProto *m;
    if (!find_method(service, method, p, &m))
        return -1;
    return m->has_server_streaming && m->server_streaming;
}
