/* TEMPORARY until h8-store merges: store_apply_state. */
#include "store.h"
#include "mvm/v1/node.pb-c.h"
mvm_code store_apply_state(store *st, uint64_t *generation, int64_t *apply_time_unix_us,
                           mvm_error *err);
mvm_code store_apply_state(store *st, uint64_t *generation, int64_t *apply_time_unix_us,
                           mvm_error *err) {
    (void)st;
    (void)err;
    *generation = 0;
    *apply_time_unix_us = 0;
    return MVM_OK;
}
mvm_code store_apply(store *st, const store_actor *who, const Mvm__V1__ApplyRequest *req,
                     ProtobufCAllocator *alloc, Mvm__V1__ApplyResponse **out, mvm_error *err);
mvm_code store_apply(store *st, const store_actor *who, const Mvm__V1__ApplyRequest *req,
                     ProtobufCAllocator *alloc, Mvm__V1__ApplyResponse **out, mvm_error *err) {
    (void)st; (void)who; (void)req; (void)alloc; *out = NULL;
    return mvm_fail(err, MVM_UNIMPLEMENTED, "store_apply: not merged yet");
}
