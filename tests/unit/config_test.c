/* config_test.c - mvmd's flags and config file (service/config.c): comments
 * (also inline), files longer than 32 lines, spaces and tabs around values,
 * CRLF, indentation, byte order mark; refusals naming FILE:LINE (unknown or
 * repeated key, empty value, sections, "key: value", quotes, relative paths,
 * over-long lines, NUL and control bytes, keys that are flags only); number
 * ranges (--drain-seconds 0 is refused, the default is 30), addresses and
 * booleans; flags winning over the file, which is checked all the same. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char tmpdir[] = "/tmp/mvm-config-test-XXXXXX";
static int nfiles;

/* Writes LEN bytes of TEXT to a new file in tmpdir; returns its path (static
 * storage, one per call up to 64). */
static const char *write_file_n(const char *text, size_t len) {
    static char paths[64][128];
    char *p = paths[nfiles++ % 64];
    snprintf(p, sizeof paths[0], "%s/f%d.conf", tmpdir, nfiles);
    FILE *f = fopen(p, "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        perror(p);
        exit(2);
    }
    return p;
}

static const char *write_file(const char *text) {
    return write_file_n(text, strlen(text));
}

/* Parses "mvmd ARGS... NULL". */
static mvm_code parse(mvmd_config *cfg, mvm_error *err, ...) {
    char *argv[32] = {"mvmd"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; argc < 31 && (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    mvm_error_clear(err);
    return mvmd_config_parse(cfg, argc, argv, err);
}

/* Parses `--config FILE` with TEXT as the file. */
static mvm_code parse_text(mvmd_config *cfg, mvm_error *err, const char *text) {
    return parse(cfg, err, "--config", write_file(text), (char *)NULL);
}

static bool has(const mvm_error *err, const char *needle) {
    if (strstr(err->msg, needle))
        return true;
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err->msg, needle);
    return false;
}

/* TEXT as a config file is refused, with a message holding "FILE:LINE:"
 * and WHAT. */
static void check_refused_at(const char *text, int line, const char *what) {
    mvmd_config cfg;
    mvm_error err;
    const char *path = write_file(text);
    char where[160];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    CHECK_EQ_INT(parse(&cfg, &err, "--config", path, (char *)NULL), MVM_INVALID_ARGUMENT);
    CHECK(has(&err, where));
    CHECK(has(&err, what));
    mvmd_config_free(&cfg);
}

/* A flag with VALUE is refused, naming the flag and saying WHAT. */
static void check_flag_refused(const char *flag, const char *value, const char *what) {
    mvmd_config cfg;
    mvm_error err;
    CHECK_EQ_INT(parse(&cfg, &err, flag, value, (char *)NULL), MVM_INVALID_ARGUMENT);
    CHECK(has(&err, flag));
    CHECK(has(&err, what));
    mvmd_config_free(&cfg);
}

static void test_defaults(void) {
    mvmd_config cfg;
    mvm_error err;
    CHECK_EQ_INT(parse(&cfg, &err, (char *)NULL), MVM_OK);
    CHECK_EQ_STR(cfg.state_dir, "/var/lib/mvm");
    CHECK_EQ_STR(cfg.metrics_listen, "127.0.0.1:9464");
    CHECK_EQ_INT(cfg.drain_seconds, 30);
    CHECK_EQ_INT(cfg.io_threads, 0);
    CHECK(cfg.listen == NULL && !cfg.insecure && !cfg.help);
    mvmd_config_free(&cfg);
}

static void test_comments_and_spacing(void) {
    mvmd_config cfg;
    mvm_error err;
    /* "#" with no space before it is part of the value */
    CHECK_EQ_INT(parse_text(&cfg, &err, "listen = 127.0.0.1:7443\nmetrics-listen = [::1]:9464#x\n"),
                 MVM_INVALID_ARGUMENT);
    CHECK(has(&err, ":2: metrics-listen: \"[::1]:9464#x\""));
    mvmd_config_free(&cfg);

    CHECK_EQ_INT(parse_text(&cfg, &err,
                            "# mvmd settings\n"
                            "\n"
                            "listen = 127.0.0.1:7443 # the gRPC port\n"
                            "socket = /run/mvm.sock;x\n"
                            "state-dir=/var/lib/mvm-test   ; ini-style comment\n"
                            "   ; an indented comment line\n"
                            "ready-file = /tmp/a#b\n"
                            "drain-seconds = 5   \n"
                            "io-threads =\t3\t\n"
                            "metrics-listen = [::1]:9464 #\n"
                            "\t  insecure = true\n"),
                 MVM_OK);
    CHECK_EQ_STR(cfg.listen, "127.0.0.1:7443");
    CHECK_EQ_STR(cfg.socket, "/run/mvm.sock;x");
    CHECK_EQ_STR(cfg.state_dir, "/var/lib/mvm-test");
    CHECK_EQ_STR(cfg.ready_file, "/tmp/a#b");
    CHECK_EQ_INT(cfg.drain_seconds, 5);
    CHECK_EQ_INT(cfg.io_threads, 3);
    CHECK_EQ_STR(cfg.metrics_listen, "[::1]:9464");
    /* An indented line is a line of its own, not a continuation of the
     * previous value (as inih would otherwise read it). */
    CHECK(cfg.insecure);
    mvmd_config_free(&cfg);
}

static void test_crlf_and_bom(void) {
    mvmd_config cfg;
    mvm_error err;
    CHECK_EQ_INT(parse_text(&cfg, &err,
                            "\xEF\xBB\xBFlisten = 127.0.0.1:7443\r\n"
                            "# comment\r\n"
                            "\r\n"
                            "drain-seconds = 7\r\n"
                            "firecracker = /usr/bin/firecracker"),
                 MVM_OK);
    CHECK_EQ_STR(cfg.listen, "127.0.0.1:7443");
    CHECK_EQ_INT(cfg.drain_seconds, 7);
    CHECK_EQ_STR(cfg.firecracker, "/usr/bin/firecracker"); /* last line without newline */
    mvmd_config_free(&cfg);
    /* a lone CR inside a line is a control character, not a line end */
    check_refused_at("listen = 127.0.0.1:7443\rdrain-seconds = 3\n", 1, "control character");
}

/* The old parser kept at most 32 values and silently ignored the rest. */
static void test_long_files(void) {
    char text[8192] = "";
    for (int i = 1; i <= 40; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "# comment line %d\n", i);
    strcat(text, "listen = 127.0.0.1:7443\n"       /* 41 */
                 "drain-seconds = 9\n"             /* 42 */
                 "state-dir = /srv/mvm\n");        /* 43 */
    mvmd_config cfg;
    mvm_error err;
    CHECK_EQ_INT(parse_text(&cfg, &err, text), MVM_OK);
    CHECK_EQ_STR(cfg.listen, "127.0.0.1:7443");
    CHECK_EQ_INT(cfg.drain_seconds, 9);
    CHECK_EQ_STR(cfg.state_dir, "/srv/mvm");
    mvmd_config_free(&cfg);

    strcat(text, "\n\ndrain-seconds2 = 1\n"); /* 46 */
    check_refused_at(text, 46, "unknown key \"drain-seconds2\"");

    /* 33 values: the 33rd was dropped silently; now the repeat is refused */
    text[0] = '\0';
    for (int i = 1; i <= 33; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "io-threads = %d\n", i);
    check_refused_at(text, 2, "io-threads is set twice, here and on line 1");
}

static void test_refusals_name_the_line(void) {
    static const struct {
        const char *text;
        int line;
        const char *what;
    } cases[] = {
        {"listen = 127.0.0.1:7443\n\nlisen = 127.0.0.1:7443\n", 3, "unknown key \"lisen\""},
        {"# a\nlisten = 127.0.0.1:1\nsocket = /a\nlisten = 127.0.0.1:2\n", 4,
         "listen is set twice, here and on line 2"},
        {"socket = /a\nlisten =\n", 2, "listen has no value"},
        {"listen =    # only a comment\n", 1, "listen has no value"},
        {"[mvmd]\nlisten = 127.0.0.1:1\n", 1, "sections are not used"},
        {"listen: 127.0.0.1:1\n", 1, "is not \"key = value\""},
        {"socket /run/mvm.sock\n", 1, "is not \"key = value\""},
        {"= /run/mvm.sock\n", 1, "is not \"key = value\""},
        {"socket = \"/run/mvm.sock\"\n", 1, "without quotes"},
        {"tls-cert = certs/server.pem\n", 1, "not an absolute path"},
        {"config = /etc/other.conf\n", 1, "config is a flag only"},
        {"help = true\n", 1, "help is a flag only"},
        {"insecure = yes\n", 1, "insecure: \"yes\" is not true or false"},
        {"socket = /a\tb\n", 1, "control character (byte 0x09)"},
        {"socket = /a\x01\n", 1, "control character (byte 0x01)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_refused_at(cases[i].text, cases[i].line, cases[i].what);
    mvmd_config cfg;
    mvm_error err;
    static const char nul[] = "socket = /a\nlisten = 127.0.0.1:1\0\n";
    CHECK_EQ_INT(parse(&cfg, &err, "--config", write_file_n(nul, sizeof nul - 1), (char *)NULL),
                 MVM_INVALID_ARGUMENT);
    CHECK(has(&err, ":2: NUL byte"));
    mvmd_config_free(&cfg);

    char longline[512] = "# x\nstate-dir = /";
    memset(longline + strlen(longline), 'd', 300);
    strcat(longline, "\n");
    check_refused_at(longline, 2, "line longer than");

    CHECK_EQ_INT(parse(&cfg, &err, "--config", "/nonexistent/mvmd.conf", (char *)NULL),
                 MVM_INVALID_ARGUMENT);
    CHECK(has(&err, "/nonexistent/mvmd.conf"));
    mvmd_config_free(&cfg);
}

static void test_numbers(void) {
    /* 0 seconds of drain is refused, not turned into the default */
    check_flag_refused("--drain-seconds", "0", "\"0\" is not a whole number from 1 to 3600");
    check_refused_at("drain-seconds = 0\n", 1, "drain-seconds: \"0\" is not a whole number from 1 to 3600");
    static const char *bad[] = {"-1", "abc", "5s", "0x10", "+5", " 5", "5 ", "3601", "99999999999", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_flag_refused("--drain-seconds", bad[i], bad[i][0] ? "is not a whole number" : "empty value");
    check_refused_at("\ndrain-seconds = 1e3\n", 2, "\"1e3\" is not a whole number from 1 to 3600");
    check_flag_refused("--io-threads", "0", "from 1 to 256");
    check_flag_refused("--io-threads", "257", "from 1 to 256");
    check_flag_refused("--worker-threads", "1025", "from 1 to 1024");

    mvmd_config cfg;
    mvm_error err;
    CHECK_EQ_INT(parse(&cfg, &err, "--drain-seconds", "1", "--io-threads=256", "--worker-threads",
                       "1024", (char *)NULL),
                 MVM_OK);
    CHECK_EQ_INT(cfg.drain_seconds, 1);
    CHECK_EQ_INT(cfg.io_threads, 256);
    CHECK_EQ_INT(cfg.worker_threads, 1024);
    mvmd_config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, &err, "--drain-seconds=3600", (char *)NULL), MVM_OK);
    CHECK_EQ_INT(cfg.drain_seconds, 3600);
    mvmd_config_free(&cfg);
}

static void test_addresses_and_bools(void) {
    static const char *good[] = {"127.0.0.1:7443", "[::1]:0", "localhost:65535", ":7443"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        mvmd_config cfg;
        mvm_error err;
        CHECK_EQ_INT(parse(&cfg, &err, "--listen", good[i], (char *)NULL), MVM_OK);
        CHECK_EQ_STR(cfg.listen, good[i]);
        mvmd_config_free(&cfg);
    }
    check_flag_refused("--listen", "127.0.0.1", "is not HOST:PORT");
    check_flag_refused("--listen", "127.0.0.1:65536", "number from 0 to 65535");
    check_flag_refused("--listen", "127.0.0.1:", "number from 0 to 65535");
    check_flag_refused("--listen", "127.0.0.1:7443 ", "is not HOST:PORT");
    check_flag_refused("--listen", "::1:7443", "in brackets");
    check_flag_refused("--listen", "[::1:7443", "in brackets");
    check_flag_refused("--metrics-listen", "of", "is not HOST:PORT");

    mvmd_config cfg;
    mvm_error err;
    CHECK_EQ_INT(parse(&cfg, &err, "--metrics-listen", "off", "--insecure", (char *)NULL), MVM_OK);
    CHECK(cfg.metrics_listen == NULL);
    CHECK(cfg.insecure);
    mvmd_config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, &err, "--insecure=false", (char *)NULL), MVM_OK);
    CHECK(!cfg.insecure);
    mvmd_config_free(&cfg);
    CHECK_EQ_INT(parse_text(&cfg, &err, "metrics-listen = off\ninsecure = 1\n"), MVM_OK);
    CHECK(cfg.metrics_listen == NULL);
    CHECK(cfg.insecure);
    mvmd_config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, &err, "--insecure=maybe", (char *)NULL), MVM_INVALID_ARGUMENT);
    CHECK(has(&err, "--insecure: \"maybe\" is not true or false"));
    mvmd_config_free(&cfg);
}

