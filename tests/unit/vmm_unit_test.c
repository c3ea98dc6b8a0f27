/* vmm_unit_test.c - the parts of the Firecracker driver that need no
 * Firecracker: version parsing, spawning (cwd, session, fds, failures),
 * process identity through /proc, sparse and reflink disk copies, and the
 * bounded log pumped from a FIFO. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "vmm_internal.h"

static char tmpdir[] = "/tmp/vmm-unit-XXXXXX";

static void test_version(void) {
    char v[32];
    unsigned a = 0, b = 0, c = 0;
    CHECK(vmm_parse_fc_version("Firecracker v1.10.1\n", v, sizeof v, &a, &b, &c));
    CHECK_EQ_STR(v, "1.10.1");
    CHECK(a == 1 && b == 10 && c == 1);
    CHECK(vmm_parse_fc_version("noise\nFirecracker v1.16.0-dev\n", v, sizeof v, &a, &b, &c));
    CHECK_EQ_STR(v, "1.16.0-dev");
    CHECK_EQ_INT(b, 16);
    CHECK(!vmm_parse_fc_version("Firecracker v1.2\n", v, sizeof v, NULL, NULL, NULL));
    CHECK(!vmm_parse_fc_version("firecracker v1.2.3", v, sizeof v, NULL, NULL, NULL));
    CHECK(!vmm_parse_fc_version("", v, sizeof v, NULL, NULL, NULL));
    char tiny[4];
    CHECK(!vmm_parse_fc_version("Firecracker v1.10.1", tiny, sizeof tiny, NULL, NULL, NULL));
}

static void test_spawn(void) {
    /* cwd, new session and stdout: sh prints its cwd and whether it leads a session */
    char out[256];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[] = {"/bin/sh", "-c", "pwd; ps -o sid= -p $$; echo $$", NULL};
    vmm_spawn_spec s = {.path = "/bin/sh", .argv = argv, .cwd = "/usr", .stdin_fd = -1,
                        .stdout_fd = fd, .stderr_fd = -1, .new_session = true};
    pid_t pid;
    int pidfd;
    mvm_error err;
    CHECK_EQ_INT(vmm_spawn(&s, &pid, &pidfd, &err), MVM_OK);
    close(fd);
    int st = -1;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(pidfd);
    char buf[256] = "";
    vmm_file_tail(out, buf, sizeof buf);
    CHECK(strncmp(buf, "/usr\n", 5) == 0);
    /* its session id is its own pid */
    char *sid = buf + 5, *own = strchr(sid, '\n');
    CHECK(own != NULL);
    if (own)
        CHECK_EQ_INT(atol(sid), atol(own + 1));

    /* fds other than 0-2 are closed in the child */
    int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
    char script[128];
    snprintf(script, sizeof script, "test -e /proc/self/fd/%d && exit 3; exit 0", leak);
    char *argv2[] = {"/bin/sh", "-c", script, NULL};
    vmm_spawn_spec s2 = {.path = "/bin/sh", .argv = argv2, .stdin_fd = -1, .stdout_fd = -1,
                         .stderr_fd = -1};
    CHECK_EQ_INT(vmm_spawn(&s2, &pid, &pidfd, &err), MVM_OK);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(pidfd);
    close(leak);

    /* failures before exec are reported, with the step */
    char *argv3[] = {"/nonexistent/bin", NULL};
    vmm_spawn_spec s3 = {.path = "/nonexistent/bin", .argv = argv3, .stdin_fd = -1,
                         .stdout_fd = -1, .stderr_fd = -1};
    CHECK_EQ_INT(vmm_spawn(&s3, &pid, &pidfd, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "exec") && strstr(err.msg, "No such file"));
    vmm_spawn_spec s4 = {.path = "/bin/true", .argv = (char *[]){"/bin/true", NULL},
                         .cwd = "/nonexistent-dir", .stdin_fd = -1, .stdout_fd = -1,
                         .stderr_fd = -1};
    CHECK(vmm_spawn(&s4, &pid, &pidfd, &err) != MVM_OK);
    CHECK(strstr(err.msg, "chdir") != NULL);
}

