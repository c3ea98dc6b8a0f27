/* cli_main.c - mvm-cli's entry point: global options (accepted anywhere on
 * the line), configuration precedence (options > environment > file), the
 * OBJECT VERB dispatch and the help levels. See cli_help.c for the text. */
#include "cli.h"
#include "cli_help.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *msg, const char *what) {
    fprintf(stderr, "mvm-cli: %s\nTry 'mvm-cli%s%s --help'.\n", msg,
            what ? " " : "", what ? what : "");
    return CLI_EXIT_USAGE;
}

/* Global options that take a value, and the config key each sets. */
static const char *const valued[][2] = {
    {"--endpoint", "endpoint"}, {"--cert", "cert"}, {"--key", "key"},
    {"--ca", "ca"}, {"--timeout", "timeout"}, {"--output", "output"},
    {"-o", "output"}, {"--config", NULL}, {"--count", NULL},
};

typedef struct args {
    cli_config flags;
    const char *config;
    int count, help;
    int n;
    char **rest;
} args;

/* Takes the global options out of argv; the rest stays in order. */
static int parse_globals(int argc, char **argv, args *a) {
    mvm_error err;
    cli_config_init(&a->flags);
    a->rest = calloc((size_t)argc + 1, sizeof *a->rest);
    if (!a->rest)
        return usage("out of memory", NULL);
    for (int i = 1; i < argc; i++) {
        char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            a->help = 1;
            continue;
        }
        if (!strcmp(s, "--insecure")) {
            a->flags.insecure = 1;
            continue;
        }
        size_t k, nv = sizeof valued / sizeof valued[0];
        const char *val = NULL;
        for (k = 0; k < nv; k++) {
            size_t l = strlen(valued[k][0]);
            if (!strncmp(s, valued[k][0], l) && (s[l] == '=' || !s[l])) {
                if (s[l] == '=')
                    val = s + l + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                break;
            }
        }
        if (k == nv) {
            a->rest[a->n++] = s;
            continue;
        }
        if (!val) {
            fprintf(stderr, "mvm-cli: %s needs a value\n", valued[k][0]);
            return CLI_EXIT_USAGE;
        }
        if (valued[k][1]) {
            if (cli_config_set(&a->flags, valued[k][1], val, &err))
                return usage(err.msg, NULL);
        } else if (!strcmp(valued[k][0], "--config")) {
            a->config = val;
        } else {
            char *end;
            long c = strtol(val, &end, 10);
            if (*end || c <= 0 || c > 1000000000)
                return usage("--count wants a positive number", NULL);
            a->count = (int)c;
        }
    }
    return 0;
}

/* flags > environment > file. */
static int load_config(args *a, cli_config *cfg) {
    mvm_error err;
    cli_config env, file;
    cli_config_init(&env);
    cli_config_init(&file);
    if (cli_config_from_env(&env, &err))
        return usage(err.msg, NULL);
    const char *path = a->config ? a->config : getenv("MVM_CONFIG");
    int required = path && path[0];
    char def[1024];
    if (!required && getenv("HOME")) {
        snprintf(def, sizeof def, "%s/.config/mvm/cli.conf", getenv("HOME"));
        path = def;
    }
    if (path && path[0] && cli_config_load(&file, path, required, &err))
        return usage(err.msg, NULL);
    *cfg = a->flags;
    cli_config_merge(cfg, &env);
    cli_config_merge(cfg, &file);
    if (!cfg->output[0])
        strcpy(cfg->output, "table");
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    args a = {0};
    int rc = parse_globals(argc, argv, &a);
    if (rc) {
        free(a.rest);
        return rc;
    }
    const cli_object *obj = NULL;
    const cli_verb *verb = NULL;
    if (a.n > 0)
        for (const cli_object *const *o = cli_objects; *o; o++)
            if (!strcmp((*o)->name, a.rest[0]))
                obj = *o;
    if (obj && a.n > 1)
        for (const cli_verb *v = obj->verbs; v->name; v++)
            if (!strcmp(v->name, a.rest[1]))
                verb = v;
    char msg[512];
    if (a.n == 0 && a.help) {
        cli_help_top(stdout);
    } else if (a.n == 0) {
        cli_help_top(stderr);
        rc = CLI_EXIT_USAGE;
    } else if (!obj) {
        snprintf(msg, sizeof msg, "unknown object \"%s\" (tenant, pool, instance, "
                 "node, health)", a.rest[0]);
        rc = usage(msg, NULL);
    } else if (!verb && a.n == 1 && a.help) {
        cli_help_object(stdout, obj);
    } else if (!verb) {
        size_t o = 0;
        o += (size_t)snprintf(msg, sizeof msg, a.n > 1 ? "unknown verb \"%s\" for %s; verbs:"
                                                       : "%s%s: give a verb:",
                              a.n > 1 ? a.rest[1] : "", obj->name);
        for (const cli_verb *v = obj->verbs; v->name && o < sizeof msg; v++)
            o += (size_t)snprintf(msg + o, sizeof msg - o, " %s", v->name);
        rc = usage(msg, obj->name);
    } else if (a.help) {
        cli_help_verb(stdout, obj, verb);
    } else {
        cli_config cfg;
        rc = load_config(&a, &cfg);
        if (!rc)
            rc = cli_run(obj, verb, a.n - 2, a.rest + 2, &cfg, a.count);
    }
    free(a.rest);
    return rc;
}
