/* rpc_tls.c - the server's TLS context: TLS 1.2+ (1.3 preferred), ALPN "h2"
 * required, a client certificate required and verified against the
 * configured CA (mTLS), and the caller's identity taken from it. */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "rpc_internal.h"

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
    for (unsigned i = 0; i < inlen;) {
        unsigned len = in[i];
        if (i + 1 + len > inlen)
            break;
        if (len == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* no h2 offered: refuse the handshake */
}

static mvm_code tls_fail(mvm_error *err, SSL_CTX *ctx, const char *what, const char *path) {
    char buf[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s %s: %s", what, path, buf);
}

mvm_code rpc_tls_ctx_new(const rpc_config *cfg, SSL_CTX **out, mvm_error *err) {
    if (!cfg->tls_cert || !cfg->tls_key || !cfg->client_ca)
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "TLS needs --tls-cert, --tls-key and --client-ca "
                        "(or --insecure on a loopback address)");
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return mvm_fail(err, MVM_INTERNAL, "SSL_CTX_new failed");
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* TLS 1.2 suites HTTP/2 allows: ephemeral key exchange, AEAD ciphers. */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mvmd", 4) != 1)
        return tls_fail(err, ctx, "cannot set up TLS 1.2+ with AEAD ciphers for", "--listen");
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
        return tls_fail(err, ctx, "cannot load --tls-cert", cfg->tls_cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
        return tls_fail(err, ctx, "cannot load --tls-key", cfg->tls_key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return tls_fail(err, ctx, "--tls-key does not match --tls-cert", cfg->tls_key);
    if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1)
        return tls_fail(err, ctx, "cannot load --client-ca", cfg->client_ca);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    *out = ctx;
    return MVM_OK;
}

void rpc_tls_peer_identity(SSL *ssl, char *out, size_t cap) {
    X509 *cert = SSL_get0_peer_certificate(ssl);
    char cn[64] = "";
    if (cert)
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    snprintf(out, cap, "cn=%s", cn[0] ? cn : "?");
}
