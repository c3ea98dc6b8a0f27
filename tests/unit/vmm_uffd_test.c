/* vmm_uffd_test.c - the userfaultfd page server without Firecracker: the
 * handshake's checks and the working-set file directly, then a stand-in
 * client process that does what a restoring Firecracker does (a userfaultfd
 * over an anonymous mapping, a regions message with the descriptor over the
 * socket) and touches pages, checking their contents against the memory
 * file. Also: malformed and hostile messages refused with the server still
 * serving, prefetch of a working set (seen with mincore before any fault),
 * the recorded working set, UFFD_EVENT_REMOVE, long socket paths, shared
 * mappings, ends by exit, by request and by timeout.
 *
 * The client parts need userfaultfd: root (CAP_SYS_PTRACE), or
 * vm.unprivileged_userfaultfd, or UFFD_USER_MODE_ONLY (enough here, as the
 * client only faults from user mode). Without any, they SKIP loudly and the
 * test exits 77 (ctest: skipped) after the parts that need nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "vmm_uffd_internal.h"

#define PAGE 4096u
#define FILE_PAGES 64u
#define REPLY_TIMEOUT_MS 10000
#define STATE_TIMEOUT_MS 10000

static char tmpdir[] = "/tmp/vmm-uffd-XXXXXX";
static char mem_path[256];

/* ---- the memory file: page i holds i in its first 8 bytes, then (i*7+j) ---- */

static void fill_page(unsigned char *p, uint64_t i) {
    for (unsigned j = 0; j < PAGE; j++)
        p[j] = (unsigned char)(i * 7 + j + 1);
    memcpy(p, &i, sizeof i);
}

static void make_mem_file(void) {
    snprintf(mem_path, sizeof mem_path, "%s/vm.mem", tmpdir);
    int fd = open(mem_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    unsigned char page[PAGE];
    for (uint64_t i = 0; i < FILE_PAGES; i++) {
        fill_page(page, i);
        CHECK(write(fd, page, PAGE) == (ssize_t)PAGE);
    }
    CHECK(close(fd) == 0);
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- part 1: the regions message, checked directly ---- */

static mvm_code parse(const char *json, vmm_uffd_region *r, size_t *n, uint32_t *ps,
                      mvm_error *err) {
    return vmm_uffd_regions_parse(json, strlen(json), FILE_PAGES * PAGE, r, 4, n, ps, err);
}

static void expect_refused(const char *json, const char *words) {
    vmm_uffd_region r[4];
    size_t n = 99;
    uint32_t ps;
    mvm_error err = {0};
    CHECK_EQ_INT(parse(json, r, &n, &ps, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(err.code, MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(n, 0);
    if (!strstr(err.msg, words)) {
        fprintf(stderr, "for %s: wanted \"%s\" in \"%s\"\n", json, words, err.msg);
        CHECK(strstr(err.msg, words) != NULL);
    }
}

static void test_regions(void) {
    vmm_uffd_region r[4];
    size_t n;
    uint32_t ps;
    mvm_error err;
    /* v1.10's message: page_size_kib carries bytes. Two regions, given out
     * of order, come back sorted by address. */
    CHECK_EQ_INT(parse("[{\"base_host_virt_addr\":1073741824,\"size\":65536,\"offset\":65536,"
                       "\"page_size_kib\":4096},"
                       "{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,"
                       "\"page_size_kib\":4096}]",
                       r, &n, &ps, &err),
                 MVM_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(ps, 4096);
    CHECK_EQ_INT(r[0].base, 4096);
    CHECK_EQ_INT(r[0].size, 8192);
    CHECK_EQ_INT(r[1].base, 1073741824);
    CHECK_EQ_INT(r[1].offset, 65536);
    /* v1.12's: page_size too (same value), and fields it may add are ignored */
    CHECK_EQ_INT(parse("[{\"base_host_virt_addr\":8192,\"size\":4096,\"offset\":4096,"
                       "\"page_size\":4096,\"page_size_kib\":4096,\"later\":[1]}]",
                       r, &n, &ps, &err),
                 MVM_OK);
    CHECK_EQ_INT(n, 1);
    /* The whole file, exactly. */
    CHECK_EQ_INT(parse("[{\"base_host_virt_addr\":8192,\"size\":262144,\"offset\":0,"
                       "\"page_size\":4096}]",
                       r, &n, &ps, &err),
                 MVM_OK);

    expect_refused("{\"base_host_virt_addr\":0}", "not a JSON array");
    expect_refused("[]", "lists no region");
    expect_refused("[1]", "region 0 is not a JSON object");
    expect_refused("[{\"size\":4096,\"offset\":0,\"page_size\":4096}]",
                   "no \"base_host_virt_addr\"");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0}]",
                   "neither \"page_size\"");
    expect_refused("[{\"base_host_virt_addr\":-4096,\"size\":4096,\"offset\":0,"
                   "\"page_size\":4096}]",
                   "non-negative integer");
    expect_refused("[{\"base_host_virt_addr\":4096.0,\"size\":4096,\"offset\":0,"
                   "\"page_size\":4096}]",
                   "non-negative integer");
    expect_refused("[{\"base_host_virt_addr\":\"4096\",\"size\":4096,\"offset\":0,"
                   "\"page_size\":4096}]",
                   "non-negative integer");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,"
                   "\"page_size\":4}]",
                   "page size 4 bytes");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,"
                   "\"page_size\":4096,\"page_size_kib\":4}]",
                   "differ");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":0,\"offset\":0,"
                   "\"page_size\":4096}]",
                   "is empty");
    expect_refused("[{\"base_host_virt_addr\":4097,\"size\":4096,\"offset\":0,"
                   "\"page_size\":4096}]",
                   "not aligned");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":100,"
                   "\"page_size\":4096}]",
                   "not aligned");
    /* outside the 256 KiB file: past its end, and an offset that would wrap */
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":258048,"
                   "\"page_size\":4096}]",
                   "not inside the memory file");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":8192,"
                   "\"offset\":9223372036854771712,\"page_size\":4096}]",
                   "not inside the memory file");
    expect_refused("[{\"base_host_virt_addr\":9223372036854771712,\"size\":262144,"
                   "\"offset\":0,\"page_size\":4096},{\"base_host_virt_addr\":"
                   "9223372036854775807,\"size\":4096,\"offset\":0,\"page_size\":4096}]",
                   "not aligned");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096},"
                   "{\"base_host_virt_addr\":65536,\"size\":8192,\"offset\":4096,"
                   "\"page_size\":4096}]",
                   "overlap in the memory file");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096},"
                   "{\"base_host_virt_addr\":8192,\"size\":8192,\"offset\":65536,"
                   "\"page_size\":4096}]",
                   "overlap in the process");
    expect_refused("[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":4096},"
                   "{\"base_host_virt_addr\":0,\"size\":2097152,\"offset\":0,"
                   "\"page_size\":2097152}]",
                   "page size 2097152, region 0 has 4096");
    expect_refused("[{\"base_host_virt_addr\":4096,\"base_host_virt_addr\":8192,\"size\":4096,"
                   "\"offset\":0,\"page_size\":4096}]",
                   "not JSON");
    expect_refused("[{},{},{},{},{}]", "at most 4");
    expect_refused("[{\"base_host_virt_addr\":99999999999999999999,\"size\":4096,\"offset\":0,"
                   "\"page_size\":4096}]",
                   "not JSON");
}

