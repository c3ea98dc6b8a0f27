/* vmm_uffd_tool.c - the userfaultfd page server (vmm.h) behind a line
 * protocol, for the Python parts that drive a real Firecracker
 * (tests/unit/vmm_uffd_fc_test.py, tests/bench/bench_uffd.py).
 *
 *   vmm_uffd_tool [--settle-ms N] [--handshake-ms N] [--populate]
 *
 * Commands on stdin, one a line; one answer line each on stdout:
 *   serve NAME SOCK MEM WS|-     ok NAME | error NAME CODE message
 *   wait NAME serving|ended MS   state NAME listening|serving|ended
 *   stats NAME                   stats NAME {JSON of vmm_uffd_stats}
 *   end NAME                     stats NAME {...} once ended
 *   free NAME                    ok NAME
 *   server                       server {JSON of vmm_uffd_server_stats}
 *   quit (or end of input)       frees everything and exits 0
 * Anything else: "error - INVALID_ARGUMENT ...". Paths hold no spaces. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define MAX_SESSIONS 256

static struct {
    char name[64];
    vmm_uffd_session *ss;
} sessions[MAX_SESSIONS];

static const char *state_name(vmm_uffd_state s) {
    return s == VMM_UFFD_LISTENING ? "listening" : s == VMM_UFFD_SERVING ? "serving" : "ended";
}

static int find(const char *name) {
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (sessions[i].ss && strcmp(sessions[i].name, name) == 0)
            return i;
    return -1;
}

static void print_json(const char *tag, const char *name, json_t *o) {
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (name)
        printf("%s %s %s\n", tag, name, text ? text : "{}");
    else
        printf("%s %s\n", tag, text ? text : "{}");
    free(text);
    json_decref(o);
}

static void print_stats(const char *name, vmm_uffd_session *ss) {
    vmm_uffd_stats s;
    vmm_uffd_session_stats(ss, &s);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
        " s:I, s:I, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
        "state", state_name(s.state), "end_code", mvm_code_name(s.end_code), "end_reason",
        s.end_reason, "peer_pid", (int)s.peer_pid, "regions", (int)s.regions, "page_size",
        (int)s.page_size, "mem_bytes", (json_int_t)s.mem_bytes, "faults", (json_int_t)s.faults,
        "faults_served", (json_int_t)s.faults_served, "faults_present",
        (json_int_t)s.faults_present, "pages_prefetched", (json_int_t)s.pages_prefetched,
        "pages_populated", (json_int_t)s.pages_populated, "pages_zeroed",
        (json_int_t)s.pages_zeroed, "bytes_copied", (json_int_t)s.bytes_copied, "copy_calls",
        (json_int_t)s.copy_calls, "removes", (json_int_t)s.removes, "retries",
        (json_int_t)s.retries, "ws_pages_in", (json_int_t)s.ws_pages_in, "ws_pages_out",
        (json_int_t)s.ws_pages_out, "ws_written", s.ws_written, "ws_note", s.ws_note, "accept_us",
        (json_int_t)s.accept_us, "handshake_us", (json_int_t)s.handshake_us, "prefetch_us",
        (json_int_t)s.prefetch_us, "first_fault_us", (json_int_t)s.first_fault_us, "last_fault_us",
        (json_int_t)s.last_fault_us, "ended_us", (json_int_t)s.ended_us);
    print_json("stats", name, o);
}

static void command(vmm_uffd_server *srv, char *line) {
    char *words[6] = {0};
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w && n < 6;
         w = strtok_r(NULL, " \t\r\n", &save))
        words[n++] = w;
    if (n == 0)
        return;
    const char *cmd = words[0], *name = n > 1 ? words[1] : "-";
    int i = n > 1 ? find(name) : -1;
    if (strcmp(cmd, "serve") == 0 && n == 5) {
        if (i >= 0 || strlen(name) >= sizeof sessions[0].name) {
            printf("error %s INVALID_ARGUMENT name in use or too long\n", name);
            return;
        }
        int slot = -1;
        for (int k = 0; k < MAX_SESSIONS && slot < 0; k++)
            if (!sessions[k].ss)
                slot = k;
        mvm_error err;
        vmm_uffd_session *ss = NULL;
        if (slot < 0) {
            printf("error %s RESOURCE_EXHAUSTED too many sessions\n", name);
        } else if (vmm_uffd_serve(srv, words[2], words[3],
                                  strcmp(words[4], "-") == 0 ? NULL : words[4], &ss,
                                  &err) != MVM_OK) {
            printf("error %s %s %s\n", name, mvm_code_name(err.code), err.msg);
        } else {
            snprintf(sessions[slot].name, sizeof sessions[slot].name, "%s", name);
            sessions[slot].ss = ss;
            printf("ok %s\n", name);
        }
    } else if (i < 0 && strcmp(cmd, "server") != 0 && strcmp(cmd, "quit") != 0) {
        printf("error %s NOT_FOUND no such session, or a malformed command\n", name);
    } else if (strcmp(cmd, "wait") == 0 && n == 4) {
        vmm_uffd_state want = strcmp(words[2], "serving") == 0 ? VMM_UFFD_SERVING : VMM_UFFD_ENDED;
        printf("state %s %s\n", name,
               state_name(vmm_uffd_session_wait(sessions[i].ss, want, atoi(words[3]))));
    } else if (strcmp(cmd, "stats") == 0) {
        print_stats(name, sessions[i].ss);
    } else if (strcmp(cmd, "end") == 0) {
        vmm_uffd_session_end(sessions[i].ss);
        print_stats(name, sessions[i].ss);
    } else if (strcmp(cmd, "free") == 0) {
        vmm_uffd_session_free(sessions[i].ss);
        sessions[i].ss = NULL;
        printf("ok %s\n", name);
    } else if (strcmp(cmd, "server") == 0) {
        vmm_uffd_server_stats st;
        vmm_uffd_server_stats_get(srv, &st);
        print_json("server", NULL,
                   json_pack("{s:I, s:i, s:i, s:I}", "sessions_started",
                             (json_int_t)st.sessions_started, "sessions_active",
                             (int)st.sessions_active, "files_mapped", (int)st.files_mapped,
                             "bytes_mapped", (json_int_t)st.bytes_mapped));
    } else {
        printf("error - INVALID_ARGUMENT unknown or malformed command: %s\n", cmd);
    }
}

int main(int argc, char **argv) {
    vmm_uffd_config cfg = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--settle-ms") == 0 && i + 1 < argc)
            cfg.settle_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--handshake-ms") == 0 && i + 1 < argc)
            cfg.handshake_timeout_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--populate") == 0)
            cfg.populate_after_settle = true;
        else {
            fprintf(stderr, "usage: %s [--settle-ms N] [--handshake-ms N] [--populate]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    vmm_uffd_server *srv;
    mvm_error err;
    if (vmm_uffd_server_new(&cfg, &srv, &err) != MVM_OK) {
        fprintf(stderr, "vmm_uffd_tool: %s\n", err.msg);
        return 1;
    }
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "quit", 4) == 0)
            break;
        command(srv, line);
    }
    vmm_uffd_server_free(srv);
    for (int i = 0; i < MAX_SESSIONS; i++)
        vmm_uffd_session_free(sessions[i].ss);
    return 0;
}
