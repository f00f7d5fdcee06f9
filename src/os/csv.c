/*
 * csv.c - the streaming CSV reader (see csv.h): a byte-at-a-time state machine over a block
 * buffer, assembling each record's fields, NUL-terminated, in one reused buffer.
 */
#include "os/csv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define IN_BLOCK 65536

struct ly_csv {
    FILE *f;
    char delim;
    unsigned char in[IN_BLOCK];
    size_t in_pos, in_len;
    bool at_start; /* nothing read yet: a BOM may follow */
    bool ioerr;

    char *rec; /* the record's fields, each NUL-terminated */
    size_t rec_len, rec_cap;
    size_t *starts; /* offset of each field in rec */
    size_t n, starts_cap;
    const char **fields;
    size_t fields_cap;

    long line;     /* physical line of the read position, 1-based */
    long rec_line; /* line on which the current record began */
    char err[200];
};

ly_csv *ly_csv_open(FILE *f, char delimiter)
{
    if (delimiter == '"' || delimiter == '\r' || delimiter == '\n' || delimiter == '\0') return NULL;
    ly_csv *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->f = f;
    c->delim = delimiter;
    c->at_start = true;
    c->line = 1;
    return c;
}

void ly_csv_close(ly_csv *c)
{
    if (!c) return;
    free(c->rec);
    free(c->starts);
    free(c->fields);
    free(c);
}

static bool refill(ly_csv *c)
{
    c->in_pos = 0;
    c->in_len = fread(c->in, 1, sizeof c->in, c->f);
    if (c->in_len == 0) {
        if (ferror(c->f)) c->ioerr = true;
        return false;
    }
    if (c->at_start) {
        c->at_start = false;
        if (c->in_len >= 3 && c->in[0] == 0xEF && c->in[1] == 0xBB && c->in[2] == 0xBF) c->in_pos = 3;
    }
    return c->in_pos < c->in_len || refill(c);
}

static inline int getb(ly_csv *c)
{
    if (c->in_pos == c->in_len && !refill(c)) return EOF;
    return c->in[c->in_pos++];
}

static inline int peekb(ly_csv *c)
{
    if (c->in_pos == c->in_len && !refill(c)) return EOF;
    return c->in[c->in_pos];
}

static int fail(ly_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ly_csv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends one byte to the record; false when the record is over its limit or memory ran
 * out (c->err says which). */
static bool push(ly_csv *c, char ch)
{
    if (c->rec_len == c->rec_cap) {
        if (c->rec_cap >= LY_CSV_RECORD_MAX) {
            fail(c, "record longer than %d bytes", LY_CSV_RECORD_MAX);
            return false;
        }
        size_t cap = c->rec_cap ? c->rec_cap * 2 : 4096;
        if (cap > LY_CSV_RECORD_MAX) cap = LY_CSV_RECORD_MAX;
        char *p = realloc(c->rec, cap + 1); /* +1: room for the last NUL at the limit */
        if (!p) {
            fail(c, "out of memory");
            return false;
        }
        c->rec = p;
        c->rec_cap = cap;
    }
    c->rec[c->rec_len++] = ch;
    return true;
}

static bool startField(ly_csv *c)
{
    if (c->n == LY_CSV_FIELDS_MAX) {
        fail(c, "more than %d fields", LY_CSV_FIELDS_MAX);
        return false;
    }
    if (c->n == c->starts_cap) {
        size_t cap = c->starts_cap ? c->starts_cap * 2 : 32;
        size_t *p = realloc(c->starts, cap * sizeof *p);
        if (!p) {
            fail(c, "out of memory");
            return false;
        }
        c->starts = p;
        c->starts_cap = cap;
    }
    c->starts[c->n++] = c->rec_len;
    return true;
}

static bool endField(ly_csv *c)
{
    if (c->rec_len == c->rec_cap && c->rec_cap == LY_CSV_RECORD_MAX) {
        c->rec[c->rec_len++] = '\0'; /* the +1 reserved by push */
        return true;
    }
    return push(c, '\0');
}

/* Makes the field pointers of a complete record. */
static int finish(ly_csv *c)
{
    if (c->fields_cap < c->n) {
        const char **p = realloc(c->fields, c->n * sizeof *p);
        if (!p) return fail(c, "out of memory");
        c->fields = p;
        c->fields_cap = c->n;
    }
    for (size_t i = 0; i < c->n; i++) c->fields[i] = c->rec + c->starts[i];
    return 1;
}

/* Consumes the rest of a line end whose first byte ch was already read. */
static void lineEnd(ly_csv *c, int ch)
{
    if (ch == '\r' && peekb(c) == '\n') c->in_pos++;
    c->line++;
}

int ly_csv_next(ly_csv *c)
{
    enum { FIELD_START, UNQUOTED, QUOTED, AFTER_QUOTE } st = FIELD_START;
    c->rec_len = 0;
    c->n = 0;
    for (;;) { /* skip empty lines */
        int ch = peekb(c);
        if (ch == EOF) {
            c->rec_line = c->line;
            return c->ioerr ? fail(c, "read error") : 0;
        }
        if (ch != '\r' && ch != '\n') break;
        c->in_pos++;
        lineEnd(c, ch);
    }
    c->rec_line = c->line;
    if (!startField(c)) return -1;
    long quote_line = 0;
    for (;;) {
        int ch = getb(c);
        if (ch == 0) return fail(c, "NUL byte in the input (is this a text file?)");
        switch (st) {
        case FIELD_START:
            if (ch == '"') {
                st = QUOTED;
                quote_line = c->line;
                continue;
            }
            st = UNQUOTED;
            /* fall through */
        case UNQUOTED:
        case AFTER_QUOTE:
            if (ch == EOF || ch == '\r' || ch == '\n') {
                if (c->ioerr) return fail(c, "read error");
                if (ch != EOF) lineEnd(c, ch);
                if (!endField(c)) return -1;
                return finish(c);
            }
            if (ch == (unsigned char)c->delim) {
                if (!endField(c) || !startField(c)) return -1;
                st = FIELD_START;
                continue;
            }
            if (st == AFTER_QUOTE)
                return fail(c, "unexpected '%c' after the closing quote of field %zu%s", ch, c->n,
                            c->line != c->rec_line ? " (the quoted field spans lines)" : "");
            if (!push(c, (char)ch)) return -1;
            continue;
        case QUOTED:
            if (ch == EOF) {
                if (c->ioerr) return fail(c, "read error");
                return fail(c, "the quoted field %zu opened on line %ld is not closed by the end "
                               "of the input", c->n, quote_line);
            }
            if (ch == '"') {
                if (peekb(c) == '"') {
                    c->in_pos++;
                    if (!push(c, '"')) return -1;
                } else {
                    st = AFTER_QUOTE;
                }
                continue;
            }
            if (!push(c, (char)ch)) return -1;
            if (ch == '\r' || ch == '\n') {
                if (ch == '\r' && peekb(c) == '\n') {
                    c->in_pos++;
                    if (!push(c, '\n')) return -1;
                }
                c->line++;
            }
            continue;
        }
    }
}

size_t ly_csv_nfields(const ly_csv *c)
{
    return c->n;
}

const char *ly_csv_field(const ly_csv *c, size_t i)
{
    return i < c->n ? c->fields[i] : "";
}

long ly_csv_line(const ly_csv *c)
{
    return c->rec_line;
}

const char *ly_csv_error(const ly_csv *c)
{
    return c->err;
}