/* ---- part 2: the working-set file ---- */

static void test_ws_file(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/ws-file", tmpdir);
    uint64_t pages[] = {3 * PAGE, 0, 10 * PAGE};
    mvm_error err;
    CHECK_EQ_INT(vmm_uffd_ws_write(path, PAGE, FILE_PAGES * PAGE, pages, 3, &err), MVM_OK);
    uint32_t ps = 0;
    uint64_t msize = 0, *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vmm_uffd_ws_read(path, &ps, &msize, &list, &n, &err), MVM_OK);
    CHECK_EQ_INT(ps, PAGE);
    CHECK_EQ_INT(msize, FILE_PAGES * PAGE);
    CHECK_EQ_INT(n, 3);
    CHECK(list && list[0] == 3 * PAGE && list[1] == 0 && list[2] == 10 * PAGE);
    free(list);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 32 + 3 * 8);
    /* no temporary file left behind */
    DIR *d = opendir(tmpdir);
    int others = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        others += strncmp(e->d_name, "ws-file.", 8) == 0;
    if (d)
        closedir(d);
    CHECK_EQ_INT(others, 0);

    /* damaged: truncated by one entry, a bad offset, bad magic */
    CHECK(truncate(path, 32 + 2 * 8) == 0);
    CHECK_EQ_INT(vmm_uffd_ws_read(path, &ps, &msize, &list, &n, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "truncated") != NULL);
    CHECK(list == NULL && n == 0);
    uint64_t bad[] = {FILE_PAGES * PAGE};
    CHECK_EQ_INT(vmm_uffd_ws_write(path, PAGE, FILE_PAGES * PAGE, bad, 1, &err), MVM_OK);
    CHECK_EQ_INT(vmm_uffd_ws_read(path, &ps, &msize, &list, &n, &err), MVM_DATA_LOSS);
    uint64_t unaligned[] = {100};
    CHECK_EQ_INT(vmm_uffd_ws_write(path, PAGE, FILE_PAGES * PAGE, unaligned, 1, &err), MVM_OK);
    CHECK_EQ_INT(vmm_uffd_ws_read(path, &ps, &msize, &list, &n, &err), MVM_DATA_LOSS);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "X", 1, 0) == 1);
    close(fd);
    CHECK_EQ_INT(vmm_uffd_ws_read(path, &ps, &msize, &list, &n, &err), MVM_DATA_LOSS);
    CHECK(strstr(err.msg, "not a working-set file") != NULL);
    /* empty list: valid */
    CHECK_EQ_INT(vmm_uffd_ws_write(path, PAGE, FILE_PAGES * PAGE, NULL, 0, &err), MVM_OK);
    CHECK_EQ_INT(vmm_uffd_ws_read(path, &ps, &msize, &list, &n, &err), MVM_OK);
    CHECK_EQ_INT(n, 0);
    unlink(path);
    CHECK_EQ_INT(vmm_uffd_ws_read(path, &ps, &msize, &list, &n, &err), MVM_NOT_FOUND);
}

/* ---- part 3: a stand-in for Firecracker ---- */

typedef enum msg_kind {
    MSG_GOOD,        /* one region over the whole mapping, file offset 0 */
    MSG_TWO_REGIONS, /* two halves; the second from file page half + GAP */
    MSG_SPLIT,       /* MSG_GOOD sent in two parts, 50 ms apart */
    MSG_TEXT,        /* the given text, with the userfaultfd */
    MSG_NO_FD,       /* MSG_GOOD's text without a descriptor */
    MSG_TWO_FDS,     /* MSG_GOOD's text with the userfaultfd twice */
    MSG_PIPE_FD,     /* MSG_GOOD's text with a pipe instead of the userfaultfd */
    MSG_OVERSIZE,    /* MSG_GOOD's text after 70000 spaces */
    MSG_NOTHING,     /* connects and closes */
    MSG_SHIFTED,     /* MSG_GOOD, but naming the address just past the mapping */
} msg_kind;

