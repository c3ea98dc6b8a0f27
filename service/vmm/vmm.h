/* vmm.h - the Firecracker driver: the whole public face of service/vmm/.
 *
 * The driver knows Firecracker and Linux processes, nothing of tenants,
 * pools or LMDB: core/ decides what runs and records it; vmm/ makes it so.
 *
 * One Firecracker process per instance ("machine"). Each runs with its
 * working directory set to the instance's own directory and is given only
 * relative paths (api.sock, rootfs.ext4, v.sock, the FIFOs below), so a
 * snapshot taken of one instance names files that every clone finds in its
 * own directory, and socket paths stay short whatever the state dir.
 *
 *   <state>/instances/<id>/
 *       api.sock        Firecracker's API socket (removed when it ends)
 *       console.fifo    the guest's serial output (Firecracker's stdout),
 *                       pumped by mvmd into console.log
 *       console.log     the last console bytes, bounded (oldest dropped)
 *       fc.fifo         Firecracker's own log (--log-path), pumped into
 *       firecracker.log the last log bytes, bounded
 *       metrics.fifo    Firecracker's metrics (--metrics-path), JSON lines
 *       stderr.log      Firecracker's stderr (panics), appended
 *       rootfs.ext4     the instance's own disk (reflink or sparse copy)
 *       v.sock          hybrid vsock socket (v.sock_<port> for guest->host)
 *
 * Threads: every function may be called from any thread; a vmm_machine is
 * used by one thread at a time (core/ serialises operations per instance),
 * except vmm_machine_pid/pidfd/start_ticks, which are constant. Nothing here
 * runs callbacks. Functions that talk to Firecracker block (bounded by
 * timeouts): call them from worker threads, never from an I/O loop.
 *
 * Errors: the one convention of mvm_error.h. A Firecracker API error keeps
 * Firecracker's fault_message and says which call failed:
 *   "PUT /boot-source: 400: Invalid kernel path ... (firecracker)".
 * FAILED_PRECONDITION when the host cannot run machines (see vmm_host_ready),
 * UNAVAILABLE when the process ended or stopped answering, DEADLINE_EXCEEDED
 * when a call timed out, INVALID_ARGUMENT for Firecracker's 400 answers to
 * configuration derived from user input, INTERNAL for the rest.
 */
#ifndef MVM_VMM_H
#define MVM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mvm_error.h"

/* ---- the host: binaries, KVM, directories ---- */

typedef struct vmm_host_config {
    const char *state_dir;   /* instances live under <state_dir>/instances/ */
    const char *firecracker; /* path, or a name looked up on PATH; NULL: "firecracker" */
    const char *jailer;      /* reserved for the jailer (not used yet); NULL: none */
    const char *kvm_device;  /* NULL: /dev/kvm */
    uint32_t api_timeout_ms; /* per API call; 0: 10000 */
    uint32_t start_timeout_ms; /* process start to API socket answering; 0: 5000 */
    size_t console_max_bytes;  /* console.log cap; 0: 1 MiB */
} vmm_host_config;

/* What the host can run, found by vmm_host_new's probe. */
typedef struct vmm_probe {
    char fc_path[4096];       /* resolved binary path, "" when not found */
    char fc_version[32];      /* "1.10.1" from the binary's own API, "" if unknown */
    unsigned fc_major, fc_minor, fc_patch;
    bool fc_ok;               /* usable: found, answers, version supported */
    char fc_status[512];      /* "ok" or exactly why not */
    char snapshot_version[32];/* snapshot data format this binary writes ("" if unknown) */
    bool kvm_ok;
    char kvm_status[512];     /* "ok" or exactly why not */
    bool reflink;             /* the state dir's filesystem clones files (FICLONE) */
} vmm_probe;

/* The oldest Firecracker the driver supports. */
#define VMM_FC_MIN_MAJOR 1
#define VMM_FC_MIN_MINOR 10

typedef struct vmm_host vmm_host;

