/* mvmc_tls.c - the TLS side of a connection: a client context that offers
 * TLS 1.2 and 1.3 with ALPN "h2", trusts the given CA, presents the client
 * certificate (mTLS), checks the server's name or IP address, and insists
 * that the server picked h2. A certificate or key file that cannot be used
 * is named, with why: missing, unreadable, not a file, or not PEM. */
#include "mvmc_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_ip_literal(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* INVALID_ARGUMENT naming file path (what: "client certificate") unless it
 * is a regular file this process can read. */
static mvm_code check_file(const char *what, const char *path, mvm_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s file %s does not exist", what, path);
        if (e == EACCES)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "%s file %s is not readable (permission denied)", what, path);
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s file %s cannot be opened: %s", what,
                        path, strerror(e));
    }
    struct stat st;
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s file %s is not a regular file", what,
                        path);
    return MVM_OK;
}

/* INVALID_ARGUMENT for a readable file OpenSSL refused: "client key file K
 * is not a PEM private key (no start line)", with OpenSSL's reason. */
static mvm_code load_failed(const char *what, const char *path, const char *want,
                            mvm_error *err) {
    unsigned long first = ERR_get_error(); /* the cause; later ones wrap it */
    ERR_clear_error();
    /* OpenSSL 3's key decoders say only "unsupported": no help to anyone. */
    const char *why = first && ERR_GET_LIB(first) != ERR_LIB_OSSL_DECODER
                          ? ERR_reason_error_string(first) : NULL;
    return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s file %s is not %s%s%s%s", what, path, want,
                    why ? " (" : "", why ? why : "", why ? ")" : "");
}

/* An encrypted key would make OpenSSL ask for a passphrase on the terminal:
 * give none, so that loading it fails instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
    return 0;
}

static mvm_code make_ctx(mvmc_conn *cn, const mvmc_options *o, mvm_error *err) {
    static const unsigned char alpn[] = {2, 'h', '2'};
    cn->ctx = SSL_CTX_new(TLS_client_method());
    if (!cn->ctx)
        return mvmc_ssl_fail(err, MVM_INTERNAL, "SSL_CTX_new");
    SSL_CTX_set_min_proto_version(cn->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(cn->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_default_passwd_cb(cn->ctx, no_passphrase);
    mvm_code rc;
    if (o->ca_file && o->ca_file[0]) {
        if ((rc = check_file("CA", o->ca_file, err)))
            return rc;
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(cn->ctx, o->ca_file, NULL) != 1)
            return load_failed("CA", o->ca_file, "a PEM certificate bundle", err);
    } else if (SSL_CTX_set_default_verify_paths(cn->ctx) != 1) {
        return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT, "no CA file and no system CAs");
    }
    int has_cert = o->cert_file && o->cert_file[0];
    int has_key = o->key_file && o->key_file[0];
    if (has_cert != has_key)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "a client certificate needs both a cert and a key file");
    if (has_cert) {
        if ((rc = check_file("client certificate", o->cert_file, err)) ||
            (rc = check_file("client key", o->key_file, err)))
            return rc;
        ERR_clear_error();
        if (SSL_CTX_use_certificate_chain_file(cn->ctx, o->cert_file) != 1)
            return load_failed("client certificate", o->cert_file, "a PEM certificate", err);
        int loaded = SSL_CTX_use_PrivateKey_file(cn->ctx, o->key_file, SSL_FILETYPE_PEM) == 1;
        unsigned long last = ERR_peek_last_error();
        if (!loaded && !(ERR_GET_LIB(last) == ERR_LIB_X509 &&
                         ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH))
            return load_failed("client key", o->key_file,
                               "an unencrypted PEM private key", err);
        if (!loaded || SSL_CTX_check_private_key(cn->ctx) != 1) {
            ERR_clear_error();
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "client key file %s does not match the certificate in %s",
                            o->key_file, o->cert_file);
        }
    }
    if (SSL_CTX_set_alpn_protos(cn->ctx, alpn, sizeof alpn) != 0)
        return mvmc_ssl_fail(err, MVM_INTERNAL, "ALPN setup");
    return MVM_OK;
}

static mvm_code handshake(mvmc_conn *cn, int64_t deadline, mvm_error *err) {
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(cn->ssl);
        if (r == 1)
            return MVM_OK;
        int se = SSL_get_error(cn->ssl, r);
        short want;
        if (se == SSL_ERROR_WANT_READ)
            want = POLLIN;
        else if (se == SSL_ERROR_WANT_WRITE)
            want = POLLOUT;
        else {
            long vr = SSL_get_verify_result(cn->ssl);
            if (vr != X509_V_OK) {
                ERR_clear_error();
                return mvm_fail(err, MVM_UNAVAILABLE,
                                "TLS handshake: server certificate not trusted: %s",
                                X509_verify_cert_error_string(vr));
            }
            return mvmc_ssl_fail(err, MVM_UNAVAILABLE, "TLS handshake failed");
        }
        mvm_code rc = mvmc_wait_fd(cn->fd, want, deadline, "in the TLS handshake", err);
        if (rc)
            return rc;
    }
}

mvm_code mvmc_tls_start(mvmc_conn *cn, const mvmc_options *o, const char *host,
                        int64_t deadline, mvm_error *err) {
    mvm_code rc = make_ctx(cn, o, err);
    if (rc)
        return rc;
    cn->ssl = SSL_new(cn->ctx);
    if (!cn->ssl || SSL_set_fd(cn->ssl, cn->fd) != 1)
        return mvmc_ssl_fail(err, MVM_INTERNAL, "SSL_new");
    if (is_ip_literal(host)) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(cn->ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
            return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT, "bad IP address");
    } else {
        SSL_set_tlsext_host_name(cn->ssl, host);
        if (SSL_set1_host(cn->ssl, host) != 1)
            return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT, "bad host name");
    }
    rc = handshake(cn, deadline, err);
    if (rc)
        return rc;
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    SSL_get0_alpn_selected(cn->ssl, &proto, &plen);
    if (plen != 2 || memcmp(proto, "h2", 2) != 0)
        return mvm_fail(err, MVM_UNAVAILABLE,
                        "server did not negotiate HTTP/2 (ALPN h2)");
    return MVM_OK;
}