static void test_proc(void) {
    uint64_t me = vmm_proc_start_ticks(getpid());
    CHECK(me > 0);
    CHECK_EQ_INT(vmm_proc_start_ticks(getpid()), me);
    CHECK_EQ_INT(vmm_proc_start_ticks(0), 0);
    CHECK_EQ_INT(vmm_proc_start_ticks(4194304 + 7), 0); /* beyond pid_max */
    CHECK(strlen(vmm_boot_id()) == 36);
    /* a zombie is not alive */
    pid_t z = fork();
    if (z == 0)
        _exit(0);
    usleep(50000);
    CHECK_EQ_INT(vmm_proc_start_ticks(z), 0);
    waitpid(z, NULL, 0);
    /* kill only the process that started then */
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    uint64_t t = vmm_proc_start_ticks(c);
    CHECK(t > 0);
    vmm_proc_kill(c, t + 1); /* wrong start time: spared */
    usleep(20000);
    CHECK(vmm_proc_start_ticks(c) == t);
    vmm_proc_kill(c, t);
    int st;
    CHECK(waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void test_disk(void) {
    char src[256], dst[256];
    snprintf(src, sizeof src, "%s/src.img", tmpdir);
    snprintf(dst, sizeof dst, "%s/dst.img", tmpdir);
    int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    /* 64 MiB with data at 0, 10 MiB and at the very end; the rest holes */
    CHECK(ftruncate(fd, 64 << 20) == 0);
    CHECK(pwrite(fd, "head", 4, 0) == 4);
    CHECK(pwrite(fd, "middle", 6, 10 << 20) == 6);
    CHECK(pwrite(fd, "tail", 4, (64 << 20) - 4) == 4);
    close(fd);
    mvm_error err;
    bool reflinked;
    CHECK_EQ_INT(vmm_disk_copy(src, dst, 0, &reflinked, &err), MVM_OK);
    struct stat a, b;
    CHECK(stat(src, &a) == 0 && stat(dst, &b) == 0);
    CHECK_EQ_INT(b.st_size, a.st_size);
    CHECK((b.st_mode & 0777) == 0600);
    /* sparse: far fewer blocks than its size */
    CHECK((long long)b.st_blocks * 512 < (8 << 20));
    char buf[8] = "";
    fd = open(dst, O_RDONLY);
    CHECK(pread(fd, buf, 6, 10 << 20) == 6 && memcmp(buf, "middle", 6) == 0);
    CHECK(pread(fd, buf, 4, (64 << 20) - 4) == 4 && memcmp(buf, "tail", 4) == 0);
    CHECK(pread(fd, buf, 4, 0) == 4 && memcmp(buf, "head", 4) == 0);
    close(fd);
    /* refuses to overwrite, leaves no temp file */
    CHECK_EQ_INT(vmm_disk_copy(src, dst, 0, NULL, &err), MVM_ALREADY_EXISTS);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    CHECK(access(tmp, F_OK) != 0);
    /* grows to the wanted size */
    unlink(dst);
    CHECK_EQ_INT(vmm_disk_copy(src, dst, 128ull << 20, NULL, &err), MVM_OK);
    CHECK(stat(dst, &b) == 0 && b.st_size == (128 << 20));
    /* missing source */
    unlink(dst);
    CHECK_EQ_INT(vmm_disk_copy("/nonexistent.img", dst, 0, NULL, &err), MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "/nonexistent.img") != NULL);
    CHECK(access(dst, F_OK) != 0);
    /* a directory is not an image */
    CHECK_EQ_INT(vmm_disk_copy(tmpdir, dst, 0, NULL, &err), MVM_FAILED_PRECONDITION);
}

typedef struct {
    size_t bytes;
    uint64_t next;
    bool contiguous;
} follow;

static void on_chunk(void *arg, const uint8_t *data, size_t len, uint64_t off) {
    follow *f = arg;
    (void)data;
    if (off != f->next)
        f->contiguous = false;
    f->next = off + len;
    f->bytes += len;
}

static void test_logpipe(void) {
    mvm_error err;
    vmm_logpipe *lp;
    CHECK_EQ_INT(vmm_logpipe_open(tmpdir, "c.fifo", "c.log", 4096, &lp, &err), MVM_OK);
    CHECK_EQ_INT(vmm_logpipe_fd(lp), -1); /* nothing open before start */
    CHECK_EQ_INT(vmm_logpipe_pump(lp, NULL, NULL), 0);
    CHECK_EQ_INT(vmm_logpipe_start(lp, &err), MVM_OK);
    CHECK(vmm_logpipe_fd(lp) >= 0);
    CHECK_EQ_INT(vmm_logpipe_start(lp, &err), MVM_OK); /* idempotent */
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/c.fifo", tmpdir);
    /* opened as Firecracker's stdout is: read-write, so it is never alone */
    int w = open(fifo, O_RDWR | O_NONBLOCK);
    CHECK(w >= 0);
    follow f = {0, 0, true};
    CHECK_EQ_INT(vmm_logpipe_pump(lp, on_chunk, &f), 0); /* nothing yet */
    CHECK(write(w, "hello\n", 6) == 6);
    CHECK_EQ_INT(vmm_logpipe_pump(lp, on_chunk, &f), 6);
    CHECK_EQ_INT(vmm_logpipe_end(lp), 6);
    uint8_t buf[8192];
    uint64_t first;
    size_t n = vmm_logpipe_read(lp, 0, buf, sizeof buf, &first);
    CHECK(n == 6 && first == 0 && memcmp(buf, "hello\n", 6) == 0);
    /* 20000 bytes of numbered lines: the file keeps only the newest, bounded */
    char line[32];
    size_t written = 6;
    for (int i = 0; i < 1000; i++) {
        int l = snprintf(line, sizeof line, "line %05d xxxxxxxx\n", i);
        CHECK(write(w, line, (size_t)l) == l);
        written += (size_t)l;
        if (i % 100 == 99)
            vmm_logpipe_pump(lp, on_chunk, &f);
    }
    vmm_logpipe_pump(lp, on_chunk, &f);
    CHECK_EQ_INT(vmm_logpipe_end(lp), written);
    CHECK_EQ_INT(f.bytes, written);
    CHECK(f.contiguous);
    struct stat st;
    char logpath[300];
    snprintf(logpath, sizeof logpath, "%s/c.log", tmpdir);
    CHECK(stat(logpath, &st) == 0 && st.st_size <= 4096 && st.st_size > 1000);
    /* reading from 0 clamps to the oldest byte kept, which ends the file */
    n = vmm_logpipe_read(lp, 0, buf, sizeof buf, &first);
    CHECK_EQ_INT(first + n, written);
    CHECK(n > 0 && memcmp(buf + n - 20, "line 00999 xxxxxxxx\n", 20) == 0);
    /* stopped: no descriptor, and what the writer keeps in the pipe waits */
    vmm_logpipe_stop(lp);
    CHECK_EQ_INT(vmm_logpipe_fd(lp), -1);
    CHECK(write(w, "later\n", 6) == 6);
    CHECK_EQ_INT(vmm_logpipe_pump(lp, NULL, NULL), 0);
    CHECK_EQ_INT(vmm_logpipe_start(lp, &err), MVM_OK);
    CHECK_EQ_INT(vmm_logpipe_pump(lp, NULL, NULL), 6);
    CHECK_EQ_INT(vmm_logpipe_end(lp), written + 6);
    /* a new logpipe continues from the file's size */
    vmm_logpipe_close(lp);
    CHECK_EQ_INT(vmm_logpipe_open(tmpdir, "c.fifo", "c.log", 4096, &lp, &err), MVM_OK);
    CHECK(stat(logpath, &st) == 0);
    CHECK_EQ_INT(vmm_logpipe_end(lp), st.st_size);
    close(w);
    vmm_logpipe_close(lp);
}

static void test_dirs(void) {
    char d[300], f[320];
    snprintf(d, sizeof d, "%s/inst", tmpdir);
    CHECK(mkdir(d, 0700) == 0);
    const char *names[] = {"api.sock", "v.sock", "v.sock_52", "rootfs.ext4", "console.log"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(f, sizeof f, "%s/%s", d, names[i]);
        close(open(f, O_CREAT | O_WRONLY, 0600));
    }
    vmm_dir_clean_runtime(d);
    for (size_t i = 0; i < 5; i++) {
        snprintf(f, sizeof f, "%s/%s", d, names[i]);
        CHECK((access(f, F_OK) == 0) == (i >= 3));
    }
    snprintf(f, sizeof f, "%s/sub", d);
    mkdir(f, 0700);
    mvm_error err;
    CHECK_EQ_INT(vmm_dir_remove(d, &err), MVM_OK);
    CHECK(access(d, F_OK) != 0);
    CHECK_EQ_INT(vmm_dir_remove(d, &err), MVM_OK); /* already gone */
}

/* Network traffic out of Firecracker's metrics lines (the sleep policy's
 * activity): complete lines only, the "net" aggregate's rx + tx bytes. */
static void test_metrics_traffic(void) {
    const char *two =
        "{\"utc_timestamp_ms\":1,\"net\":{\"rx_bytes_count\":100,\"tx_bytes_count\":20,"
        "\"rx_packets_count\":3},\"net_eth0\":{\"rx_bytes_count\":100}}\n"
        "{\"net\":{\"rx_bytes_count\":0,\"tx_bytes_count\":7}}\n";
    uint64_t bytes = 0;
    CHECK_EQ_INT(vmm_metrics_traffic(two, strlen(two), &bytes), strlen(two));
    CHECK_EQ_INT(bytes, 127); /* net_eth0 is already in the aggregate */
    /* a partial line is left for later */
    const char *part = "{\"net\":{\"rx_bytes_count\":5}}\n{\"net\":{\"tx_bytes";
    bytes = 0;
    size_t used = vmm_metrics_traffic(part, strlen(part), &bytes);
    CHECK_EQ_INT(used, strlen("{\"net\":{\"rx_bytes_count\":5}}\n"));
    CHECK_EQ_INT(bytes, 5);
    /* no traffic, no net object, not JSON, negative or wrong-typed counts */
    const char *idle = "{\"net\":{\"rx_bytes_count\":0,\"tx_bytes_count\":0}}\n"
                       "{\"vsock\":{\"rx_bytes_count\":9}}\n"
                       "garbage\n"
                       "{\"net\":{\"rx_bytes_count\":-4,\"tx_bytes_count\":\"8\"}}\n";
    bytes = 0;
    CHECK_EQ_INT(vmm_metrics_traffic(idle, strlen(idle), &bytes), strlen(idle));
    CHECK_EQ_INT(bytes, 0);
    bytes = 0;
    CHECK_EQ_INT(vmm_metrics_traffic("", 0, &bytes), 0);
    CHECK_EQ_INT(bytes, 0);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_version();
    test_spawn();
    test_proc();
    test_disk();
    test_logpipe();
    test_dirs();
    test_metrics_traffic();
    mvm_error err;
    vmm_dir_remove(tmpdir, &err);
    return check_done();
}