/* Copies cfg, creates <state_dir>/instances/ and <state_dir>/snapshots/
 * and probes the host: whether the state dir's filesystem clones files
 * (FICLONE between two scratch files), and runs
 * `firecracker --version` and `--snapshot-version`, starts one process to
 * ask GET /version of its API, and checks that the KVM device opens and
 * answers KVM_GET_API_VERSION. A missing or unusable Firecracker or KVM is
 * not an error here (the probe says why in vmm_host_probe()); errors are
 * for a state dir that cannot be used. Blocks for up to a few seconds. */
mvm_code vmm_host_new(const vmm_host_config *cfg, vmm_host **out, mvm_error *err);
void vmm_host_free(vmm_host *h);
const vmm_probe *vmm_host_probe(const vmm_host *h);
/* MVM_OK when machines can run; else FAILED_PRECONDITION saying exactly
 * what is missing ("Firecracker: ... ; KVM: ..."). */
mvm_code vmm_host_ready(const vmm_host *h, mvm_error *err);
/* True if the probed Firecracker is at least major.minor (gates newer API). */
bool vmm_host_fc_at_least(const vmm_host *h, unsigned major, unsigned minor);
/* Writes <state_dir>/instances/<id> into buf. */
void vmm_instance_dir(const vmm_host *h, const char *id, char *buf, size_t cap);
const char *vmm_host_instances_dir(const vmm_host *h);
/* <state_dir>/snapshots: the snapshots clones are made from, one directory
 * each (see "snapshots on disk"). */
const char *vmm_host_snapshots_dir(const vmm_host *h);
const vmm_host_config *vmm_host_config_of(const vmm_host *h);

/* Parses "Firecracker v1.10.1" (a line of --version output) into "1.10.1"
 * and its numbers; false if out is not such a line. */
bool vmm_parse_fc_version(const char *out, char *version, size_t vlen, unsigned *major,
                          unsigned *minor, unsigned *patch);

/* ---- a machine: one Firecracker process ---- */

typedef struct vmm_machine vmm_machine;

/* Rate limits of the guest's network interface, per second; 0: none. rx is
 * what the guest receives, tx what it sends (Firecracker's sense). */
typedef struct vmm_net_limits {
    uint64_t rx_bytes_per_s, tx_bytes_per_s;
    uint64_t rx_packets_per_s, tx_packets_per_s;
} vmm_net_limits;

/* What to boot. Paths are host paths (absolute) except rootfs, which is
 * relative to the instance directory. */
typedef struct vmm_boot_spec {
    uint32_t vcpus;
    uint32_t mem_mib;
    const char *kernel;
    const char *initrd;      /* NULL or "": none */
    const char *boot_args;
    const char *rootfs;      /* "rootfs.ext4"; NULL: no disk */
    const char *mmds_json;   /* MMDS V2 data store contents; NULL: none */
    uint32_t vsock_cid;      /* 0: no vsock device */
    const char *tap;         /* host TAP name; NULL: no network interface */
    const char *guest_mac;
    vmm_net_limits net_limits; /* on the interface, when there is one */
} vmm_boot_spec;

/* Starts a Firecracker process for instance id in dir (which must exist):
 * its own session, cwd dir, stdin /dev/null, stdout the console FIFO,
 * stderr stderr.log, --log-path fc.fifo, --metrics-path metrics.fifo.
 * Returns once its API socket answers. On failure nothing is left running
 * and the message says what Firecracker printed. */
mvm_code vmm_machine_spawn(vmm_host *h, const char *id, const char *dir, vmm_machine **out,
                           mvm_error *err);
/* The same, the process running in the network namespace at path netns
 * ("/run/netns/mvm-<id>"; NULL: mvmd's own), where it opens its TAP.
 * FAILED_PRECONDITION when that namespace does not exist. */
mvm_code vmm_machine_spawn_in(vmm_host *h, const char *id, const char *dir, const char *netns,
                              vmm_machine **out, mvm_error *err);
/* Configures (machine-config, boot-source, drives, network, vsock, MMDS)
 * and sends InstanceStart. The first failing call is named in err. */
mvm_code vmm_machine_boot(vmm_machine *m, const vmm_boot_spec *spec, mvm_error *err);
/* Re-attaches to a process started earlier (by this or a previous mvmd):
 * checks that pid is alive, is the same process (start_ticks matches
 * /proc/<pid>/stat), runs in dir, and that its API socket answers GET /,
 * whose state ("Running", "Paused", "Not started") goes to state (cap
 * bytes; may be NULL). NOT_FOUND when the process is gone or is another
 * one; UNAVAILABLE when it lives but does not answer. */
