/* mvmc_internal.h - what the files of clients/c share and nobody else sees:
 * the byte transport (plain socket or TLS over it, non-blocking, with
 * deadlines) that the HTTP/2 layer in mvmc_call.c reads and writes. */
#ifndef MVMC_INTERNAL_H
#define MVMC_INTERNAL_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mvmc.h"

typedef struct mvmc_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;            /* NULL for h2c */
    char authority[280]; /* :authority, "host:port" or "localhost" */
    int tls;
} mvmc_conn;

/* Milliseconds on the monotonic clock. */
int64_t mvmc_now_ms(void);
/* Milliseconds left until deadline (-1 = none: returns -1), at least 0. */
int mvmc_left_ms(int64_t deadline);

/* Parses the endpoint, connects the socket and (unless unix: or insecure)
 * runs the TLS handshake, all before deadline. */
mvm_code mvmc_conn_open(mvmc_conn *cn, const mvmc_options *o, int64_t deadline,
                        mvm_error *err);
/* Wraps cn->fd in TLS: context from o, verification of host, handshake. */
mvm_code mvmc_tls_start(mvmc_conn *cn, const mvmc_options *o, const char *host,
                        int64_t deadline, mvm_error *err);
/* Reads what is there (waiting until deadline for something): >0 bytes,
 * 0 at end of stream, -1 on error or timeout with err filled
 * (DEADLINE_EXCEEDED or UNAVAILABLE). */
ssize_t mvmc_conn_read(mvmc_conn *cn, uint8_t *buf, size_t cap,
                       int64_t deadline, mvm_error *err);
mvm_code mvmc_conn_write(mvmc_conn *cn, const uint8_t *buf, size_t len,
                         int64_t deadline, mvm_error *err);
void mvmc_conn_close(mvmc_conn *cn);
/* Waits for fd to be readable (events POLLIN) or writable (POLLOUT). */
mvm_code mvmc_wait_fd(int fd, short events, int64_t deadline, const char *what,
                      mvm_error *err);
/* Fills err from the OpenSSL error queue (and clears it). */
mvm_code mvmc_ssl_fail(mvm_error *err, mvm_code code, const char *what);

#endif
