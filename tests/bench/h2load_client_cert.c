/* h2load_client_cert.c - LD_PRELOAD shim giving h2load (and nghttp) a TLS
 * client certificate, which they have no option for; mvmd and the grpc-go
 * reference server both require one.
 *
 * Wraps SSL_CTX_new: the real one is looked up with dlsym(RTLD_NEXT), and
 * every context it makes gets the certificate chain and key named by
 * $H2LOAD_CLIENT_CERT and $H2LOAD_CLIENT_KEY (PEM files). If either
 * variable is unset the context is left alone; if a file cannot be loaded
 * the shim reports it on stderr and SSL_CTX_new returns NULL, so the tool
 * fails loudly instead of connecting without a certificate.
 *
 *   LD_PRELOAD=libh2load_client_cert.so H2LOAD_CLIENT_CERT=client.pem \
 *   H2LOAD_CLIENT_KEY=client.key h2load https://127.0.0.1:PORT/...
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

typedef SSL_CTX *(*ssl_ctx_new_fn)(const SSL_METHOD *);

static void report(const char *what, const char *path)
{
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    fprintf(stderr, "h2load_client_cert: %s %s: %s\n", what, path, buf);
}

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
    static ssl_ctx_new_fn real;
    if (!real) {
        real = (ssl_ctx_new_fn)dlsym(RTLD_NEXT, "SSL_CTX_new");
        if (!real) {
            fprintf(stderr, "h2load_client_cert: no next SSL_CTX_new: %s\n", dlerror());
            return NULL;
        }
    }
    SSL_CTX *ctx = real(method);
    const char *cert = getenv("H2LOAD_CLIENT_CERT");
    const char *key = getenv("H2LOAD_CLIENT_KEY");
    if (!ctx || !cert || !key)
        return ctx;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        report("cannot load certificate", cert);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        report("cannot load key", key);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        report("key does not match certificate", cert);
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}