mvm_code vmm_machine_adopt(vmm_host *h, const char *id, const char *dir, pid_t pid,
                           uint64_t start_ticks, char *state, size_t cap, vmm_machine **out,
                           mvm_error *err);

/* "Not started", "Running" or "Paused", from GET / (InstanceInfo.state). */
mvm_code vmm_machine_state(vmm_machine *m, char *state, size_t cap, mvm_error *err);
mvm_code vmm_machine_pause(vmm_machine *m, mvm_error *err);
mvm_code vmm_machine_resume(vmm_machine *m, mvm_error *err);
/* SendCtrlAltDel: a guest that honours it shuts down (Firecracker exits). */
mvm_code vmm_machine_ctrl_alt_del(vmm_machine *m, mvm_error *err);
/* PUT /actions FlushMetrics: Firecracker writes a metrics line now (its
 * counters since the previous line) to the metrics FIFO. */
mvm_code vmm_machine_flush_metrics(vmm_machine *m, mvm_error *err);
/* PATCH /network-interfaces/eth0: replaces the interface's rate limits
 * (zeros lift them). Allowed after boot and after a snapshot load. */
mvm_code vmm_machine_net_limits(vmm_machine *m, const vmm_net_limits *l, mvm_error *err);
/* PUT /mmds: replaces the MMDS data store. */
mvm_code vmm_machine_mmds_put(vmm_machine *m, const char *json, mvm_error *err);
/* Full snapshot (the machine must be paused); paths relative to its dir. */
mvm_code vmm_machine_snapshot_create(vmm_machine *m, const char *state_path,
                                     const char *mem_path, mvm_error *err);
/* /snapshot/load on a fresh process: state_path absolute or relative to
 * its dir; mem_path the memory file (File backend) or, with uffd, the
 * socket of a page server (vmm_uffd_serve) that serves it (Uffd backend). */
mvm_code vmm_machine_snapshot_load(vmm_machine *m, const char *state_path,
                                   const char *mem_path, bool uffd, bool resume, mvm_error *err);

/* Waits up to timeout_ms for the process to end. Returns true if it ended;
 * *status (if not NULL) gets its wait status when mvmd is its parent, -1
 * when it was adopted (another process reaps it). */
bool vmm_machine_wait(vmm_machine *m, int timeout_ms, int *status);
/* SIGKILL, then waits for it to end (reaping it if it is our child). */
void vmm_machine_kill(vmm_machine *m);
/* True once the process has ended (non-blocking; reaps a child). */
bool vmm_machine_exited(vmm_machine *m, int *status);
/* Frees the handle. Does not stop the process: machines outlive mvmd. */
void vmm_machine_free(vmm_machine *m);

pid_t vmm_machine_pid(const vmm_machine *m);
/* A pidfd for the process (readable when it ends), owned by the machine. */
int vmm_machine_pidfd(const vmm_machine *m);
/* The process's start time (clock ticks since boot, /proc/<pid>/stat). */
uint64_t vmm_machine_start_ticks(const vmm_machine *m);
/* The last `cap - 1` bytes of stderr.log and firecracker.log, for messages. */
void vmm_machine_diagnostics(const vmm_machine *m, char *buf, size_t cap);

/* Removes the process's sockets (api.sock, v.sock*) and FIFOs from dir,
 * keeping the disk and the logs. For after the process ended. */
void vmm_dir_clean_runtime(const char *dir);
/* Removes dir and everything in it. */
mvm_code vmm_dir_remove(const char *dir, mvm_error *err);

/* Reads the last cap-1 bytes of path into buf ("" if absent). */
void vmm_file_tail(const char *path, char *buf, size_t cap);

/* ---- processes ---- */

/* The boot id of this host's kernel (/proc/sys/kernel/random/boot_id). */
const char *vmm_boot_id(void);
/* Start time (ticks since boot) of pid, or 0 if it does not exist. */
uint64_t vmm_proc_start_ticks(pid_t pid);
/* Calls fn for every process whose working directory is inside
 * <state_dir>/instances/, with the instance id (the directory's name). */
