/* api_server.c - api_start / api_stop: opening the store, probing
 * Firecracker and KVM and recovering the node's instances (vmm/, core/),
 * registering the four mvm.v1 services and the metrics lines (instances by
 * state, tenants, pools, allocations, watchers), and the helpers every
 * handler uses. */
#include "api_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance_state.h"

store_actor api_actor(void *call) {
    store_actor a = {.identity = rpc_call_peer(call), .method = rpc_call_method(call)};
    return a;
}

void api_fail(void *call, const mvm_error *err) {
    if (err->code == MVM_OK) {
        rpc_failf(call, MVM_INTERNAL, "internal error: %s", err->msg);
        return;
    }
    rpc_fail(call, err);
}

static void api_metrics(void *arg, void (*emit)(void *sink, const char *fmt, ...), void *sink) {
    api_ctx *api = arg;
    store_counts n;
    if (store_count(api->st, &n, NULL) != MVM_OK)
        return;
    emit(sink, "# HELP mvm_instances Instances on this node by lifecycle state.\n");
    emit(sink, "# TYPE mvm_instances gauge\n");
    for (int s = 1; s < (int)(sizeof n.by_state / sizeof n.by_state[0]); s++) {
        char name[32];
        snprintf(name, sizeof name, "%s", instance_state_name((instance_state)s));
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        emit(sink, "mvm_instances{state=\"%s\"} %u\n", name, n.by_state[s]);
    }
    emit(sink, "# HELP mvm_tenants Tenants on this node.\n# TYPE mvm_tenants gauge\n");
    emit(sink, "mvm_tenants %u\n", n.tenants);
    emit(sink, "# HELP mvm_pools Pools on this node.\n# TYPE mvm_pools gauge\n");
    emit(sink, "mvm_pools %u\n", n.pools);
    emit(sink, "# HELP mvm_allocated_vcpus vCPUs of instances not destroyed.\n"
               "# TYPE mvm_allocated_vcpus gauge\n");
    emit(sink, "mvm_allocated_vcpus %llu\n", (unsigned long long)n.vcpus);
    emit(sink, "# HELP mvm_allocated_mem_mib Memory (MiB) of instances not destroyed.\n"
               "# TYPE mvm_allocated_mem_mib gauge\n");
    emit(sink, "mvm_allocated_mem_mib %llu\n", (unsigned long long)n.mem_mib);
    emit(sink, "# HELP mvm_watchers Open WatchInstances streams.\n# TYPE mvm_watchers gauge\n");
    emit(sink, "mvm_watchers %u\n", event_bus_count(api->bus));
    uint64_t rev;
    if (store_revision(api->st, &rev, NULL) != MVM_OK)
        return;
    emit(sink, "# HELP mvm_store_revision Last committed store revision.\n"
               "# TYPE mvm_store_revision counter\n");
    emit(sink, "mvm_store_revision %llu\n", (unsigned long long)rev);
}

mvm_code api_start(rpc_server *srv, const api_options *opt, api_ctx **out, mvm_error *err) {
    *out = NULL;
    if (!opt || !opt->state_dir)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "api: state dir is required");
    api_ctx *api = calloc(1, sizeof *api);
    if (!api)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "api: out of memory");
    api->version = strdup(opt->version ? opt->version : "");
    api->bus = event_bus_new();
    api->start_wall = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &api->start_mono);
    mvm_code c = MVM_OK;
    if (!api->version || !api->bus)
        c = mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "api: out of memory");
    if (!c)
        c = store_open(opt->state_dir, &api->st, err);
    if (c) {
        api_stop(api);
        return c;
    }
    store_set_instance_hook(api->st, event_bus_publish, api->bus);
    vmm_host_config vc = {.state_dir = opt->state_dir, .firecracker = opt->firecracker_bin,
                          .jailer = opt->jailer_bin, .console_max_bytes = opt->console_max_bytes,
                          .api_timeout_ms = opt->api_timeout_ms};
    c = vmm_host_new(&vc, &api->vmm, err);
    core_options co = {.st = api->st, .vmm = api->vmm, .stop_grace_ms = opt->stop_grace_ms,
                       .capacity_vcpus = opt->capacity_vcpus,
                       .capacity_mem_mib = opt->capacity_mem_mib,
                       .janitor_interval_ms = opt->janitor_interval_ms,
                       .reconcile_interval_ms = opt->reconcile_interval_ms,
                       .activity_interval_ms = opt->activity_interval_ms,
                       .memory_backend = (Mvm__V1__MemoryBackend)opt->memory_backend,
                       .network = (core_network)opt->network, .net_uplink = opt->net_uplink,
                       .net_host_services = opt->net_host_services,
                       .net_pool = opt->net_pool};
    if (!c)
        c = core_new(&co, &api->core, err);
    core_recovery rep;
    core_net_report nrep;
    if (!c)
        c = core_recover(api->core, &rep, err);
    if (!c)
        c = core_net_recover(api->core, &nrep, err);
    if (!c)
        c = core_start(api->core, err);
    if (c) {
        api_stop(api);
        return c;
    }
    const vmm_probe *p = vmm_host_probe(api->vmm);
    fprintf(stderr, "mvmd: Firecracker: %s%s%s; KVM: %s\n", p->fc_ok ? p->fc_version : p->fc_status,
            p->fc_ok ? " at " : "", p->fc_ok ? p->fc_path : "", p->kvm_status);
    fprintf(stderr,
            "mvmd: recovery in %lld us: %u adopted, %u lost, %u finished, %u rolled back, "
            "%u orphans killed, %u directories removed\n",
            (long long)rep.elapsed_us, rep.adopted, rep.lost, rep.finished, rep.rolled_back,
            rep.orphans_killed, rep.dirs_removed);
    if (core_net_on(api->core))
        fprintf(stderr,
                "mvmd: network recovery in %lld us: %u instance networks in place, %u failed, "
                "%u leaked namespaces and %u leaked veths removed\n",
                (long long)nrep.elapsed_us, nrep.instances_ensured, nrep.instances_failed,
                nrep.netns_removed, nrep.veths_removed);
    for (size_t i = 0; i < api_nservices && !c; i++)
        c = rpc_server_add_service(srv, api_services[i].service, api_services[i].rules,
                                   api_services[i].nrules, api, err);
    if (!c)
        c = rpc_server_add_metrics(srv, api_metrics, api, err);
    if (c) {
        mvm_error_context(err, "api");
        api_stop(api);
        return c;
    }
    *out = api;
    return MVM_OK;
}

void api_stop(api_ctx *api) {
    if (!api)
        return;
    if (api->st)
        store_set_instance_hook(api->st, NULL, NULL);
    if (api->bus)
        api_watch_detach_all(api->bus);
    if (api->core)
        api_status_detach_all(api->core);
    core_free(api->core);
    vmm_host_free(api->vmm);
    store_close(api->st);
    event_bus_free(api->bus);
    free(api->version);
    free(api);
}

void api_reply_free(ProtobufCMessage *m, ProtobufCAllocator *a) {
    if (a)
        api_arena_reset();
    else if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}
