/* store_select.c - label selectors for List calls: parsing
 * "key=value,key!=value,key,!key" and matching a message's labels map. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

typedef enum { SEL_EQ, SEL_NE, SEL_EXISTS, SEL_ABSENT } sel_op;

typedef struct {
    sel_op op;
    char *key;
    char *value;
} sel_term;

struct store_selector {
    size_t n;
    sel_term terms[];
};

store_label **store_labels_of(const ProtobufCMessage *m, size_t *n) {
    *n = 0;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "labels");
    if (!f || f->label != PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    memcpy(n, (const char *)m + f->quantifier_offset, sizeof *n);
    store_label **l;
    memcpy(&l, (const char *)m + f->offset, sizeof l);
    return l;
}

static bool sel_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '/';
}

/* Copies [b, e) with surrounding spaces trimmed. */
static char *trimdup(const char *b, const char *e) {
    while (b < e && *b == ' ')
        b++;
    while (e > b && e[-1] == ' ')
        e--;
    char *s = malloc((size_t)(e - b) + 1);
    if (s) {
        memcpy(s, b, (size_t)(e - b));
        s[e - b] = '\0';
    }
    return s;
}

static bool key_ok(const char *k) {
    if (!*k)
        return false;
    for (; *k; k++)
        if (!sel_char_ok(*k))
            return false;
    return true;
}

static bool value_ok(const char *v) {
    for (; *v; v++)
        if (*v == '=' || *v == '!' || (unsigned char)*v < 0x20)
            return false;
    return true;
}

typedef enum { TERM_OK, TERM_BAD, TERM_NOMEM } term_result;

/* Parses one term [b, e). */
static term_result term_parse(const char *b, const char *e, sel_term *t) {
    char *s = trimdup(b, e);
    if (!s)
        return TERM_NOMEM;
    char *eq = strchr(s, '=');
    if (!eq) {
        t->op = SEL_EXISTS;
        char *k = s;
        if (*k == '!') {
            t->op = SEL_ABSENT;
            k++;
            while (*k == ' ')
                k++;
        }
        t->key = trimdup(k, k + strlen(k));
        free(s);
        if (!t->key)
            return TERM_NOMEM;
        return key_ok(t->key) ? TERM_OK : TERM_BAD;
    }
    t->op = SEL_EQ;
    char *kend = eq;
    if (eq > s && eq[-1] == '!') {
        t->op = SEL_NE;
        kend = eq - 1;
    }
    t->key = trimdup(s, kend);
    t->value = trimdup(eq + 1, eq + 1 + strlen(eq + 1));
    free(s);
    if (!t->key || !t->value)
        return TERM_NOMEM;
    return key_ok(t->key) && value_ok(t->value) ? TERM_OK : TERM_BAD;
}

void store_selector_free(store_selector *sel) {
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->terms[i].key);
        free(sel->terms[i].value);
    }
    free(sel);
}

mvm_code store_selector_parse(const char *s, store_selector **out, mvm_error *err) {
    *out = NULL;
    if (!s || !*s)
        return MVM_OK;
    size_t terms = 1;
    for (const char *p = s; *p; p++)
        terms += *p == ',';
    store_selector *sel = calloc(1, sizeof *sel + terms * sizeof(sel_term));
    if (!sel)
        return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "out of memory");
    const char *b = s;
    for (;;) {
        const char *e = strchr(b, ',');
        if (!e)
            e = b + strlen(b);
        term_result r = term_parse(b, e, &sel->terms[sel->n++]);
        if (r == TERM_NOMEM) {
            store_selector_free(sel);
            return mvm_fail(err, MVM_RESOURCE_EXHAUSTED, "label_selector: out of memory");
        }
        if (r != TERM_OK) {
            store_selector_free(sel);
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "label_selector \"%.100s\": malformed requirement \"%.*s\" (want "
                            "key=value, key!=value, key or !key)",
                            s, (int)(e - b > 60 ? 60 : e - b), b);
        }
        if (!*e)
            break;
        b = e + 1;
    }
    *out = sel;
    return MVM_OK;
}

bool store_selector_match(const store_selector *sel, const ProtobufCMessage *m) {
    if (!sel)
        return true;
    size_t n;
    store_label **l = store_labels_of(m, &n);
    for (size_t i = 0; i < sel->n; i++) {
        const sel_term *t = &sel->terms[i];
        const char *v = NULL;
        for (size_t j = 0; j < n && !v; j++)
            if (l[j]->key && strcmp(l[j]->key, t->key) == 0)
                v = l[j]->value ? l[j]->value : "";
        bool ok;
        switch (t->op) {
        case SEL_EQ: ok = v && strcmp(v, t->value) == 0; break;
        case SEL_NE: ok = !v || strcmp(v, t->value) != 0; break;
        case SEL_EXISTS: ok = v != NULL; break;
        default: ok = v == NULL; break;
        }
        if (!ok)
            return false;
    }
    return true;
}