typedef void (*vmm_proc_fn)(void *arg, pid_t pid, uint64_t start_ticks, const char *id);
void vmm_proc_scan(const vmm_host *h, vmm_proc_fn fn, void *arg);
/* SIGKILLs pid if it still is the process that started at start_ticks. */
void vmm_proc_kill(pid_t pid, uint64_t start_ticks);

/* ---- disks ---- */

/* Copies src to dst (created with mode 0600, failing if it exists):
 * a reflink (FICLONE) where the filesystem shares blocks, else a sparse
 * copy that skips holes. Then grows it to min_bytes if smaller. Writes
 * dst through a temporary name and renames it, so dst is whole or absent.
 * *reflinked (if not NULL) says which way it went. */
mvm_code vmm_disk_copy(const char *src, const char *dst, uint64_t min_bytes, bool *reflinked,
                       mvm_error *err);

/* ---- snapshots on disk ---- */

/* A snapshot is a directory <parent>/<id>/ holding the first two files; a
 * snapshot clones are made from also holds the disk that goes with it. */
#define VMM_SNAPSHOT_STATE "vm.state"
#define VMM_SNAPSHOT_MEM "vm.mem"
#define VMM_SNAPSHOT_DISK "rootfs.ext4"
/* The page server's socket in an instance's directory (during a load). */
#define VMM_UFFD_SOCK "uffd.sock"
/* The working set of the last restore through the page server, if any. */
#define VMM_SNAPSHOT_WS "vm.ws"

typedef struct vmm_snapshot_info {
    uint64_t mem_bytes, state_bytes;
    uint64_t disk_bytes;   /* 0: no disk */
    char state_sha256[65]; /* hex */
} vmm_snapshot_info;

/* Seals a snapshot Firecracker wrote into <parent>/<id>.tmp/: syncs its
 * files (the disk too, if there is one), hashes the state file, renames the
 * directory to <parent>/<id>/ and syncs <parent>. Whole or not there: a
 * crash leaves only the .tmp. */
mvm_code vmm_snapshot_seal(const char *parent, const char *id, vmm_snapshot_info *info,
                           mvm_error *err);
/* Checks <dir> before a load: the memory file has its recorded size, the
 * state file its recorded SHA-256 and (want_disk_bytes not 0) the disk its
 * recorded size; FAILED_PRECONDITION saying which is missing, truncated or
 * damaged. */
mvm_code vmm_snapshot_verify(const char *dir, const char *want_sha256, uint64_t want_mem_bytes,
                             uint64_t want_disk_bytes, mvm_error *err);
/* Moves the sealed snapshot directory src to <parent>/<id> (same
 * filesystem: a rename) and syncs both parents. */
mvm_code vmm_snapshot_move(const char *src, const char *parent, const char *id, mvm_error *err);
/* Reads the sizes and state hash of the sealed snapshot <dir> (recovery of
 * a sleep that sealed its snapshot but did not record it). */
mvm_code vmm_snapshot_read_info(const char *dir, vmm_snapshot_info *info, mvm_error *err);
/* True if a snapshot in data format `written` ("v4.0.0") can be loaded by a
 * Firecracker that reads `reader`: same major, minor not newer. */
bool vmm_snapshot_compatible(const char *written, const char *reader);
/* Removes every entry of parent but keep (which may be NULL). */
void vmm_snapshot_prune(const char *parent, const char *keep);
/* Bytes actually allocated (st_blocks) by path and, for a directory,
 * everything under it; 0 if it does not exist. */
uint64_t vmm_disk_usage(const char *path);

/* ---- logs pumped from FIFOs ---- */

/* A FIFO that a Firecracker process writes (the guest console, its own log,
 * its metrics), pumped by mvmd into a bounded file: when the file passes
 * max_bytes, it is cut to its newest three quarters. Offsets count every
 * byte pumped since the logpipe was made, so readers can follow: the file
 * holds [end - size, end). Descriptors are held only between
 * vmm_logpipe_start and vmm_logpipe_stop (while a process runs), so an
 * instance without a process costs none.
 * Threads: every function may be called from any thread (one mutex). */
