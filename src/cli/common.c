/*
 * common.c - what the subcommands share: default paths, error printing, and opening the
 * receipts a command analyses.
 */
#include "analytics/analytics.h"
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *ly_cli_default_db(void)
{
    const char *v = getenv("LOYAL_DB");
    return v && *v ? v : "loyal.db";
}

const char *ly_cli_default_program(void)
{
    const char *v = getenv("LOYAL_PROGRAM");
    return v && *v ? v : "program.json";
}

int ly__cli_fail(const char *cmd, const ly_error *err)
{
    if (err->field[0])
        fprintf(stderr, "loyal %s: %s: %s (%s)\n", cmd, err->field, err->message, err->code);
    else
        fprintf(stderr, "loyal %s: %s (%s)\n", cmd, err->message, err->code);
    switch (err->kind) {
    case LY_EINVAL:
    case LY_EUNPROCESSABLE:
    case LY_ECONFLICT:
    case LY_ETOOLARGE:
        return LY_EXIT_DATA;
    case LY_ENOTFOUND:
        return LY_EXIT_PROBLEM;
    default:
        return LY_EXIT_SYSTEM;
    }
}

bool ly__cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool ly__cli_map_parse(const char *cmd, const char *arg, ly_arena *a, const char ***map, size_t *n,
                       size_t *cap)
{
    char *copy = ly_arena_strdup(a, arg);
    if (!copy) return false;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) {
            fprintf(stderr, "loyal %s: --map takes FIELD=COLUMN, not '%s'\n", cmd, tok);
            return false;
        }
        *eq = 0;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            const char **v = ly_arena_alloc(a, 2 * nc * sizeof *v);
            if (!v) return false;
            if (*n) memcpy(v, *map, 2 * *n * sizeof *v);
            *map = v;
            *cap = nc;
        }
        (*map)[2 * *n] = tok;
        (*map)[2 * *n + 1] = eq + 1;
        (*n)++;
    }
    return true;
}

bool ly__cli_layout_parse(const char *cmd, const char *arg, ly_an_csv_options *opt)
{
    if (ly_an_layout_parse(arg, &opt->layout)) return true;
    fprintf(stderr, "loyal %s: unknown layout '%s' (loyal, online_retail, cdnow, cdnow_sample, "
                    "baskets)\n", cmd, arg);
    return false;
}

bool ly__cli_delimiter_parse(const char *cmd, const char *arg, ly_an_csv_options *opt)
{
    if (strcmp(arg, "tab") == 0 || strcmp(arg, "\\t") == 0) opt->delimiter = '\t';
    else if (strlen(arg) == 1 && !strchr("\"\r\n", arg[0])) opt->delimiter = arg[0];
    else {
        fprintf(stderr, "loyal %s: --delimiter takes one character (not '\"'), or 'tab'\n", cmd);
        return false;
    }
    return true;
}

int ly__cli_open_receipts(const char *cmd, const char *file, const char *db,
                          const ly_an_csv_options *opt, bool sort, ly__cli_input *out)
{
    ly_error err;
    ly_error_clear(&err);
    ly_source *src = out->src;
    int code = LY_EXIT_OK;
    out->in = NULL;
    out->store = NULL;
    if (file) {
        uint64_t size = 0;
        if (strcmp(file, "-") == 0) {
            out->in = stdin;
        } else {
            out->in = fopen(file, "rb");
            struct stat stb;
            if (out->in && fstat(fileno(out->in), &stb) == 0) size = (uint64_t)stb.st_size;
        }
        if (!out->in) {
            fprintf(stderr, "loyal %s: %s: %s\n", cmd, file, strerror(errno));
            code = LY_EXIT_SYSTEM;
        } else if (ly_an_csv_source_open(out->in, file, size, opt, src, &err) != LY_OK) {
            code = ly__cli_fail(cmd, &err);
            if (strcmp(err.code, "unknown_field") == 0) code = LY_EXIT_USAGE;
        }
    } else {
        if (!db) db = ly_cli_default_db();
        if (access(db, R_OK) != 0) {
            fprintf(stderr, "loyal %s: %s: %s\n", cmd, db, strerror(errno));
            code = LY_EXIT_SYSTEM;
        } else {
            ly_store_options so = {.path = db, .sync = LY_SYNC_NORMAL};
            if (ly_store_open(&so, &out->store, &err) != LY_OK ||
                ly_store_source_open(out->store, src, &err) != LY_OK)
                code = ly__cli_fail(cmd, &err);
        }
    }
    if (code == LY_EXIT_OK && sort) {
        ly_source sorted;
        if (ly_an_sorted_source(src, &sorted, &err) != LY_OK) code = ly__cli_fail(cmd, &err);
        else *src = sorted;
    }
    if (code != LY_EXIT_OK) ly__cli_close_receipts(out);
    return code;
}

void ly__cli_close_receipts(ly__cli_input *in)
{
    if (in->src && in->src->close) in->src->close(in->src->ctx);
    if (in->src) memset(in->src, 0, sizeof *in->src);
    if (in->in && in->in != stdin) fclose(in->in);
    in->in = NULL;
    ly_store_close(in->store);
    in->store = NULL;
}
