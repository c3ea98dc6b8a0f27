/* core_memory.c - how a restored microVM gets its memory: the snapshot's
 * memory file mapped by Firecracker itself (FILE: private mapping, pages
 * shared through the page cache until written), or served page by page by
 * mvmd over userfaultfd (UFFD). */
#include "core_internal.h"

mvm_code core_restore_memory(core *c, vmm_machine *m, const char *state_path,
                             const char *mem_path, Mvm__V1__MemoryBackend backend,
                             mvm_error *err) {
    (void)c;
    if (backend == MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD)
        return mvm_fail(err, MVM_UNIMPLEMENTED, "the UFFD memory backend is not available yet");
    return vmm_machine_snapshot_load(m, state_path, mem_path, true, err);
}