/* Network traffic in a stretch of Firecracker's metrics output (JSON
 * objects, one per line; each counts since the line before): adds the
 * aggregate "net" rx_bytes_count + tx_bytes_count of every complete line
 * of text[0..len) to *bytes and returns how many bytes those lines take
 * (a partial last line is left for the next call). Lines that are not
 * JSON objects are skipped. Any thread; no allocation kept. */
size_t vmm_metrics_traffic(const char *text, size_t len, uint64_t *bytes);

typedef struct vmm_logpipe vmm_logpipe;

/* Makes the logpipe of <dir>/<fifo_name> into <dir>/<file_name> (the file
 * may already hold a previous run's output). Opens nothing. */
mvm_code vmm_logpipe_open(const char *dir, const char *fifo_name, const char *file_name,
                          size_t max_bytes, vmm_logpipe **out, mvm_error *err);
void vmm_logpipe_close(vmm_logpipe *lp);
/* Creates the FIFO and the file if absent (without opening them), so that
 * a later start only opens them. */
mvm_code vmm_logpipe_prepare(vmm_logpipe *lp, mvm_error *err);
/* Creates the FIFO if absent and opens its read end (non-blocking) and the
 * file. Idempotent. */
mvm_code vmm_logpipe_start(vmm_logpipe *lp, mvm_error *err);
/* Closes both; what the FIFO still holds stays in it for the next start
 * only while a writer keeps it open. Call vmm_logpipe_pump first. */
void vmm_logpipe_stop(vmm_logpipe *lp);
/* The FIFO's read end for epoll, or -1 when stopped. */
int vmm_logpipe_fd(const vmm_logpipe *lp);
/* Reads what the FIFO holds and appends it to the file. For each chunk
 * read, calls fn(arg, bytes, len, offset) (offset of the chunk's first
 * byte) when fn is not NULL, with the logpipe's mutex held: fn must not
 * call back into this logpipe. Returns the number of bytes pumped (0 when
 * stopped). */
typedef void (*vmm_logpipe_fn)(void *arg, const uint8_t *data, size_t len, uint64_t offset);
size_t vmm_logpipe_pump(vmm_logpipe *lp, vmm_logpipe_fn fn, void *arg);
/* The offset just past the newest byte. */
uint64_t vmm_logpipe_end(const vmm_logpipe *lp);
/* Reads up to cap bytes of the file starting at offset `from` (clamped to
 * what the file still holds); *first gets the offset of the first byte
 * returned. Returns the byte count. */
size_t vmm_logpipe_read(vmm_logpipe *lp, uint64_t from, uint8_t *buf, size_t cap,
                        uint64_t *first);

/* ---- userfaultfd page server ----
 *
 * Firecracker's Uffd memory backend (PUT /snapshot/load with "mem_backend":
 * {"backend_type": "Uffd", "backend_path": SOCKET}): the restoring process
 * maps guest memory anonymous and empty, registers it with a userfaultfd,
 * connects to SOCKET and sends one message, a JSON array with one object
 * per guest memory region:
 *     {"base_host_virt_addr": <its address in Firecracker>, "size": <bytes>,
 *      "offset": <where the region starts in the memory file>,
 *      "page_size_kib": <page size IN BYTES despite the name (v1.10)>}
 * (v1.12 and later add "page_size", the same number), with the userfaultfd
 * attached (SCM_RIGHTS). It then closes the connection and relies on the
 * server to fill every page the guest or Firecracker touches.
 *
 * One server (one thread) serves every restoring process of mvmd: a session
 * per process. Memory files are mapped read-only and shared, once per file,
 * so clones of one snapshot are served from one page cache. The server
 * never reads that mapping itself (only the kernel does, in UFFDIO_COPY), so
 * a memory file truncated under it fails a copy instead of raising SIGBUS.
 *
 * Working set: a file listing, in order, the memory-file pages a previous
 * restore of the same snapshot touched first. A session given one copies
 * those pages in right after the handshake (in batches where contiguous,
 * interleaved with demand faults), serves the rest on demand, and records
 * the order of its demand faults; settle_ms after the handshake, or when the
 * session ends if sooner, it writes the updated list (the pages it
 * prefetched, then the new demand faults) to the same path through a
 * temporary name and a rename. A missing, stale (another memory file size
 * or page size) or damaged working set is ignored (stats.ws_note says why):
 * it is an optimisation, never a reason to fail a restore.
 *
 * Threads: every function may be called from any thread but the server's
 * own; a session is used by one thread at a time (its stats and wait may be
 * read from any). Nothing here runs callbacks.
 *
 * The caveat of the backend: a process restored this way depends on the
 * server for every page not yet present. If mvmd ends, the process's next
 * fault on such a page waits forever (populate_after_settle bounds this to
 * the settle time, and UFFD_EVENT_REMOVE'd pages after it).
 */

