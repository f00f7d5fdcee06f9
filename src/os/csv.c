/*
 * csv.c - the streaming CSV reader (see csv.h): scans a block buffer for the bytes that
 * matter (the delimiter, quotes, line ends, NUL) eight bytes at a time and copies the runs
 * between them, NUL-terminated per field, into one reused record buffer.
 */
#include "os/csv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define CSV_SSE2 1
#endif

#define IN_BLOCK 65536

struct ly_csv {
    FILE *f;
    char delim;
    bool at_start; /* nothing read yet: a BOM may follow */
    bool ioerr;
    unsigned char stop[256];  /* unquoted field: delimiter, CR, LF, NUL end a run */
    unsigned char qstop[256]; /* quoted field: '"', CR, LF, NUL end a run */
    unsigned char in[IN_BLOCK];
    size_t in_pos, in_len;

    char *rec; /* the record's fields, each NUL-terminated; rec_cap + 1 bytes allocated */
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
    c->stop[(unsigned char)delimiter] = c->stop['\r'] = c->stop['\n'] = c->stop[0] = 1;
    c->qstop['"'] = c->qstop['\r'] = c->qstop['\n'] = c->qstop[0] = 1;
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

/* Makes room for n more bytes of the record (n <= LY_CSV_RECORD_MAX - rec_len); false when
 * the record would pass its limit or memory ran out (c->err says which). */
static bool room(ly_csv *c, size_t n)
{
    if (c->rec_len + n <= c->rec_cap) return true;
    if (c->rec_len + n > LY_CSV_RECORD_MAX) {
        fail(c, "record longer than %d bytes", LY_CSV_RECORD_MAX);
        return false;
    }
    size_t cap = c->rec_cap ? c->rec_cap * 2 : 4096;
    while (cap < c->rec_len + n) cap *= 2;
    if (cap > LY_CSV_RECORD_MAX) cap = LY_CSV_RECORD_MAX;
    char *p = realloc(c->rec, cap + 1); /* +1: room for the last NUL at the limit */
    if (!p) {
        fail(c, "out of memory");
        return false;
    }
    c->rec = p;
    c->rec_cap = cap;
    return true;
}

static inline bool append(ly_csv *c, const unsigned char *p, size_t n)
{
    if (!room(c, n)) return false;
    memcpy(c->rec + c->rec_len, p, n);
    c->rec_len += n;
    return true;
}

static inline bool push(ly_csv *c, char ch)
{
    if (c->rec_len == c->rec_cap && !room(c, 1)) return false;
    c->rec[c->rec_len++] = ch;
    return true;
}

static bool startField(ly_csv *c)
{
    if (c->n == c->starts_cap) {
        if (c->n == LY_CSV_FIELDS_MAX) {
            fail(c, "more than %d fields", LY_CSV_FIELDS_MAX);
            return false;
        }
        size_t cap = c->starts_cap ? c->starts_cap * 2 : 32;
        if (cap > LY_CSV_FIELDS_MAX) cap = LY_CSV_FIELDS_MAX;
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

/* Ends a field with its NUL; the record's last NUL may take the byte kept past the limit. */
static inline bool endField(ly_csv *c, bool last)
{
    if (last && c->rec_len == LY_CSV_RECORD_MAX && c->rec_cap == LY_CSV_RECORD_MAX) {
        c->rec[c->rec_len++] = '\0';
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

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The high bit of each zero byte of x; the lowest one set is exactly the first zero byte
 * (above it, borrows may flag others). */
static inline uint64_t zeroBytes(uint64_t x)
{
    return (x - ONES) & ~x & HIGHS;
}

/* The first byte in [p, e) marked in stop; the marked bytes are 0 and the three given
 * broadcast in b1, b2, b3 (one byte repeated eight times). */
static inline const unsigned char *firstStop(const unsigned char *p, const unsigned char *e,
                                             const unsigned char *stop, uint64_t b1,
                                             uint64_t b2, uint64_t b3)
{
#ifdef CSV_SSE2
    /* sixteen bytes a step where SSE2 is there (every x86-64) */
    const __m128i v0 = _mm_setzero_si128(), v1 = _mm_set1_epi8((char)(b1 & 0xff)),
                  v2 = _mm_set1_epi8((char)(b2 & 0xff)), v3 = _mm_set1_epi8((char)(b3 & 0xff));
    while (e - p >= 16) {
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(w, v0), _mm_cmpeq_epi8(w, v1)),
                                   _mm_or_si128(_mm_cmpeq_epi8(w, v2), _mm_cmpeq_epi8(w, v3)));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t m = zeroBytes(w) | zeroBytes(w ^ b1) | zeroBytes(w ^ b2) | zeroBytes(w ^ b3);
        if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* bytes below the lowest flagged one, counted: (lowest bit >> 7) - 1 has 0xff
             * in each of them */
            uint64_t below = (((m & (~m + 1)) >> 7) - 1) & ONES;
            return p + ((below * ONES) >> 56);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < e && !stop[*p]) p++;
    return p;
}

/* Copies bytes of the input up to the first one marked in stop (the bytes b1..b3 and NUL),
 * which is consumed and returned (EOF at the end of the input); -2 when the record grew
 * past its limit. */
static int scanRun(ly_csv *c, const unsigned char *stop, unsigned char b1, unsigned char b2,
                   unsigned char b3)
{
    uint64_t w1 = b1 * ONES, w2 = b2 * ONES, w3 = b3 * ONES;
    for (;;) {
        if (c->in_pos == c->in_len && !refill(c)) return EOF;
        const unsigned char *p = c->in + c->in_pos, *e = c->in + c->in_len;
        const unsigned char *q = firstStop(p, e, stop, w1, w2, w3);
        size_t n = (size_t)(q - p);
        if (n <= 16 && c->rec_cap - c->rec_len >= 16 && p + 16 <= c->in + IN_BLOCK) {
            /* most fields are short: one fixed 16-byte copy instead of a call */
            memcpy(c->rec + c->rec_len, p, 16);
            c->rec_len += n;
        } else if (n && !append(c, p, n)) {
            return -2;
        }
        if (q < e) {
            c->in_pos = (size_t)(q - c->in) + 1;
            return *q;
        }
        c->in_pos = c->in_len;
    }
}

/* Reads the rest of a quoted field (its opening quote consumed). 0, or -1 with c->err. */
static int quotedField(ly_csv *c)
{
    long quote_line = c->line;
    for (;;) {
        int ch = scanRun(c, c->qstop, '"', '\r', '\n');
        if (ch == -2) return -1;
        if (ch == EOF) {
            if (c->ioerr) return fail(c, "read error");
            return fail(c, "the quoted field %zu opened on line %ld is not closed by the end "
                           "of the input", c->n, quote_line);
        }
        if (ch == 0) return fail(c, "NUL byte in the input (is this a text file?)");
        if (ch == '"') {
            if (peekb(c) != '"') return 0;
            c->in_pos++;
            if (!push(c, '"')) return -1;
            continue;
        }
        /* a line end inside the quotes is part of the field */
        if (!push(c, (char)ch)) return -1;
        if (ch == '\r' && peekb(c) == '\n') {
            c->in_pos++;
            if (!push(c, '\n')) return -1;
        }
        c->line++;
    }
}

/* The fast path for the common record: wholly inside the buffer, no quoted field, no NUL,
 * within the limits. It is copied at once and its delimiters become the fields' NULs. 1
 * when done; 0 when the record is not like that (nothing consumed: the byte-wise path
 * reads it, and reports what is wrong with it); -1 out of memory. */
static int fastRecord(ly_csv *c)
{
    const unsigned char *start = c->in + c->in_pos, *e = c->in + c->in_len, *p = start;
    uint64_t w1 = (unsigned char)c->delim * ONES, w2 = '\r' * ONES, w3 = '\n' * ONES;
    if (*p == '"') return 0;
    size_t n = 0;
    for (;;) {
        if (n == c->starts_cap) {
            if (n == LY_CSV_FIELDS_MAX) return 0;
            size_t cap = c->starts_cap ? c->starts_cap * 2 : 32;
            if (cap > LY_CSV_FIELDS_MAX) cap = LY_CSV_FIELDS_MAX;
            size_t *v = realloc(c->starts, cap * sizeof *v);
            if (!v) return fail(c, "out of memory");
            c->starts = v;
            c->starts_cap = cap;
        }
        c->starts[n++] = (size_t)(p - start);
        const unsigned char *q = firstStop(p, e, c->stop, w1, w2, w3);
        if (q == e || q + 1 == e || *q == 0) return 0;
        if (*q == (unsigned char)c->delim) {
            if (q[1] == '"') return 0;
            p = q + 1;
            continue;
        }
        size_t len = (size_t)(q - start); /* the record's bytes; + 1 for the last NUL */
        if (len > LY_CSV_RECORD_MAX) return 0;
        c->rec_len = 0;
        if (len > c->rec_cap && !room(c, len)) return -1;
        memcpy(c->rec, start, len);
        for (size_t i = 1; i < n; i++) c->rec[c->starts[i] - 1] = '\0';
        c->rec[len] = '\0'; /* rec has rec_cap + 1 bytes */
        c->rec_len = len + 1;
        c->n = n;
        c->in_pos = (size_t)(q - c->in) + 1 + (*q == '\r' && q[1] == '\n');
        c->line++;
        return finish(c);
    }
}

int ly_csv_next(ly_csv *c)
{
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
    int fast = fastRecord(c);
    if (fast != 0) return fast;
    c->rec_len = 0;
    c->n = 0;
    for (;;) { /* one field a turn */
        if (!startField(c)) return -1;
        int ch;
        if (peekb(c) == '"') {
            c->in_pos++;
            if (quotedField(c) < 0) return -1;
            ch = getb(c);
            if (ch != EOF && ch != '\r' && ch != '\n' && ch != 0 && ch != (unsigned char)c->delim)
                return fail(c, "unexpected '%c' after the closing quote of field %zu%s", ch, c->n,
                            c->line != c->rec_line ? " (the quoted field spans lines)" : "");
        } else {
            ch = scanRun(c, c->stop, (unsigned char)c->delim, '\r', '\n');
            if (ch == -2) return -1;
        }
        if (ch == 0) return fail(c, "NUL byte in the input (is this a text file?)");
        if (ch == (unsigned char)c->delim) {
            if (!endField(c, false)) return -1;
            continue;
        }
        if (ch == EOF && c->ioerr) return fail(c, "read error");
        if (ch != EOF) lineEnd(c, ch);
        if (!endField(c, true)) return -1;
        return finish(c);
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
