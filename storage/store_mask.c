/* store_mask.c - applying a google.protobuf.FieldMask generically through
 * protobuf-c descriptors: a shallow "shell" copy of the stored message gets
 * the named fields of the request (dotted paths descend into sub-messages),
 * and pack + unpack turns the shell into an owned message. */
#include "store_internal.h"

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

mvm_code store_mask_apply(const ProtobufCMessage *stored, const ProtobufCMessage *in,
                          const Google__Protobuf__FieldMask *mask,
                          const char *const *mutable_fields, ProtobufCMessage **out,
                          mvm_error *err) {
    *out = NULL;
    shell_list sl = {.n = 0};
    mvm_code c = MVM_OK;
    ProtobufCMessage *dst = shell_new(&sl, stored->descriptor, stored);
    if (!dst)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    if (mask && mask->n_paths > 0) {
        for (size_t i = 0; i < mask->n_paths && c == MVM_OK; i++) {
            const char *p = mask->paths[i] ? mask->paths[i] : "";
            c = apply_path(&sl, dst, in, p, p, mutable_fields, err);
        }
    } else {
        for (const char *const *p = mutable_fields; *p && c == MVM_OK; p++)
            c = apply_path(&sl, dst, in, *p, *p, mutable_fields, err);
    }
    if (c == MVM_OK) {
        *out = store_msg_dup(dst, NULL);
        if (!*out)
            c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (int i = 0; i < sl.n; i++)
        free(sl.shells[i]);
    return c;
}