typedef struct vmm_uffd_server vmm_uffd_server;
typedef struct vmm_uffd_session vmm_uffd_session;

typedef struct vmm_uffd_config {
    uint32_t handshake_timeout_ms; /* vmm_uffd_serve to a valid regions message; 0: 30000 */
    uint32_t settle_ms;            /* handshake to writing the working set; 0: 3000 */
    bool populate_after_settle;    /* after settle, copy in every page still missing */
} vmm_uffd_config;

typedef enum vmm_uffd_state {
    VMM_UFFD_LISTENING = 0, /* waiting for the process's connection and message */
    VMM_UFFD_SERVING = 1,   /* handshake accepted: prefetching and serving faults */
    VMM_UFFD_ENDED = 2,     /* for good: see end_code and end_reason */
} vmm_uffd_state;

/* A session's figures. Times are microseconds, -1 until they happen. */
typedef struct vmm_uffd_stats {
    vmm_uffd_state state;
    mvm_code end_code;        /* MVM_OK while running and after a clean end */
    char end_reason[MVM_ERROR_MSG_MAX]; /* why it ended ("" while running) */
    pid_t peer_pid;           /* the connected process (SO_PEERCRED), 0 before */
    uint32_t regions;         /* guest memory regions in the handshake */
    uint32_t page_size;       /* bytes, from the handshake */
    uint64_t mem_bytes;       /* sum of the regions' sizes */
    uint64_t faults;          /* page-fault messages read */
    uint64_t faults_served;   /* of which answered by a copy or a zero page */
    uint64_t faults_present;  /* of which the page was there already (EEXIST) */
    uint64_t pages_prefetched;/* working-set pages copied in before being touched */
    uint64_t pages_populated; /* pages copied in by populate_after_settle */
    uint64_t pages_zeroed;    /* faults on removed pages, answered with zeros */
    uint64_t bytes_copied;    /* by UFFDIO_COPY, all causes */
    uint64_t copy_calls;      /* UFFDIO_COPY / ZEROPAGE ioctls made */
    uint64_t removes;         /* UFFD_EVENT_REMOVE / UNMAP events */
    uint64_t retries;         /* EAGAIN: copies retried after reading events */
    uint64_t ws_pages_in;     /* pages in the working set read at serve (0: none) */
    uint64_t ws_pages_out;    /* pages in the working set written (0: not yet) */
    bool ws_written;          /* the updated working set is on disk */
    char ws_note[256];        /* what became of the working set read ("" if none) */
    int64_t accept_us;        /* vmm_uffd_serve to the process connecting */
    int64_t handshake_us;     /* vmm_uffd_serve to its message accepted */
    int64_t prefetch_us;      /* handshake to the last working-set page copied */
    int64_t first_fault_us;   /* connection to the first page fault */
    int64_t last_fault_us;    /* connection to the latest page fault */
    int64_t ended_us;         /* vmm_uffd_serve to the end */
} vmm_uffd_stats;

/* Server-wide figures, for metrics. */
typedef struct vmm_uffd_server_stats {
    uint64_t sessions_started; /* vmm_uffd_serve successes since the start */
    uint32_t sessions_active;  /* not yet ended */
    uint32_t files_mapped;     /* memory files mapped now */
    uint64_t bytes_mapped;     /* their sizes */
} vmm_uffd_server_stats;

/* Makes a server and starts its thread. cfg may be NULL (defaults).
 * RESOURCE_EXHAUSTED or INTERNAL when the thread or its descriptors cannot
 * be made. */
