/* cli_main.c - mvm-cli's entry point: global options (accepted anywhere on
 * the line up to "--"), --version, configuration precedence (options >
 * environment > file), the OBJECT VERB dispatch and the help levels. See
 * cli_help.c for the text. */
#include "cli.h"
#include "cli_help.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#ifndef MVM_VERSION
#define MVM_VERSION "0.0.0"
#endif

static int usage(const char *msg, const char *what) {
    fprintf(stderr, "mvm-cli: %s\nTry 'mvm-cli%s%s --help'.\n", msg,
            what ? " " : "", what ? what : "");
    return CLI_EXIT_USAGE;
}

/* Global options that take a value, and the config key each sets. A short
 * one (-o) also takes its value attached (-ojson). */
static const char *const valued[][2] = {
    {"--endpoint", "endpoint"}, {"--cert", "cert"}, {"--key", "key"},
    {"--ca", "ca"}, {"--timeout", "timeout"}, {"--output", "output"},
    {"-o", "output"}, {"--config", NULL}, {"--count", NULL},
};

typedef struct args {
    cli_config flags;
    const char *config;
    int count, help, version;
    int n;
    char **rest; /* OBJECT VERB ARGS..., with "--" kept where it was */
} args;

/* Matches s against valued option name; sets *val (NULL if the value is the
 * next argument). */
static int match_valued(const char *s, const char *name, const char **val) {
    size_t l = strlen(name);
    if (strncmp(s, name, l) != 0)
        return 0;
    if (!s[l]) {
        *val = NULL;
        return 1;
    }
    if (s[l] == '=' && name[1] == '-') { /* --name=value */
        *val = s + l + 1;
        return 1;
    }
    if (name[1] != '-') { /* -ovalue */
        *val = s + l;
        return 1;
    }
    return 0;
}

/* Takes the global options out of argv; the rest stays in order. "--" ends
 * the options: what follows it is kept as it is. */
static int parse_globals(int argc, char **argv, args *a) {
    mvm_error err;
    cli_config_init(&a->flags);
    a->rest = calloc((size_t)argc + 1, sizeof *a->rest);
    if (!a->rest)
        return usage("out of memory", NULL);
    for (int i = 1; i < argc; i++) {
        char *s = argv[i];
        if (!strcmp(s, "--")) {
            while (i < argc)
                a->rest[a->n++] = argv[i++];
            break;
        }
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            a->help = 1;
            continue;
        }
        if (!strcmp(s, "--version")) {
            a->version = 1;
            continue;
        }
        if (!strcmp(s, "--insecure")) {
            a->flags.insecure = 1;
            continue;
        }
        size_t k, nv = sizeof valued / sizeof valued[0];
        const char *val = NULL;
        for (k = 0; k < nv && !match_valued(s, valued[k][0], &val); k++)
            ;
        if (k == nv) {
            a->rest[a->n++] = s;
            continue;
        }
        if (!val && i + 1 < argc)
            val = argv[++i];
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
            if (!*val || *end || c <= 0 || c > 1000000000)
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

/* OBJECT and VERB are the first two words of rest that are not "--"; a
 * "--" before them still makes every later argument positional. */
static int verb_args(args *a, char **words[2], char ***out, int *n) {
    int nw = 0, dashdash = 0, k = 0;
    for (; k < a->n && nw < 2; k++) {
        if (!strcmp(a->rest[k], "--") && !dashdash)
            dashdash = 1;
        else
            words[nw++] = &a->rest[k];
    }
    for (; nw < 2; nw++)
        words[nw] = NULL;
    *n = a->n - k + (dashdash && (k >= a->n || strcmp(a->rest[k], "--") != 0));
    *out = calloc((size_t)*n + 1, sizeof **out);
    if (!*out)
        return -1;
    int o = 0;
    if (*n > a->n - k)
        (*out)[o++] = "--";
    while (k < a->n)
        (*out)[o++] = a->rest[k++];
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
    if (a.version) {
        printf("mvm-cli %s\n", MVM_VERSION);
        free(a.rest);
        return 0;
    }
    char **words[2], **vargs = NULL;
    int nvargs = 0;
    if (verb_args(&a, words, &vargs, &nvargs)) {
        free(a.rest);
        return usage("out of memory", NULL);
    }
    const char *oname = words[0] ? *words[0] : NULL, *vname = words[1] ? *words[1] : NULL;
    const cli_object *obj = NULL;
    const cli_verb *verb = NULL;
    if (oname)
        for (const cli_object *const *o = cli_objects; *o; o++)
            if (!strcmp((*o)->name, oname))
                obj = *o;
    if (obj && vname)
        for (const cli_verb *v = obj->verbs; v->name; v++)
            if (!strcmp(v->name, vname))
                verb = v;
    char msg[512];
    if (!oname && a.help) {
        cli_help_top(stdout);
    } else if (!oname) {
        cli_help_top(stderr);
        rc = CLI_EXIT_USAGE;
    } else if (!obj && oname[0] == '-') {
        snprintf(msg, sizeof msg, "unknown option %s", oname);
        rc = usage(msg, NULL);
    } else if (!obj) {
        snprintf(msg, sizeof msg, "unknown object \"%s\" (tenant, pool, instance, "
                 "node, health)", oname);
        rc = usage(msg, NULL);
    } else if (!verb && !vname && a.help) {
        cli_help_object(stdout, obj);
    } else if (!verb) {
        size_t o = 0;
        o += (size_t)snprintf(msg, sizeof msg, vname ? "unknown verb \"%s\" for %s; verbs:"
                                                     : "%s%s: give a verb:",
                              vname ? vname : "", obj->name);
        for (const cli_verb *v = obj->verbs; v->name && o < sizeof msg; v++)
            o += (size_t)snprintf(msg + o, sizeof msg - o, " %s", v->name);
        rc = usage(msg, obj->name);
    } else if (a.help) {
        cli_help_verb(stdout, obj, verb);
    } else {
        cli_config cfg;
        rc = load_config(&a, &cfg);
        if (!rc)
            rc = cli_run(obj, verb, nvargs, vargs, &cfg, a.count);
    }
    free(vargs);
    free(a.rest);
    return rc;
}
