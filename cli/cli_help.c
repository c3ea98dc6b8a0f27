/* cli_help.c - the --help texts of mvm-cli at its three levels: the whole
 * tool (global options, objects, exit codes), one object (its verbs, with
 * the first line of each method's proto comment), one verb (its flags as
 * derived from the request descriptor, with types and comments). */
#include "cli.h"
#include "cli_help.h"

#include <string.h>

static const ProtobufCMethodDescriptor *verb_method(const cli_verb *verb) {
    return protobuf_c_service_descriptor_get_method_by_name(verb->service, verb->method);
}

const cli_object *const cli_objects[] = {
    &cli_tenant_object, &cli_pool_object, &cli_snapshot_object, &cli_instance_object,
    &cli_node_object, &cli_health_object, NULL,
};

void cli_help_top(FILE *out) {
    fputs("Usage: mvm-cli [OPTIONS] OBJECT VERB [ARG] [--FLAG VALUE ...]\n"
          "\n"
          "Drives mvmd, the microVM node service, over gRPC.\n"
          "\nObjects:\n", out);
    for (const cli_object *const *o = cli_objects; *o; o++)
        fprintf(out, "  %-10s %s\n", (*o)->name, (*o)->summary);
    fputs("\nOptions (anywhere on the line before \"--\"):\n"
          "  --endpoint E     unix:/path/to/mvmd.sock, or HOST:PORT (TLS, mTLS)\n"
          "  --cert F         client certificate (PEM)\n"
          "  --key F          client key (PEM)\n"
          "  --ca F           CA that signed the server certificate (PEM)\n"
          "  --insecure       plaintext HTTP/2 to HOST:PORT, no TLS\n"
          "  --timeout D      deadline per call, a number and a unit: 500ms, 30s,\n"
          "                   1.5m, 2h (default 30s; a watch runs until stopped,\n"
          "                   or for D then exits 0)\n"
          "  --count N        watch verbs: stop after N messages\n"
          "  -o, --output F   table (default) or json (proto3 JSON mapping;\n"
          "                   one object per line for watch); also -oF\n"
          "  --config F       config file (default $MVM_CONFIG, then\n"
          "                   ~/.config/mvm/cli.conf): \"key = value\" lines with\n"
          "                   keys endpoint, cert, key, ca, insecure, timeout, output\n"
          "  -h, --help       help; also after OBJECT and after VERB\n"
          "  --version        print mvm-cli's version\n"
          "  --               ends the options: what follows is an argument\n"
          "\n"
          "Environment: MVM_ENDPOINT, MVM_CERT, MVM_KEY, MVM_CA (also MVM_INSECURE,\n"
          "MVM_TIMEOUT, MVM_OUTPUT). Precedence: options > environment > file.\n"
          "\n"
          "Exit codes:\n"
          "  0      success\n"
          "  1-16   the call failed with that gRPC status code (5 NOT_FOUND,\n"
          "         6 ALREADY_EXISTS, 3 INVALID_ARGUMENT, 10 ABORTED, ...)\n"
          "  14     UNAVAILABLE: the server cannot be reached, refused TLS, or\n"
          "         the TLS handshake did not finish within the timeout\n"
          "  64     usage error: bad command line or configuration, a missing\n"
          "         required flag, a certificate, key or CA file that is\n"
          "         missing, unreadable or not PEM\n"
          "\n"
          "Errors go to stderr as \"mvm-cli: CODE: message\".\n"
          "Example: mvm-cli tenant create acme --net-id 3 --subnet 10.240.3.0/24\n",
          out);
}

/* Writes the first sentence of comment c on one line (or nothing). */
static void first_line(FILE *out, const char *c) {
    for (int space = 0, any = 0; c && *c; c++) {
        if (*c == ' ' || *c == '\n') {
            space = any;
            continue;
        }
        any = 1;
        if (space)
            fputc(' ', out);
        space = 0;
        fputc(*c, out);
        if (*c == '.' && (c[1] == ' ' || c[1] == '\n' || !c[1]))
            break;
    }
}

void cli_help_object(FILE *out, const cli_object *obj) {
    fprintf(out, "Usage: mvm-cli %s VERB [ARG] [--FLAG VALUE ...]\n\n%s\n\nVerbs:\n",
            obj->name, obj->summary);
    for (const cli_verb *v = obj->verbs; v->name; v++) {
        fprintf(out, "  %-8s %-16s ", v->name, v->method);
        first_line(out, cli_docs_method(v->service->name, v->method));
        fputc('\n', out);
    }
    fprintf(out, "\nRun 'mvm-cli %s VERB --help' for the flags of a verb.\n", obj->name);
}

void cli_help_verb(FILE *out, const cli_object *obj, const cli_verb *verb) {
    cli_flagset fs;
    mvm_error err;
    if (cli_verb_flags(verb, &fs, &err) != MVM_OK) {
        fprintf(out, "%s\n", err.msg);
        return;
    }
    const char *pos = NULL;
    int pos_required = 0;
    for (size_t i = 0; i < fs.n; i++)
        if (fs.flags[i].positional) {
            pos = fs.flags[i].name;
            pos_required = fs.flags[i].required;
        }
    char upper[96] = "";
    for (size_t i = 0; pos && pos[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char)(pos[i] >= 'a' && pos[i] <= 'z' ? pos[i] - 32 : pos[i]);
    int streams = cli_docs_server_streaming(verb->service->name, verb->method) == 1;
    fprintf(out, "Usage: mvm-cli %s %s%s%s%s%s%s [FLAGS]\n\n", obj->name, verb->name,
            !pos ? "" : pos_required ? " " : " [", upper, pos && !pos_required ? "]" : "",
            verb->opts & CLI_VERB_FILE ? " -f FILE" : "", verb->watch ? " [--watch]" : "");
    fprintf(out, "Calls %s/%s%s.\n", verb->service->name, verb->method,
            streams ? " (a stream: runs until stopped, --timeout or --count)" : "");
    const char *doc = cli_docs_method(verb->service->name, verb->method);
    for (const char *p = doc; p && *p;) { /* the whole comment, indented */
        size_t n = strcspn(p, "\n"), skip = p[0] == ' ';
        fprintf(out, "  %.*s\n", (int)(n - skip), p + skip);
        p += n + (p[n] == '\n');
    }
    if (verb->opts & CLI_VERB_FILE)
        fprintf(out, "\nThe request is read from a file:\n"
                     "  -f, --file FILE                    the request (%s) as\n"
                     "                                     JSON in the proto3 JSON mapping, field\n"
                     "                                     names in lowerCamelCase or as in the\n"
                     "                                     proto; - reads standard input. Flags\n"
                     "                                     given set their fields over the file's.\n",
                verb_method(verb) ? verb_method(verb)->input->name : "the request");
    if (verb->watch)
        fprintf(out, "\n  --watch                            calls %s instead (a stream):\n"
                     "                                     prints each reply as it comes, until\n"
                     "                                     stopped, --timeout or --count.\n",
                verb->watch);
    fputs("\nFlags (from the request message):\n", out);
    if (fs.n == 0)
        fputs("  (none)\n", out);
    cli_flags_help(&fs, out);
    if (fs.mask_field)
        fputs("\nThe update_mask is the set of fields given here; fields that\n"
              "select the resource and --resource-version are not part of it.\n",
              out);
    fputs("\nSee 'mvm-cli --help' for the global options and exit codes.\n", out);
    cli_flags_free(&fs);
}