mvm_code vmm_uffd_server_new(const vmm_uffd_config *cfg, vmm_uffd_server **out, mvm_error *err);
/* Ends every session still running (as vmm_uffd_session_end), stops the
 * thread and drops the server. Sessions not yet freed stay readable and
 * must still be freed; the memory lives until the last one is. NULL: no-op. */
void vmm_uffd_server_free(vmm_uffd_server *s);
void vmm_uffd_server_stats_get(vmm_uffd_server *s, vmm_uffd_server_stats *out);

/* Starts a session: maps mem_path (or shares the mapping of the same file),
 * reads the working set at ws_path (NULL: none, and none is recorded),
 * creates a Unix socket listening at sock_path (absolute, or relative to
 * mvmd's working directory; longer than sun_path allows is fine, it is
 * bound through its directory's descriptor; an existing socket file there
 * is replaced, any other file is ALREADY_EXISTS) and returns at once: the
 * caller then sends /snapshot/load naming the socket (as the process sees
 * it: relative to ITS working directory). The server thread accepts one
 * connection (the socket file is then removed), checks the message (JSON, a
 * non-empty array of at most 256 regions, exactly one descriptor, a
 * userfaultfd, page size 4 KiB or 2 MiB, regions page-aligned, disjoint and
 * inside the memory file), then prefetches and serves faults until the
 * process exits (its pidfd), its memory is gone (ESRCH), or
 * vmm_uffd_session_end. A refused handshake or a failed copy ends the
 * session with end_code and end_reason (INVALID_ARGUMENT: the message;
 * DEADLINE_EXCEEDED: nothing came within handshake_timeout_ms; INTERNAL: a
 * copy failed); the process is then left to the caller to kill, as its
 * faults will never be served. Errors of the call itself: INVALID_ARGUMENT
 * (paths; mem_path not a non-empty regular file), NOT_FOUND (mem_path or
 * the socket's directory), ALREADY_EXISTS, UNAVAILABLE (the server is being
 * freed), RESOURCE_EXHAUSTED, INTERNAL; nothing is left behind. */
mvm_code vmm_uffd_serve(vmm_uffd_server *s, const char *sock_path, const char *mem_path,
                        const char *ws_path, vmm_uffd_session **out, mvm_error *err);
/* Waits up to timeout_ms (< 0: forever) for the session to reach state (or
 * end); returns the state it is in. */
vmm_uffd_state vmm_uffd_session_wait(vmm_uffd_session *ss, vmm_uffd_state state,
                                     int timeout_ms);
/* Ends the session (idempotent): writes the working set if not yet
 * written, closes the socket and the userfaultfd. Blocks until the server
 * thread has let go of it. A process still running is not touched, but
 * its next fault on a missing page waits forever: kill it first. */
void vmm_uffd_session_end(vmm_uffd_session *ss);
/* Copies the session's figures (consistent as of the server's last loop). */
void vmm_uffd_session_stats(vmm_uffd_session *ss, vmm_uffd_stats *out);
/* Ends the session if needed and frees it. NULL: no-op. */
void vmm_uffd_session_free(vmm_uffd_session *ss);

/* The working-set file: "MVMUFWS1", u32 page size, u32 0, u64 memory file
 * size, u64 count, then count u64 memory-file offsets (page-aligned, in the
 * order they were first touched); all little-endian.
 * vmm_uffd_ws_read: *offsets (malloc'd, caller frees) gets the list;
 * NOT_FOUND when absent, DATA_LOSS when damaged (the message says how).
 * vmm_uffd_ws_write: through <path>.XXXXXX and a rename; not fsync'd (a
 * working set lost in a crash is only a slower restore, and a damaged one
 * is refused by vmm_uffd_ws_read). */
mvm_code vmm_uffd_ws_read(const char *path, uint32_t *page_size, uint64_t *mem_size,
                          uint64_t **offsets, size_t *count, mvm_error *err);
mvm_code vmm_uffd_ws_write(const char *path, uint32_t page_size, uint64_t mem_size,
                           const uint64_t *offsets, size_t count, mvm_error *err);

#endif
