/*
 * maturity.c - `loyal maturity`: the program's maturity level, block by block
 * (docs/maturity.md). Gathers the evidence from the program file and the database
 * (maturity_evidence.h), rates it (analytics/maturity.h) and prints it as text, JSON
 * (--json) and a self-contained HTML page (--html, report/maturity_html.h).
 */
#include "analytics/maturity.h"
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "cli/maturity_evidence.h"
#include "os/os.h"
#include "report/maturity_html.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loyal maturity [--db PATH] [--program PATH] [--json FILE] [--html FILE] [--quiet]\n\n"
            "Rates the running program 0-4 on each of the method's five blocks (rewards, data\n"
            "collection and analysis, trigger communications, customisation, gamification) and\n"
            "overall, from its program file and its database; cites the evidence of each rating\n"
            "and says what would lift the block one level (docs/maturity.md).\n"
            "  --db PATH       the database (default $LOYAL_DB or ./loyal.db); a missing file\n"
            "                  counts as no data and is not created\n"
            "  --program PATH  the program file (default $LOYAL_PROGRAM or ./program.json); a\n"
            "                  missing default file counts as no program\n"
            "  --json FILE     the rating as JSON ('-' for standard output)\n"
            "  --html FILE     the rating as a self-contained HTML page\n"
            "  --quiet         no text on standard output\n");
}

static int writeText(const char *path, const char *text, size_t len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "loyal maturity: %s: %s\n", path, strerror(errno));
        return LY_EXIT_SYSTEM;
    }
    bool bad = fwrite(text, 1, len, f) != len;
    bad |= f == stdout ? fflush(f) != 0 : fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "loyal maturity: cannot write %s\n", path);
        return LY_EXIT_SYSTEM;
    }
    return LY_EXIT_OK;
}

static void printText(const ly_mat_rating *r)
{
    printf("maturity: level %d of 4 (%s)\n", r->overall, r->note);
    for (int i = 0; i < LY_MAT_BLOCKS; i++) {
        printf("\n%-13s %d  %s\n", ly_mat_block_key((ly_mat_block)i), r->block[i].level,
               ly_mat_block_name((ly_mat_block)i));
        printf("  evidence: %s\n", r->block[i].evidence);
        if (*r->block[i].lift) printf("  to lift:  %s\n", r->block[i].lift);
    }
}

int ly_cli_maturity(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},   {"program", required_argument, 0, 'p'},
        {"json", required_argument, 0, 'j'}, {"html", required_argument, 0, 'H'},
        {"quiet", no_argument, 0, 'q'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db = ly_cli_default_db(), *program = ly_cli_default_program();
    const char *jsonPath = NULL, *htmlPath = NULL;
    bool programGiven = false, quiet = false;
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'p': program = optarg; programGiven = true; break;
        case 'j': jsonPath = optarg; break;
        case 'H': htmlPath = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return LY_EXIT_OK;
        default: usage(stderr); return LY_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loyal maturity: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return LY_EXIT_USAGE;
    }

    ly_mat_evidence ev;
    int code = ly__mat_gather("maturity", program, programGiven, db, (int64_t)ly_os_now(), &ev);
    if (code != LY_EXIT_OK) return code;

    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    if (!quiet) printText(&r);
    json_t *j = ly__mat_json(&ev, &r);
    if (!j) {
        fprintf(stderr, "loyal maturity: out of memory\n");
        return LY_EXIT_SYSTEM;
    }
    if (jsonPath) {
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        if (!text) {
            json_decref(j);
            fprintf(stderr, "loyal maturity: out of memory\n");
            return LY_EXIT_SYSTEM;
        }
        size_t n = strlen(text);
        char *line = malloc(n + 2);
        if (!line) {
            free(text);
            json_decref(j);
            fprintf(stderr, "loyal maturity: out of memory\n");
            return LY_EXIT_SYSTEM;
        }
        memcpy(line, text, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        free(text);
        code = writeText(jsonPath, line, n + 1);
        free(line);
    }
    if (code == LY_EXIT_OK && htmlPath) {
        size_t n = 0;
        char *html = NULL;
        ly_error err;
        ly_error_clear(&err);
        if (ly_report_maturity_page(j, &html, &n, &err) != LY_OK) code = ly__cli_fail("maturity", &err);
        else code = writeText(htmlPath, html, n);
        free(html);
    }
    json_decref(j);
    return code;
}
