/* cli_table.c - the default output: aligned tables whose columns each
 * object file chooses per message type (cli_view), a vertical list for
 * single records such as NodeInfo, a heading line over the rows of a list
 * (NodeStatus), and, for a type with no view, every set field as
 * "path  value" lines. Cells render the column path forms of cli.h. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define CELL_MAX 512

static const cli_view *view_for(const cli_object *obj,
                                const ProtobufCMessageDescriptor *d) {
    for (const cli_view *v = obj ? obj->views : NULL; v && v->msg; v++)
        if (v->msg == d)
            return v;
    return NULL;
}

/* The field a dotted path ends at, or NULL. */
static const ProtobufCFieldDescriptor *leaf_of(const ProtobufCMessageDescriptor *d,
                                               const char *path, size_t len) {
    char seg[64];
    while (d) {
        size_t n = strcspn(path, ".");
        if (n > len)
            n = len;
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, seg);
        if (!f || n == len)
            return f;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            return NULL;
        d = f->descriptor;
        path += n + 1;
        len -= n + 1;
    }
    return NULL;
}

/* One plain path's text: bools as yes/no, nothing as "-". */
static void plain_cell(const ProtobufCMessage *m, const char *path, size_t len, char *buf,
                       size_t cap) {
    char p[256];
    snprintf(p, sizeof p, "%.*s", (int)len, path);
    cli_value_text(m, p, buf, cap);
    const ProtobufCFieldDescriptor *f = leaf_of(m->descriptor, p, strlen(p));
    if (buf[0] && f && f->type == PROTOBUF_C_TYPE_BOOL && f->label != PROTOBUF_C_LABEL_REPEATED)
        snprintf(buf, cap, "%s", strcmp(buf, "true") ? "no" : "yes");
    if (!buf[0])
        snprintf(buf, cap, "-");
}

/* A column's text: "a/b" joins values with "/", "name+flag" adds
 * " (flag)" when the bool flag is set. */
static void cell(const ProtobufCMessage *m, const char *path, char *buf) {
    size_t o = 0;
    buf[0] = '\0';
    for (const char *p = path; *p && o + 1 < CELL_MAX;) {
        size_t n = strcspn(p, "/"), plus = strcspn(p, "+");
        char part[CELL_MAX];
        plain_cell(m, p, plus < n ? plus : n, part, sizeof part);
        if (plus < n) {
            char flag[CELL_MAX];
            plain_cell(m, p + plus + 1, n - plus - 1, flag, sizeof flag);
            if (!strcmp(flag, "yes"))
                snprintf(part + strlen(part), sizeof part - strlen(part), " (%.*s)",
                         (int)(n - plus - 1), p + plus + 1);
        }
        int w = snprintf(buf + o, CELL_MAX - o, "%s%s", o ? "/" : "", part);
        o = w > 0 && o + (size_t)w < CELL_MAX ? o + (size_t)w : CELL_MAX - 1;
        p += n + (p[n] == '/');
    }
}

/* "header value  header value ..." on one line. */
static void print_heading(FILE *out, const cli_view *v, const ProtobufCMessage *m) {
    char buf[CELL_MAX];
    for (const cli_column *c = v->heading; c->header; c++) {
        cell(m, c->path, buf);
        fprintf(out, "%s%s %s", c == v->heading ? "" : "  ", c->header, buf);
    }
    fputc('\n', out);
}

static void print_rows(FILE *out, const cli_view *v, const ProtobufCMessage *const *rows,
                       size_t n) {
    size_t ncol = 0;
    while (v->columns[ncol].header)
        ncol++;
    size_t *w = calloc(ncol ? ncol : 1, sizeof *w);
    char buf[CELL_MAX];
    if (!w)
        return;
    for (size_t c = 0; c < ncol; c++) {
        w[c] = strlen(v->columns[c].header);
        for (size_t r = 0; r < n; r++) {
            cell(rows[r], v->columns[c].path, buf);
            if (strlen(buf) > w[c])
                w[c] = strlen(buf);
        }
    }
    for (size_t c = 0; c < ncol; c++)
        fprintf(out, "%-*s%s", c + 1 < ncol ? (int)w[c] : 0, v->columns[c].header,
                c + 1 < ncol ? "  " : "\n");
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < ncol; c++) {
            cell(rows[r], v->columns[c].path, buf);
            fprintf(out, "%-*s%s", c + 1 < ncol ? (int)w[c] : 0, buf,
                    c + 1 < ncol ? "  " : "\n");
        }
    free(w);
}

static void print_vertical(FILE *out, const cli_view *v, const ProtobufCMessage *m) {
    int w = 0;
    char buf[CELL_MAX];
    for (const cli_column *c = v->columns; c->header; c++)
        if ((int)strlen(c->header) > w)
            w = (int)strlen(c->header);
    for (const cli_column *c = v->columns; c->header; c++) {
        cell(m, c->path, buf);
        fprintf(out, "%-*s  %s\n", w, c->header, buf);
    }
}