#define GAP 8u /* file pages skipped between the two regions of MSG_TWO_REGIONS */

typedef struct client {
    pid_t pid;
    int cmd; /* commands to it */
    int res; /* its answers */
} client;

/* fds the child keeps, moved to these numbers */
enum { C_CMD = 3, C_RES = 4, C_MEM = 5 };

static bool read_full(int fd, void *buf, size_t len, int timeout_ms) {
    unsigned char *p = buf;
    int64_t deadline = mono_ms() + timeout_ms;
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - mono_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return false;
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
    }
    return true;
}

static void put_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t r = write(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        p += r;
        len -= (size_t)r;
    }
}

static int make_uffd(uint64_t features) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
#ifdef UFFD_USER_MODE_ONLY
    if (fd < 0 && errno == EPERM)
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
#endif
    if (fd < 0)
        return -1;
    struct uffdio_api api = {.api = UFFD_API, .features = features};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_with_fds(int sock, const char *text, size_t len, const int *fds, int nfds) {
    struct iovec iov = {(void *)text, len};
    union {
        char b[CMSG_SPACE(sizeof(int) * 2)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        mh.msg_control = ctl.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    while (len > 0) {
        ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (r <= 0)
            return;
        iov.iov_base = (char *)iov.iov_base + r;
        iov.iov_len -= (size_t)r;
        len -= (size_t)r;
        mh.msg_control = NULL; /* the descriptors went with the first bytes */
        mh.msg_controllen = 0;
    }
}

/* The child: only system calls and stack buffers (the parent has threads). */
static void client_main(const char *sock_path, msg_kind kind, const char *text, size_t pages,
                        uint64_t features) {
    char status = 'E';
    int uffd = make_uffd(features);
    size_t len = pages * PAGE;
    unsigned char *mem =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (uffd < 0 || mem == MAP_FAILED)
        goto fail;
    struct uffdio_register reg = {.range = {(uint64_t)(uintptr_t)mem, len},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
        goto fail;
    /* Connect, through the directory when the path is long. */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *name = sock_path;
    if (strlen(sock_path) >= sizeof sa.sun_path) {
        char dir[512];
        const char *slash = strrchr(sock_path, '/');
        memcpy(dir, sock_path, (size_t)(slash - sock_path));
        dir[slash - sock_path] = '\0';
        if (chdir(dir) != 0)
            goto fail;
        name = slash + 1;
    }
    strncpy(sa.sun_path, name, sizeof sa.sun_path - 1);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto fail;
    static char msg[VMM_UFFD_MSG_MAX + 8192];
    uint64_t base = (uint64_t)(uintptr_t)mem;
    int n = 0;
    if (kind == MSG_TEXT)
        n = snprintf(msg, sizeof msg, "%s", text);
    else if (kind == MSG_TWO_REGIONS)
        n = snprintf(msg, sizeof msg,
                     "[{\"base_host_virt_addr\":%llu,\"size\":%zu,\"offset\":0,"
                     "\"page_size_kib\":4096},{\"base_host_virt_addr\":%llu,\"size\":%zu,"
                     "\"offset\":%zu,\"page_size_kib\":4096}]",
                     (unsigned long long)base, len / 2, (unsigned long long)(base + len / 2),
                     len / 2, len / 2 + GAP * PAGE);
    else if (kind != MSG_NOTHING) {
        if (kind == MSG_OVERSIZE) {
            memset(msg, ' ', 70000);
            n = 70000;
        }
        if (kind == MSG_SHIFTED)
            base += len;
        n += snprintf(msg + n, sizeof msg - (size_t)n,
                      "[{\"base_host_virt_addr\":%llu,\"size\":%zu,\"offset\":0,"
                      "\"page_size_kib\":4096}]",
                      (unsigned long long)base, len);
    }
    int fds[2] = {uffd, uffd};
    int pipefd[2];
    switch (kind) {
    case MSG_NOTHING:
        break;
    case MSG_NO_FD:
        send_with_fds(s, msg, (size_t)n, NULL, 0);
        break;
    case MSG_TWO_FDS:
        send_with_fds(s, msg, (size_t)n, fds, 2);
        break;
    case MSG_PIPE_FD:
        if (pipe(pipefd) != 0)
            goto fail;
        send_with_fds(s, msg, (size_t)n, pipefd, 1);
        break;
    case MSG_SPLIT: {
        send_with_fds(s, msg, (size_t)n / 2, fds, 1);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        send_with_fds(s, msg + n / 2, (size_t)n - (size_t)n / 2, NULL, 0);
        break;
    }
    default:
        send_with_fds(s, msg, (size_t)n, fds, 1);
        break;
    }
    close(s); /* as Firecracker does */
    status = 'S';
    put_all(C_RES, &status, 1);
    /* Commands: op (1 byte), page (u32), file page (u32). */
    static unsigned char file_page[PAGE];
    for (;;) {
        unsigned char cmd[9];
        if (!read_full(C_CMD, cmd, sizeof cmd, 60000))
            _exit(0);
        uint32_t page, fpage;
        memcpy(&page, cmd + 1, 4);
        memcpy(&fpage, cmd + 5, 4);
        volatile unsigned char *p = mem + (size_t)page * PAGE;
        char ok = '1';
        switch (cmd[0]) {
        case 'T': /* touch: must hold file page fpage */
            (void)p[0];
            if (pread(C_MEM, file_page, PAGE, (off_t)fpage * PAGE) != (ssize_t)PAGE ||
                memcmp((const void *)p, file_page, PAGE) != 0)
                ok = '0';
            break;
        case 'Z': /* touch: must be zeros */
            for (unsigned j = 0; j < PAGE; j++)
                if (p[j] != 0)
                    ok = '0';
            break;
        case 'W': /* write: a private copy */
            p[1] = 0xee;
            ok = p[1] == 0xee ? '1' : '0';
            break;
        case 'D': /* give the page back: UFFD_EVENT_REMOVE */
            ok = madvise((void *)p, PAGE, MADV_DONTNEED) == 0 ? '1' : '0';
            break;
        case 'M': { /* mincore of the whole mapping */
            static unsigned char vec[1024];
            if (mincore(mem, len, vec) != 0)
                memset(vec, 0xff, pages);
            put_all(C_RES, vec, pages);
            continue;
        }
        case 'Q':
            _exit(0);
        }
        put_all(C_RES, &ok, 1);
    }
fail:
    put_all(C_RES, &status, 1);
    _exit(1);
}

/* Starts a client; waits until it has sent its message. */
static bool client_start(client *c, const char *sock, msg_kind kind, const char *text, size_t pages,
                         uint64_t features) {
    int cmd[2], res[2];
    if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(res, O_CLOEXEC) != 0)
        return false;
    int memfd = open(mem_path, O_RDONLY | O_CLOEXEC);
    fflush(NULL);
    c->pid = fork();
    if (c->pid == 0) {
        /* Out of the way first, so that no dup2 closes another one. */
        int a = fcntl(cmd[0], F_DUPFD, 100), b = fcntl(res[1], F_DUPFD, 100);
        int m = fcntl(memfd, F_DUPFD, 100);
        if (a < 0 || b < 0 || m < 0 || dup2(a, C_CMD) < 0 || dup2(b, C_RES) < 0 ||
            dup2(m, C_MEM) < 0)
            _exit(2);
        syscall(SYS_close_range, C_MEM + 1, ~0u, 0);
        client_main(sock, kind, text, pages, features);
    }
    close(cmd[0]);
    close(res[1]);
    close(memfd);
    c->cmd = cmd[1];
    c->res = res[0];
    char status = 0;
    bool ok = c->pid > 0 && read_full(c->res, &status, 1, REPLY_TIMEOUT_MS) && status == 'S';
    if (!ok)
        fprintf(stderr, "client %d did not send its message (status %c)\n", (int)c->pid,
                status ? status : '-');
    return ok;
}

static bool client_cmd(client *c, char op, uint32_t page, uint32_t fpage) {
    unsigned char cmd[9] = {(unsigned char)op};
    memcpy(cmd + 1, &page, 4);
    memcpy(cmd + 5, &fpage, 4);
    put_all(c->cmd, cmd, sizeof cmd);
    char ok = 0;
    return read_full(c->res, &ok, 1, REPLY_TIMEOUT_MS) && ok == '1';
}

static bool touch(client *c, uint32_t page, uint32_t fpage) {
    return client_cmd(c, 'T', page, fpage);
}

static bool client_mincore(client *c, unsigned char *vec, size_t pages) {
    unsigned char cmd[9] = {'M'};
    put_all(c->cmd, cmd, sizeof cmd);
    return read_full(c->res, vec, pages, REPLY_TIMEOUT_MS);
}

/* Ends the client: asks it to exit (kill: SIGKILL it, for one stuck in a
 * fault) and reaps it. Returns its exit status (-1 if killed). */
static int client_stop(client *c, bool kill_it) {
    if (kill_it) {
        kill(c->pid, SIGKILL);
    } else {
        unsigned char cmd[9] = {'Q'};
        put_all(c->cmd, cmd, sizeof cmd);
    }
    int st = 0;
    waitpid(c->pid, &st, 0);
    close(c->cmd);
    close(c->res);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sock_at(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static vmm_uffd_stats stats_of(vmm_uffd_session *ss) {
    vmm_uffd_stats st;
    vmm_uffd_session_stats(ss, &st);
    return st;
}

/* Waits until the session's prefetch is done (prefetch_us set). */
static bool wait_prefetched(vmm_uffd_session *ss) {
    for (int64_t end = mono_ms() + STATE_TIMEOUT_MS; mono_ms() < end;) {
        if (stats_of(ss).prefetch_us >= 0)
            return true;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static vmm_uffd_server *new_server(uint32_t handshake_ms, uint32_t settle_ms) {
    vmm_uffd_config cfg = {.handshake_timeout_ms = handshake_ms, .settle_ms = settle_ms};
    vmm_uffd_server *srv = NULL;
    mvm_error err;
    CHECK_EQ_INT(vmm_uffd_server_new(&cfg, &srv, &err), MVM_OK);
    return srv;
}

/* Serves a session at socket <tmpdir>/name and starts a client of that
 * kind on it; returns the session once it serves (checked). */
static vmm_uffd_session *open_session(vmm_uffd_server *srv, const char *name, const char *ws,
                                      msg_kind kind, size_t pages, uint64_t features, client *c) {
    char sock[300];
    sock_at(sock, sizeof sock, name);
    vmm_uffd_session *ss = NULL;
    mvm_error err;
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, ws, &ss, &err), MVM_OK);
    if (!ss)
        abort(); /* nothing below can run */
    CHECK(client_start(c, sock, kind, NULL, pages, features));
    CHECK_EQ_INT(vmm_uffd_session_wait(ss, VMM_UFFD_SERVING, STATE_TIMEOUT_MS), VMM_UFFD_SERVING);
    return ss;
}

/* Serves one client, touches pages in a given order, ends by its exit:
 * the contents match, faults are counted, the working set records the
 * order; then a second session prefetches exactly those pages (mincore
 * before any touch) and takes no fault on them. */
static void test_serve_and_prefetch(vmm_uffd_server *srv) {
    char sock[300], ws[300];
    sock_at(sock, sizeof sock, "a.sock");
    snprintf(ws, sizeof ws, "%s/vm.ws", tmpdir);
    vmm_uffd_session *ss;
    mvm_error err;
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, ws, &ss, &err), MVM_OK);
    struct stat st;
    CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
    CHECK_EQ_INT(stats_of(ss).state, VMM_UFFD_LISTENING);
    client c;
    CHECK(client_start(&c, sock, MSG_GOOD, NULL, FILE_PAGES, 0));
    CHECK_EQ_INT(vmm_uffd_session_wait(ss, VMM_UFFD_SERVING, STATE_TIMEOUT_MS), VMM_UFFD_SERVING);
    CHECK(access(sock, F_OK) != 0); /* removed once connected */
    CHECK(touch(&c, 9, 9));
    CHECK(touch(&c, 3, 3));
    CHECK(touch(&c, 12, 12));
    CHECK(touch(&c, 3, 3)); /* present: no fault */
    CHECK(client_cmd(&c, 'W', 20, 0));
    vmm_uffd_stats s = stats_of(ss);
    CHECK_EQ_INT(s.peer_pid, c.pid);
    CHECK_EQ_INT(s.regions, 1);
    CHECK_EQ_INT(s.page_size, PAGE);
    CHECK_EQ_INT(s.mem_bytes, FILE_PAGES * PAGE);
    CHECK_EQ_INT(s.faults, 4);
    CHECK_EQ_INT(s.faults_served, 4);
    CHECK_EQ_INT(s.bytes_copied, 4 * PAGE);
    CHECK_EQ_INT(s.pages_prefetched, 0);
    CHECK(s.accept_us >= 0 && s.handshake_us >= s.accept_us && s.first_fault_us >= 0);
    CHECK(s.last_fault_us >= s.first_fault_us);
    CHECK(!s.ws_written);
    CHECK_EQ_INT(client_stop(&c, false), 0);
    CHECK_EQ_INT(vmm_uffd_session_wait(ss, VMM_UFFD_ENDED, STATE_TIMEOUT_MS), VMM_UFFD_ENDED);
    s = stats_of(ss);
    CHECK_EQ_INT(s.end_code, MVM_OK);
    CHECK(strstr(s.end_reason, "exited") != NULL);
    CHECK(s.ws_written);
    CHECK_EQ_INT(s.ws_pages_out, 4);
    vmm_uffd_session_free(ss);
    uint32_t ps;
    uint64_t msize, *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vmm_uffd_ws_read(ws, &ps, &msize, &list, &n, &err), MVM_OK);
    CHECK_EQ_INT(n, 4);
    if (n == 4)
        CHECK(list[0] == 9 * PAGE && list[1] == 3 * PAGE && list[2] == 12 * PAGE &&
              list[3] == 20 * PAGE);
    free(list);

    /* The second restore: the four pages are there before anything touches. */
    ss = open_session(srv, "a.sock", ws, MSG_GOOD, FILE_PAGES, 0, &c);
    CHECK_EQ_INT(stats_of(ss).ws_pages_in, 4);
    CHECK(wait_prefetched(ss));
    unsigned char vec[FILE_PAGES];
    CHECK(client_mincore(&c, vec, FILE_PAGES));
    int resident = 0;
    for (unsigned i = 0; i < FILE_PAGES; i++)
        resident += vec[i] & 1;
    CHECK_EQ_INT(resident, 4);
    CHECK((vec[3] & 1) && (vec[9] & 1) && (vec[12] & 1) && (vec[20] & 1));
    s = stats_of(ss);
    CHECK_EQ_INT(s.pages_prefetched, 4);
    CHECK_EQ_INT(s.faults, 0);
    CHECK(touch(&c, 3, 3) && touch(&c, 9, 9) && touch(&c, 12, 12) && touch(&c, 20, 20));
    CHECK_EQ_INT(stats_of(ss).faults, 0);
    CHECK(touch(&c, 40, 40)); /* not in the working set: one fault */
    s = stats_of(ss);
    CHECK_EQ_INT(s.faults, 1);
    CHECK_EQ_INT(s.bytes_copied, 5 * PAGE);
    CHECK(strstr(s.ws_note, "4 pages to prefetch") != NULL);
    /* Ended by request this time: the working set is written too. */
    vmm_uffd_session_end(ss);
    s = stats_of(ss);
    CHECK_EQ_INT(s.state, VMM_UFFD_ENDED);
    CHECK_EQ_INT(s.end_code, MVM_OK);
    CHECK_EQ_INT(s.ws_pages_out, 5);
    vmm_uffd_session_end(ss); /* idempotent */
    CHECK_EQ_INT(client_stop(&c, false), 0);
    vmm_uffd_session_free(ss);
    CHECK_EQ_INT(vmm_uffd_ws_read(ws, &ps, &msize, &list, &n, &err), MVM_OK);
    CHECK_EQ_INT(n, 5);
    if (n == 5)
        CHECK(list[0] == 9 * PAGE && list[4] == 40 * PAGE);
    free(list);

    /* A working set recorded for another memory file size is ignored. */
    uint64_t other[] = {0};
    CHECK_EQ_INT(vmm_uffd_ws_write(ws, PAGE, 2 * FILE_PAGES * PAGE, other, 1, &err), MVM_OK);
    ss = open_session(srv, "a.sock", ws, MSG_GOOD, FILE_PAGES, 0, &c);
    CHECK(touch(&c, 0, 0));
    s = stats_of(ss);
    CHECK_EQ_INT(s.pages_prefetched, 0);
    CHECK_EQ_INT(s.faults, 1);
    CHECK(strstr(s.ws_note, "ignored") != NULL);
    CHECK_EQ_INT(client_stop(&c, false), 0);
    vmm_uffd_session_free(ss);
    unlink(ws);
}

/* Two regions, with a gap in the file between them, in a message that
 * arrives in two parts. */
static void test_two_regions(vmm_uffd_server *srv) {
    vmm_uffd_session *ss;
    client c;
    ss = open_session(srv, "b.sock", NULL, MSG_TWO_REGIONS, 32, 0, &c);
    CHECK(touch(&c, 2, 2));
    CHECK(touch(&c, 16, 16 + GAP));
    CHECK(touch(&c, 31, 31 + GAP));
    vmm_uffd_stats s = stats_of(ss);
    CHECK_EQ_INT(s.regions, 2);
    CHECK_EQ_INT(s.faults_served, 3);
    CHECK_EQ_INT(client_stop(&c, false), 0);
    vmm_uffd_session_free(ss);

    ss = open_session(srv, "b.sock", NULL, MSG_SPLIT, FILE_PAGES, 0, &c);
    CHECK(touch(&c, 63, 63));
    CHECK_EQ_INT(client_stop(&c, false), 0);
    vmm_uffd_session_free(ss);
}

/* A message the server must refuse: the session ends with INVALID_ARGUMENT
 * naming the problem. */
static void expect_session_refused(vmm_uffd_server *srv, msg_kind kind, const char *text,
                                   const char *words) {
    char sock[300];
    sock_at(sock, sizeof sock, "bad.sock");
    vmm_uffd_session *ss;
    mvm_error err;
    client c;
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, NULL, &ss, &err), MVM_OK);
    CHECK(client_start(&c, sock, kind, text, 16, 0));
    CHECK_EQ_INT(vmm_uffd_session_wait(ss, VMM_UFFD_ENDED, STATE_TIMEOUT_MS), VMM_UFFD_ENDED);
    vmm_uffd_stats s = stats_of(ss);
    CHECK_EQ_INT(s.end_code, MVM_INVALID_ARGUMENT);
    if (!strstr(s.end_reason, words)) {
        fprintf(stderr, "kind %d: wanted \"%s\" in \"%s\"\n", kind, words, s.end_reason);
        CHECK(strstr(s.end_reason, words) != NULL);
    }
    client_stop(&c, true);
    vmm_uffd_session_free(ss);
}

