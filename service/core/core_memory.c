/* core_memory.c - how a restored microVM gets its memory (Pool.
 * memory_backend, or the node's --memory-backend):
 *
 *   FILE  Firecracker maps the snapshot's vm.mem privately itself: pages
 *         come from the host's page cache, shared by every process
 *         restored from the same file until one writes them. Nothing of
 *         mvmd is involved after the load, so such a process outlives a
 *         restart of mvmd like any other.
 *   UFFD  mvmd's page server (vmm_uffd_*, one thread for the node) serves
 *         the guest's page faults from vm.mem over userfaultfd, first
 *         copying in the pages the previous restore of that snapshot (or of
 *         the instance's previous snapshot) touched first (vm.ws). Pages
 *         are copied, so nothing is shared between clones; and the process
 *         depends on mvmd for every page not yet present: recovery ends it
 *         (see core_recover.c). The session lives in the instance's entry
 *         until its machine is detached. */
#include "core_internal.h"

#include <stdio.h>
#include <string.h>

/* The page server, made at its first use. */
static mvm_code page_server(core *c, vmm_uffd_server **out, mvm_error *err) {
    pthread_mutex_lock(&c->uffd_mu);
    mvm_code rc = MVM_OK;
    if (!c->uffd)
        rc = vmm_uffd_server_new(NULL, &c->uffd, err);
    *out = c->uffd;
    pthread_mutex_unlock(&c->uffd_mu);
    return rc;
}

mvm_code core_restore_memory(core *c, core_inst *in, vmm_machine *m, const char *snap_dir,
                             Mvm__V1__MemoryBackend backend, mvm_error *err) {
    char state[PATH_MAX + 16], mem[PATH_MAX + 16], ws[PATH_MAX + 16], sock[PATH_MAX + 16];
    snprintf(state, sizeof state, "%s/%s", snap_dir, VMM_SNAPSHOT_STATE);
    snprintf(mem, sizeof mem, "%s/%s", snap_dir, VMM_SNAPSHOT_MEM);
    if (backend != MVM__V1__MEMORY_BACKEND__MEMORY_BACKEND_UFFD)
        return vmm_machine_snapshot_load(m, state, mem, false, true, err);
    snprintf(ws, sizeof ws, "%s/%s", snap_dir, VMM_SNAPSHOT_WS);
    snprintf(sock, sizeof sock, "%s/%s", in->dir, VMM_UFFD_SOCK);
    vmm_uffd_server *srv;
    vmm_uffd_session *ss = NULL;
    mvm_code rc = page_server(c, &srv, err);
    if (!rc)
        rc = vmm_uffd_serve(srv, sock, mem, ws, &ss, err);
    if (!rc) /* the process names the socket relative to its directory */
        rc = vmm_machine_snapshot_load(m, state, VMM_UFFD_SOCK, true, true, err);
    if (rc) {
        vmm_uffd_session_free(ss);
        return rc;
    }
    pthread_mutex_lock(&in->mu);
    in->uffd = ss;
    pthread_mutex_unlock(&in->mu);
    return MVM_OK;
}

void core_inst_drop_memory(core_inst *in) {
    pthread_mutex_lock(&in->mu);
    vmm_uffd_session *ss = in->uffd;
    in->uffd = NULL;
    pthread_mutex_unlock(&in->mu);
    vmm_uffd_session_free(ss); /* writes the working set for the next restore */
}

void core_memory_free(core *c) {
    vmm_uffd_server_free(c->uffd);
    c->uffd = NULL;
}