/* Every set field, one "path  value" line each, nested messages expanded. */
static void print_fields(FILE *out, const ProtobufCMessage *m, const char *prefix) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char path[256], buf[CELL_MAX];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!cli_field_count(m, f))
            continue;
        snprintf(path, sizeof path, "%s%s", prefix, f->name);
        const ProtobufCMessage *sub = f->type == PROTOBUF_C_TYPE_MESSAGE &&
                                              f->label != PROTOBUF_C_LABEL_REPEATED
                                          ? *(ProtobufCMessage **)cli_member(m, f)
                                          : NULL;
        if (sub && strcmp(sub->descriptor->name, "google.protobuf.Timestamp") != 0) {
            char np[260];
            snprintf(np, sizeof np, "%s.", path);
            print_fields(out, sub, np);
            continue;
        }
        cli_value_text(m, f->name, buf, sizeof buf);
        fprintf(out, "%-28s %s\n", path, buf);
    }
}

/* Writes the bytes field v->raw of m as it is. */
static void print_raw(FILE *out, const cli_view *v, const ProtobufCMessage *m) {
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
        m->descriptor, v->raw);
    if (!f || f->type != PROTOBUF_C_TYPE_BYTES)
        return;
    const ProtobufCBinaryData *b = cli_member(m, f);
    if (b->len)
        fwrite(b->data, 1, b->len, out);
}

void cli_table_print(FILE *out, const cli_object *obj, const ProtobufCMessage *m) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const cli_view *v = view_for(obj, d);
    if (v && v->raw) {
        print_raw(out, v, m);
        fflush(out);
        return;
    }
    if (v && v->columns) {
        if (v->vertical)
            print_vertical(out, v, m);
        else
            print_rows(out, v, &m, 1);
        return;
    }
    int heading = v && v->heading;
    if (heading)
        print_heading(out, v, m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED ||
            !(v = view_for(obj, f->descriptor)))
            continue;
        print_rows(out, v, *(const ProtobufCMessage *const *const *)cli_member(m, f),
                   cli_field_count(m, f));
        const ProtobufCFieldDescriptor *tok =
            protobuf_c_message_descriptor_get_field_by_name(d, "next_page_token");
        if (tok && cli_field_count(m, tok)) {
            fflush(out); /* the hint comes after the page */
            fprintf(stderr, "more results: --page-token %s\n",
                    *(char **)cli_member(m, tok));
        }
        return;
    }
    if (!heading)
        print_fields(out, m, "");
}

void cli_table_stream_row(FILE *out, const cli_object *obj, const ProtobufCMessage *m,
                          int first) {
    const cli_view *v = view_for(obj, m->descriptor);
    if (v && v->raw) {
        print_raw(out, v, m);
    } else if (!v || v->vertical || !v->columns) {
        if (!first)
            fputc('\n', out);
        cli_table_print(out, obj, m);
    } else {
        char buf[CELL_MAX];
        for (const cli_column *c = v->columns; first && c->header; c++)
            fprintf(out, "%-*s%s", c[1].header ? 20 : 0, c->header, c[1].header ? " " : "\n");
        for (const cli_column *c = v->columns; c->header; c++) {
            cell(m, c->path, buf);
            fprintf(out, "%-*s%s", c[1].header ? 20 : 0, buf, c[1].header ? " " : "\n");
        }
    }
    fflush(out);
}

void cli_table_done(char *buf, size_t cap, const cli_object *obj,
                    const cli_verb *verb, const cli_flagset *fs,
                    const ProtobufCMessage *req) {
    char v[CELL_MAX], path[256];
    size_t o = 0;
    /* The object's name: the positional field's value, then the other set
     * fields as context ("(tenant acme)"). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < fs->n; i++) {
            const cli_flag *fl = &fs->flags[i];
            if (fl->positional != (pass == 0))
                continue;
            size_t p = 0;
            for (int k = 0; k < fl->depth && p < sizeof path; k++)
                p += (size_t)snprintf(path + p, sizeof path - p, "%s%s", k ? "." : "",
                                      fl->path[k]->name);
            cli_value_text(req, path, v, sizeof v);
            const ProtobufCFieldDescriptor *f = fl->path[fl->depth - 1];
            if (!v[0] || (f->type != PROTOBUF_C_TYPE_STRING && !strcmp(v, "0")))
                continue;
            int n = pass == 0 ? snprintf(buf + o, cap - o, "%s %s %s", verb->done, obj->name, v)
                              : snprintf(buf + o, cap - o, " (%s %s)", fl->name, v);
            if (n > 0)
                o += (size_t)n;
            if (o >= cap)
                return;
        }
        if (pass == 0 && o == 0) {
            int n = snprintf(buf, cap, "%s %s", verb->done, obj->name);
            o = n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
        }
    }
}