static void test_refused(vmm_uffd_server *srv) {
    expect_session_refused(srv, MSG_TEXT, "[{\"base_host_virt_addr\": 4096,", "not JSON");
    expect_session_refused(srv, MSG_TEXT, "hello", "not JSON");
    expect_session_refused(srv, MSG_TEXT, "[]", "lists no region");
    expect_session_refused(srv, MSG_TEXT,
                           "[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":1048576,"
                           "\"page_size_kib\":4096}]",
                           "not inside the memory file");
    expect_session_refused(srv, MSG_NO_FD, NULL, "no descriptor");
    expect_session_refused(srv, MSG_TWO_FDS, NULL, "2 descriptors");
    expect_session_refused(srv, MSG_PIPE_FD, NULL, "not a userfaultfd");
    expect_session_refused(srv, MSG_OVERSIZE, NULL, "longer than");
    expect_session_refused(srv, MSG_NOTHING, NULL, "without sending");
    vmm_uffd_server_stats ss;
    vmm_uffd_server_stats_get(srv, &ss);
    CHECK_EQ_INT(ss.sessions_active, 0);
    CHECK_EQ_INT(ss.files_mapped, 0);
    CHECK_EQ_INT(ss.bytes_mapped, 0);
}

/* Hostile but well-formed: a message naming memory the process did not
 * register. A fault outside the regions, and copies the kernel refuses,
 * end the session (the process is left to its owner), never the server. */
