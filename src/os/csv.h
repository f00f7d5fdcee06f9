/*
 * csv.h - a small streaming reader for RFC 4180 CSV, for `loyal import` and `loyal analyze`.
 *
 * What it accepts:
 *  - records end with CRLF, LF or a lone CR; the last record may lack a line end;
 *  - a field that starts with '"' is quoted: it may hold the delimiter, line ends and
 *    doubled quotes ("" for one "); after its closing quote only the delimiter or the end of
 *    the record may follow;
 *  - a '"' inside an unquoted field is kept as it is (common in real exports: 12" record);
 *  - a UTF-8 byte order mark at the start of the input is skipped;
 *  - empty lines (outside quotes) are skipped, not returned as records.
 * What it refuses (ly_csv_next returns -1 with a message): a quoted field still open at the
 * end of the input, text after a closing quote, a NUL byte, a record longer than
 * LY_CSV_RECORD_MAX bytes or with more than LY_CSV_FIELDS_MAX fields.
 *
 * Memory is bounded by the longest record: the input is read in blocks and each record is
 * assembled in one buffer that is reused.
 */
#ifndef LY_OS_CSV_H
#define LY_OS_CSV_H

#include <stddef.h>
#include <stdio.h>

#define LY_CSV_RECORD_MAX (1024 * 1024)
#define LY_CSV_FIELDS_MAX 4096

typedef struct ly_csv ly_csv;

/* A reader of f (not closed by ly_csv_close) with the given field delimiter (not '"', CR or
 * LF). NULL when out of memory. */
ly_csv *ly_csv_open(FILE *f, char delimiter);
void ly_csv_close(ly_csv *c);

/* Reads the next record: 1 when one was read, 0 at the end of the input, -1 on an error
 * (ly_csv_error says what; ly_csv_line where the record began; reading further is not
 * meaningful). A read error of the stream is reported the same way. */
int ly_csv_next(ly_csv *c);

/* The fields of the record just read: NUL-terminated, valid until the next ly_csv_next.
 * ly_csv_field gives "" for an index past the last field. */
size_t ly_csv_nfields(const ly_csv *c);
const char *ly_csv_field(const ly_csv *c, size_t i);

/* The 1-based physical line on which the current record (or the failed one) starts. */
long ly_csv_line(const ly_csv *c);

/* What went wrong after ly_csv_next returned -1. */
const char *ly_csv_error(const ly_csv *c);

#endif /* LY_OS_CSV_H */