static void test_flags_win(void) {
    mvmd_config cfg;
    mvm_error err;
    const char *path = write_file("listen = 127.0.0.1:1111\ndrain-seconds = 10\nsocket = /run/a.sock\n");
    CHECK_EQ_INT(parse(&cfg, &err, "--listen", "127.0.0.1:2222", "--config", path, "--drain-seconds",
                       "20", (char *)NULL),
                 MVM_OK);
    CHECK_EQ_STR(cfg.listen, "127.0.0.1:2222");
    CHECK_EQ_INT(cfg.drain_seconds, 20);
    CHECK_EQ_STR(cfg.socket, "/run/a.sock");
    mvmd_config_free(&cfg);

    /* a flag given twice takes its last value */
    CHECK_EQ_INT(parse(&cfg, &err, "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", (char *)NULL),
                 MVM_OK);
    CHECK_EQ_STR(cfg.listen, "127.0.0.1:2");
    mvmd_config_free(&cfg);

    /* an overridden value in the file is still checked */
    path = write_file("socket = /run/a.sock\ndrain-seconds = 0\n");
    CHECK_EQ_INT(parse(&cfg, &err, "--drain-seconds", "20", "--config", path, (char *)NULL),
                 MVM_INVALID_ARGUMENT);
    CHECK(has(&err, ":2: drain-seconds"));
    mvmd_config_free(&cfg);

    CHECK_EQ_INT(parse(&cfg, &err, "--config", path, "--config", path, (char *)NULL), MVM_INVALID_ARGUMENT);
    CHECK(has(&err, "--config given twice"));
    mvmd_config_free(&cfg);
    /* a relative path is fine on the command line */
    CHECK_EQ_INT(parse(&cfg, &err, "--tls-cert", "certs/server.pem", (char *)NULL), MVM_OK);
    CHECK_EQ_STR(cfg.tls_cert, "certs/server.pem");
    mvmd_config_free(&cfg);
}

static void test_command_line(void) {
    check_flag_refused("--bogus", NULL, "unknown flag --bogus");
    check_flag_refused("--listen", NULL, "--listen needs a value");
    mvmd_config cfg;
    mvm_error err;
    CHECK_EQ_INT(parse(&cfg, &err, "--help=1", (char *)NULL), MVM_INVALID_ARGUMENT);
    CHECK(has(&err, "--help takes no value"));
    mvmd_config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, &err, "listen", (char *)NULL), MVM_INVALID_ARGUMENT);
    CHECK(has(&err, "unexpected argument \"listen\""));
    mvmd_config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, &err, "--version", (char *)NULL), MVM_OK);
    CHECK(cfg.version);
    mvmd_config_free(&cfg);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_defaults();
    test_comments_and_spacing();
    test_crlf_and_bom();
    test_long_files();
    test_refusals_name_the_line();
    test_numbers();
    test_addresses_and_bools();
    test_flags_win();
    test_command_line();
    for (int i = 1; i <= nfiles; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/f%d.conf", tmpdir, i);
        unlink(p);
    }
    rmdir(tmpdir);
    return check_done();
}
