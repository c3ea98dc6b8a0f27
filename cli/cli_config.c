/* cli_config.c - where mvm-cli finds its endpoint and credentials: flags,
 * then MVM_* environment variables, then a "key = value" config file
 * (--config, $MVM_CONFIG, ~/.config/mvm/cli.conf), in that precedence. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_config_init(cli_config *c) {
    memset(c, 0, sizeof *c);
    c->insecure = -1;
    c->timeout_ms = -1;
}

#define TAKE(f) \
    if (!dst->f[0]) \
    snprintf(dst->f, sizeof dst->f, "%s", src->f)
void cli_config_merge(cli_config *dst, const cli_config *src) {
    TAKE(endpoint);
    TAKE(cert);
    TAKE(key);
    TAKE(ca);
    TAKE(output);
    if (dst->insecure < 0)
        dst->insecure = src->insecure;
    if (dst->timeout_ms < 0)
        dst->timeout_ms = src->timeout_ms;
}
#undef TAKE

int cli_parse_duration(const char *s) {
    static const struct { const char *unit; double ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    size_t digits = strspn(s, "0123456789"), frac = 0;
    if (digits == 0)
        return -1;
    if (s[digits] == '.' && (frac = strspn(s + digits + 1, "0123456789")) == 0)
        return -1;
    const char *unit = s + digits + (frac ? frac + 1 : 0);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        double ms = strtod(s, NULL) * units[i].ms;
        return ms >= 1 && ms <= 2147483647.0 ? (int)ms : -1;
    }
    return -1;
}

mvm_code cli_config_set(cli_config *c, const char *key, const char *value,
                        mvm_error *err) {
    char *dst = NULL;
    size_t cap = 0;
    if (!strcmp(key, "endpoint"))
        dst = c->endpoint, cap = sizeof c->endpoint;
    else if (!strcmp(key, "cert"))
        dst = c->cert, cap = sizeof c->cert;
    else if (!strcmp(key, "key"))
        dst = c->key, cap = sizeof c->key;
    else if (!strcmp(key, "ca"))
        dst = c->ca, cap = sizeof c->ca;
    else if (!strcmp(key, "output")) {
        if (strcmp(value, "table") && strcmp(value, "json"))
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "output must be table or json, not \"%s\"", value);
        dst = c->output, cap = sizeof c->output;
    } else if (!strcmp(key, "insecure")) {
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            c->insecure = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            c->insecure = 0;
        else
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "insecure must be true or false, not \"%s\"", value);
        return MVM_OK;
    } else if (!strcmp(key, "timeout")) {
        if ((c->timeout_ms = cli_parse_duration(value)) < 0)
            return mvm_fail(err, MVM_INVALID_ARGUMENT,
                            "bad timeout \"%s\": want a number above zero and a unit, "
                            "ms, s, m or h (30s, 500ms, 1.5m)", value);
        return MVM_OK;
    } else {
        return mvm_fail(err, MVM_INVALID_ARGUMENT,
                        "unknown setting \"%s\" (endpoint, cert, key, ca, insecure, "
                        "timeout, output)", key);
    }
    if (strlen(value) >= cap)
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "%s is too long", key);
    strcpy(dst, value);
    return MVM_OK;
}

mvm_code cli_config_from_env(cli_config *c, mvm_error *err) {
    static const char *const map[][2] = {
        {"MVM_ENDPOINT", "endpoint"}, {"MVM_CERT", "cert"}, {"MVM_KEY", "key"},
        {"MVM_CA", "ca"}, {"MVM_INSECURE", "insecure"}, {"MVM_TIMEOUT", "timeout"},
        {"MVM_OUTPUT", "output"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *v = getenv(map[i][0]);
        if (v && v[0] && cli_config_set(c, map[i][1], v, err) != MVM_OK) {
            mvm_error_context(err, "%s", map[i][0]);
            return err->code;
        }
    }
    return MVM_OK;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

mvm_code cli_config_load(cli_config *c, const char *path, int required,
                         mvm_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!required && errno == ENOENT)
            return MVM_OK;
        return mvm_fail(err, MVM_INVALID_ARGUMENT, "config %s: %s", path,
                        strerror(errno));
    }
    char line[1024];
    int lineno = 0;
    mvm_code rc = MVM_OK;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = mvm_fail(err, MVM_INVALID_ARGUMENT, "%s:%d: want key = value",
                          path, lineno);
            break;
        }
        *eq = '\0';
        cli_config tmp;
        cli_config_init(&tmp);
        rc = cli_config_set(&tmp, trim(s), trim(eq + 1), err);
        if (rc)
            mvm_error_context(err, "%s:%d", path, lineno);
        else
            cli_config_merge(c, &tmp);
    }
    fclose(f);
    return rc;
}