static void test_hostile(vmm_uffd_server *srv) {
    char sock[300], ws[300];
    sock_at(sock, sizeof sock, "h.sock");
    snprintf(ws, sizeof ws, "%s/h.ws", tmpdir);
    vmm_uffd_session *ss;
    mvm_error err;
    client c;
    ss = open_session(srv, "h.sock", NULL, MSG_SHIFTED, 16, 0, &c);
    unsigned char cmd[9] = {'T', 1}; /* page 1: outside what it described; never answered */
    put_all(c.cmd, cmd, sizeof cmd);
    CHECK_EQ_INT(vmm_uffd_session_wait(ss, VMM_UFFD_ENDED, STATE_TIMEOUT_MS), VMM_UFFD_ENDED);
    vmm_uffd_stats s = stats_of(ss);
    CHECK_EQ_INT(s.end_code, MVM_INVALID_ARGUMENT);
    CHECK(strstr(s.end_reason, "outside every memory region") != NULL);
    client_stop(&c, true);
    vmm_uffd_session_free(ss);

    /* prefetching to where nothing is registered: the kernel refuses */
    uint64_t pages[] = {0, PAGE};
    CHECK_EQ_INT(vmm_uffd_ws_write(ws, PAGE, FILE_PAGES * PAGE, pages, 2, &err), MVM_OK);
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, ws, &ss, &err), MVM_OK);
    CHECK(client_start(&c, sock, MSG_SHIFTED, NULL, 16, 0));
    CHECK_EQ_INT(vmm_uffd_session_wait(ss, VMM_UFFD_ENDED, STATE_TIMEOUT_MS), VMM_UFFD_ENDED);
    s = stats_of(ss);
    CHECK_EQ_INT(s.end_code, MVM_INTERNAL);
    CHECK(strstr(s.end_reason, "UFFDIO_COPY") != NULL);
    CHECK(!s.ws_written);
    client_stop(&c, true);
    vmm_uffd_session_free(ss);
    unlink(ws);
}

