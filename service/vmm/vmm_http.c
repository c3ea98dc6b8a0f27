/* vmm_http.c - the REST client for one Firecracker API socket: libcurl
 * over the Unix socket with one reused easy handle (one kept-alive
 * connection), JSON bodies through jansson, and Firecracker's error answers
 * turned into mvm_errors that keep its fault_message and name the call. */
#include "vmm_internal.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX (1u << 20) /* Firecracker's answers are small; MMDS is the largest */

struct vmm_http {
    CURL *curl;
    struct curl_slist *headers;
    uint32_t timeout_ms;
    char sock[PATH_MAX];
    char *buf;
    size_t len, cap;
    bool overflow;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) {
    curl_init_rc = curl_global_init(CURL_GLOBAL_NOTHING);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    vmm_http *c = arg;
    size_t len = size * n;
    if (c->len + len + 1 > REPLY_MAX) {
        c->overflow = true;
        return len; /* keep reading; the answer is refused afterwards */
    }
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->len + len + 1)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b)
            return 0; /* makes curl fail the transfer: CURLE_WRITE_ERROR */
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    c->buf[c->len] = '\0';
    return len;
}

mvm_code vmm_http_new(const char *dir, int dirfd, uint32_t timeout_ms, vmm_http **out,
                      mvm_error *err) {
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return mvm_fail(err, MVM_INTERNAL, "libcurl init: %s", curl_easy_strerror(curl_init_rc));
    vmm_http *c = calloc(1, sizeof *c);
    if (!c)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    c->timeout_ms = timeout_ms;
    /* sun_path holds 108 bytes: go through the directory's fd when long. */
    int n = snprintf(c->sock, sizeof c->sock, "%s/%s", dir, VMM_API_SOCK);
    if (n < 0 || n >= 100)
        snprintf(c->sock, sizeof c->sock, "/proc/self/fd/%d/%s", dirfd, VMM_API_SOCK);
    c->curl = curl_easy_init();
    if (c->curl) {
        c->headers = curl_slist_append(NULL, "Content-Type: application/json");
        struct curl_slist *h = c->headers ? curl_slist_append(c->headers, "Accept: application/json") : NULL;
        if (h)
            h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
        if (!h) {
            curl_slist_free_all(c->headers);
            c->headers = NULL;
        }
    }
    if (!c->curl || !c->headers) {
        vmm_http_free(c);
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory (libcurl handle)");
    }
    CURLcode rc = CURLE_OK;
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http");
    if (rc) {
        vmm_http_free(c);
        return mvm_fail(err, MVM_INTERNAL, "libcurl setup: %s", curl_easy_strerror(rc));
    }
    *out = c;
    return MVM_OK;
}

void vmm_http_free(vmm_http *c) {
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->buf);
    free(c);
}

/* Maps a transport failure: the process is gone or not answering. */
static mvm_code transport_fail(mvm_error *err, const char *method, const char *path, CURLcode rc) {
    mvm_code code = rc == CURLE_OPERATION_TIMEDOUT ? MVM_DEADLINE_EXCEEDED : MVM_UNAVAILABLE;
    return mvm_fail(err, code, "%s %s: Firecracker API socket: %s", method, path,
                    curl_easy_strerror(rc));
}

/* Fails with Firecracker's answer: its fault_message when there is one. */
static mvm_code api_fail(vmm_http *c, mvm_error *err, const char *method, const char *path,
                         long status) {
    char fault[400] = "";
    if (c->len) {
        json_t *j = json_loadb(c->buf, c->len, 0, NULL);
        const char *fm = j ? json_string_value(json_object_get(j, "fault_message")) : NULL;
        snprintf(fault, sizeof fault, "%s", fm ? fm : c->buf);
        json_decref(j);
    }
    /* 400 is Firecracker refusing what it was given; anything else is its
     * own failure. */
    mvm_code code = status == 400 ? MVM_INVALID_ARGUMENT : MVM_INTERNAL;
    return mvm_fail(err, code, "%s %s: Firecracker answered %ld: %s", method, path, status,
                    fault[0] ? fault : "(no fault_message)");
}

mvm_code vmm_http_call_timeout(vmm_http *c, const char *method, const char *path, json_t *body,
                               uint32_t timeout_ms, json_t **reply, mvm_error *err) {
    if (reply)
        *reply = NULL;
    char url[512];
    snprintf(url, sizeof url, "http://localhost%s", path);
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "%s %s: cannot encode the body", method,
                            path);
    }
    c->len = 0;
    c->overflow = false;
    CURLcode rc = curl_easy_setopt(c->curl, CURLOPT_URL, url);
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : 10000));
    if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    if (!rc && text) {
        rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
        if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
    } else if (!rc) {
        rc = curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
        if (!rc) rc = curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    }
    if (!rc)
        rc = curl_easy_perform(c->curl);
    /* Forget the body pointer before freeing it; the next call sets its own. */
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    free(text);
    if (rc)
        return transport_fail(err, method, path, rc);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (c->overflow)
        return mvm_fail(err, MVM_INTERNAL, "%s %s: answer over %u bytes", method, path, REPLY_MAX);
    if (status < 200 || status > 299)
        return api_fail(c, err, method, path, status);
    if (reply && c->len) {
        json_error_t je;
        *reply = json_loadb(c->buf, c->len, 0, &je);
        if (!*reply)
            return mvm_fail(err, MVM_INTERNAL, "%s %s: answer is not JSON: %s", method, path,
                            je.text);
    }
    return MVM_OK;
}

mvm_code vmm_http_call(vmm_http *c, const char *method, const char *path, json_t *body,
                       json_t **reply, mvm_error *err) {
    return vmm_http_call_timeout(c, method, path, body, c->timeout_ms, reply, err);
}
