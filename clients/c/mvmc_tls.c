/* mvmc_tls.c - the TLS side of a connection: a client context that offers
 * TLS 1.2 and 1.3 with ALPN "h2", trusts the given CA, presents the client
 * certificate (mTLS), checks the server's name or IP address, and insists
 * that the server picked h2. */
#include "mvmc_internal.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>

static int is_ip_literal(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static mvm_code make_ctx(mvmc_conn *cn, const mvmc_options *o, mvm_error *err) {
    static const unsigned char alpn[] = {2, 'h', '2'};
    cn->ctx = SSL_CTX_new(TLS_client_method());
    if (!cn->ctx)
        return mvmc_ssl_fail(err, MVM_INTERNAL, "SSL_CTX_new");
    SSL_CTX_set_min_proto_version(cn->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(cn->ctx, SSL_VERIFY_PEER, NULL);
    if (o->ca_file && o->ca_file[0]) {
        if (SSL_CTX_load_verify_locations(cn->ctx, o->ca_file, NULL) != 1)
            return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT, "cannot load CA file");
    } else if (SSL_CTX_set_default_verify_paths(cn->ctx) != 1) {
        return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT, "no CA file and no system CAs");
    }
    int has_cert = o->cert_file && o->cert_file[0];
    int has_key = o->key_file && o->key_file[0];
    if (has_cert != has_key)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "a client certificate needs both a cert and a key file");
    if (has_cert) {
        if (SSL_CTX_use_certificate_chain_file(cn->ctx, o->cert_file) != 1)
            return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT,
                                 "cannot load client certificate");
        if (SSL_CTX_use_PrivateKey_file(cn->ctx, o->key_file, SSL_FILETYPE_PEM) != 1)
            return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT, "cannot load client key");
        if (SSL_CTX_check_private_key(cn->ctx) != 1)
            return mvmc_ssl_fail(err, MVM_INVALID_ARGUMENT,
                                 "client key does not match the certificate");
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