/* Balloon inflation: MADV_DONTNEED sends UFFD_EVENT_REMOVE; the next fault
 * on that page gets zeros, not the file. */
static void test_remove(vmm_uffd_server *srv) {
    vmm_uffd_session *ss;
    client c;
    ss = open_session(srv, "r.sock", NULL, MSG_GOOD, 16, UFFD_FEATURE_EVENT_REMOVE, &c);
    CHECK(touch(&c, 2, 2));
    CHECK(client_cmd(&c, 'D', 2, 0));
    CHECK(client_cmd(&c, 'Z', 2, 0));
    CHECK(touch(&c, 3, 3));
    vmm_uffd_stats s = stats_of(ss);
    CHECK_EQ_INT(s.removes, 1);
    CHECK_EQ_INT(s.pages_zeroed, 1);
    CHECK_EQ_INT(s.faults, 3);
    CHECK_EQ_INT(s.bytes_copied, 2 * PAGE);
    CHECK_EQ_INT(client_stop(&c, false), 0);
    vmm_uffd_session_free(ss);
}

/* A socket path longer than sun_path; a relative one; two sessions on one
 * memory file share one mapping. */
static void test_paths_and_sharing(vmm_uffd_server *srv) {
    char dir[400], sock[500];
    int n = snprintf(dir, sizeof dir, "%s/", tmpdir);
    memset(dir + n, 'd', 120);
    dir[n + 120] = '\0';
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(sock, sizeof sock, "%s/long.sock", dir);
    CHECK(strlen(sock) > 108);
    vmm_uffd_session *a, *b;
    mvm_error err;
    client ca, cb;
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, NULL, &a, &err), MVM_OK);
    CHECK(access(sock, F_OK) == 0);
    CHECK(client_start(&ca, sock, MSG_GOOD, NULL, 16, 0));
    CHECK_EQ_INT(vmm_uffd_session_wait(a, VMM_UFFD_SERVING, STATE_TIMEOUT_MS), VMM_UFFD_SERVING);
    CHECK(access(sock, F_OK) != 0);

    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(tmpdir) == 0);
    CHECK_EQ_INT(vmm_uffd_serve(srv, "rel.sock", mem_path, NULL, &b, &err), MVM_OK);
    CHECK(chdir(cwd) == 0);
    char rel[300];
    sock_at(rel, sizeof rel, "rel.sock");
    CHECK(client_start(&cb, rel, MSG_GOOD, NULL, 16, 0));
    CHECK_EQ_INT(vmm_uffd_session_wait(b, VMM_UFFD_SERVING, STATE_TIMEOUT_MS), VMM_UFFD_SERVING);
    vmm_uffd_server_stats st;
    vmm_uffd_server_stats_get(srv, &st);
    CHECK_EQ_INT(st.sessions_active, 2);
    CHECK_EQ_INT(st.files_mapped, 1);
    CHECK_EQ_INT(st.bytes_mapped, FILE_PAGES * PAGE);
    CHECK(touch(&ca, 5, 5) && touch(&cb, 5, 5) && touch(&ca, 6, 6));
    CHECK_EQ_INT(stats_of(a).faults, 2);
    CHECK_EQ_INT(stats_of(b).faults, 1);
    CHECK_EQ_INT(client_stop(&ca, false), 0);
    CHECK_EQ_INT(client_stop(&cb, false), 0);
    vmm_uffd_session_free(a);
    vmm_uffd_session_free(b);
    vmm_uffd_server_stats_get(srv, &st);
    CHECK_EQ_INT(st.files_mapped, 0);
    CHECK_EQ_INT(st.sessions_active, 0);
}

/* serve's own errors, and the handshake timeout. */
static void test_serve_errors(void) {
    vmm_uffd_server *srv = new_server(200, 0);
    char sock[300], missing[300];
    sock_at(sock, sizeof sock, "plain-file");
    snprintf(missing, sizeof missing, "%s/no-such.mem", tmpdir);
    int fd = open(sock, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    close(fd);
    vmm_uffd_session *ss = (vmm_uffd_session *)1;
    mvm_error err;
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, NULL, &ss, &err), MVM_ALREADY_EXISTS);
    CHECK(ss == NULL);
    CHECK(access(sock, F_OK) == 0); /* not replaced */
    sock_at(sock, sizeof sock, "t.sock");
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, missing, NULL, &ss, &err), MVM_NOT_FOUND);
    CHECK(strstr(err.msg, "no-such.mem") != NULL);
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, tmpdir, NULL, &ss, &err), MVM_INVALID_ARGUMENT);
    CHECK_EQ_INT(vmm_uffd_serve(srv, "/no/such/dir/x.sock", mem_path, NULL, &ss, &err),
                 MVM_NOT_FOUND);
    CHECK_EQ_INT(vmm_uffd_serve(srv, "", mem_path, NULL, &ss, &err), MVM_INVALID_ARGUMENT);
    vmm_uffd_server_stats st;
    vmm_uffd_server_stats_get(srv, &st);
    CHECK_EQ_INT(st.files_mapped, 0);
    CHECK_EQ_INT(st.sessions_started, 0);

    /* nobody connects: DEADLINE_EXCEEDED, the socket removed */
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, NULL, &ss, &err), MVM_OK);
    CHECK_EQ_INT(vmm_uffd_session_wait(ss, VMM_UFFD_ENDED, STATE_TIMEOUT_MS), VMM_UFFD_ENDED);
    vmm_uffd_stats s = stats_of(ss);
    CHECK_EQ_INT(s.end_code, MVM_DEADLINE_EXCEEDED);
    CHECK(strstr(s.end_reason, "no process connected within 200 ms") != NULL);
    CHECK(access(sock, F_OK) != 0);
    vmm_uffd_session_free(ss);

    /* the server freed under a listening session: it ends; freeing it
     * afterwards is fine */
    CHECK_EQ_INT(vmm_uffd_serve(srv, sock, mem_path, NULL, &ss, &err), MVM_OK);
    vmm_uffd_server_free(srv);
    s = stats_of(ss);
    CHECK_EQ_INT(s.state, VMM_UFFD_ENDED);
    CHECK(strstr(s.end_reason, "stopped") != NULL);
    CHECK(access(sock, F_OK) != 0);
    vmm_uffd_session_end(ss);
    vmm_uffd_session_free(ss);
}

/* Settle: the working set is written settle_ms after the handshake while
 * the process still runs; faults after it are not recorded. */
static void test_settle(void) {
    vmm_uffd_server *srv = new_server(0, 500);
    char ws[300];
    snprintf(ws, sizeof ws, "%s/s.ws", tmpdir);
    vmm_uffd_session *ss;
    mvm_error err;
    client c;
    ss = open_session(srv, "s.sock", ws, MSG_GOOD, 16, 0, &c);
    CHECK(touch(&c, 7, 7));
    bool written = false;
    for (int64_t end = mono_ms() + STATE_TIMEOUT_MS; !written && mono_ms() < end;) {
        written = stats_of(ss).ws_written;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK(written);
    CHECK(touch(&c, 8, 8));
    vmm_uffd_stats s = stats_of(ss);
    CHECK_EQ_INT(s.ws_pages_out, 1);
    CHECK_EQ_INT(s.state, VMM_UFFD_SERVING);
    CHECK_EQ_INT(client_stop(&c, false), 0);
    vmm_uffd_session_free(ss);
    uint32_t ps;
    uint64_t msize, *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vmm_uffd_ws_read(ws, &ps, &msize, &list, &n, &err), MVM_OK);
    CHECK(n == 1 && list && list[0] == 7 * PAGE);
    free(list);
    vmm_uffd_server_free(srv);
}

/* populate_after_settle: every page comes in without being touched. */
static void test_populate(void) {
    vmm_uffd_config cfg = {.settle_ms = 500, .populate_after_settle = true};
    vmm_uffd_server *srv = NULL;
    mvm_error err;
    CHECK_EQ_INT(vmm_uffd_server_new(&cfg, &srv, &err), MVM_OK);
    vmm_uffd_session *ss;
    client c;
    ss = open_session(srv, "p.sock", NULL, MSG_GOOD, 16, 0, &c);
    CHECK(touch(&c, 4, 4));
    vmm_uffd_stats s = stats_of(ss);
    for (int64_t end = mono_ms() + STATE_TIMEOUT_MS; s.pages_populated < 15 && mono_ms() < end;
         s = stats_of(ss)) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(s.pages_populated, 15);
    unsigned char vec[16];
    CHECK(client_mincore(&c, vec, 16));
    int resident = 0;
    for (unsigned i = 0; i < 16; i++)
        resident += vec[i] & 1;
    CHECK_EQ_INT(resident, 16);
    CHECK(touch(&c, 0, 0) && touch(&c, 15, 15));
    CHECK_EQ_INT(stats_of(ss).faults, 1);
    CHECK_EQ_INT(client_stop(&c, false), 0);
    vmm_uffd_session_free(ss);
    vmm_uffd_server_free(srv);
}

/* True if this process may make a userfaultfd at all. */
static bool uffd_allowed(char *why, size_t cap) {
    int fd = make_uffd(0);
    if (fd >= 0) {
        close(fd);
        return true;
    }
    snprintf(why, cap,
             "userfaultfd: %s (needs root / CAP_SYS_PTRACE, "
             "vm.unprivileged_userfaultfd=1, or UFFD_USER_MODE_ONLY)",
             strerror(errno));
    return false;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    make_mem_file();
    test_regions();
    test_ws_file();
    char why[256];
    bool skipped = !uffd_allowed(why, sizeof why);
    if (skipped) {
        printf("SKIP: vmm_uffd_test: the client parts: %s\n", why);
    } else {
        vmm_uffd_server *srv = new_server(0, 60000);
        test_serve_and_prefetch(srv);
        test_two_regions(srv);
        test_refused(srv);
        test_hostile(srv);
        test_remove(srv);
        test_paths_and_sharing(srv);
        vmm_uffd_server_free(srv);
        test_serve_errors();
        test_settle();
        test_populate();
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    int rc = check_done();
    return rc == 0 && skipped ? 77 : rc;
}
