/*
 * versions.c - the program in force and its versions: loading the file, keeping every
 * version that was in force in the program_versions table, replacing the program while the
 * server runs (PUT /v1/program, SIGHUP), and the reference counts that keep a version alive
 * while a request uses it (service_internal.h explains the scheme).
 */
#include "service/service_internal.h"

#include "os/os.h"
#include "program/program.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRAM_FILE_MAX (16u << 20)

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* The whole file, malloc'd and NUL-terminated. */
static ly_err readFile(const char *path, char **text, size_t *len, ly_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ly_error_set(err, LY_EINVAL, "program_unreadable", "", "cannot open %s", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4097 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = cap > PROGRAM_FILE_MAX + 8192 ? NULL : realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return cap > PROGRAM_FILE_MAX + 8192
                           ? ly_error_set(err, LY_ETOOLARGE, "program_too_large", "", "%s is over 16 MiB", path)
                           : oom(err);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return LY_OK;
}

static void freeRef(ly_program_ref *r)
{
    if (!r) return;
    ly_program_free(&r->p);
    free(r->text);
    free(r);
}

/* A new version from text (copied), not yet listed: refs 0. */
static ly_err parseRef(const char *text, size_t len, ly_program_ref **out, ly_error *err)
{
    *out = NULL;
    ly_program_ref *r = calloc(1, sizeof *r);
    if (!r || !(r->text = malloc(len + 1))) {
        free(r);
        return oom(err);
    }
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    r->len = len;
    ly_err rc = ly_program_parse(r->text, len, &r->p, err);
    if (rc != LY_OK) {
        free(r->text);
        free(r);
        return rc;
    }
    *out = r;
    return LY_OK;
}

ly_err ly__program_open(ly_service *s, const char *path, ly_error *err)
{
    char *text;
    size_t len;
    ly_err rc = readFile(path, &text, &len, err);
    if (rc != LY_OK) return rc;
    ly_program_ref *r;
    rc = parseRef(text, len, &r, err);
    free(text);
    if (rc != LY_OK) return rc;
    rc = ly_os_calendar(r->p.time_zone, &s->cal, err);
    if (rc == LY_OK && !(s->program_path = strdup(path))) rc = oom(err);
    if (rc != LY_OK) {
        freeRef(r);
        return rc;
    }
    snprintf(s->phone_country, sizeof s->phone_country, "%s", r->p.phone_country);
    snprintf(s->phone_trunk, sizeof s->phone_trunk, "%s", r->p.phone_trunk);
    r->refs = 1; /* current */
    s->cur = s->live = r;
    return LY_OK;
}

typedef struct recordJob {
    ly_program_ref *ref;
    ly_time now;
    bool derive;
    ly_time first_loaded_at;
    bool same;
} recordJob;

static ly_err runRecord(ly_db *db, void *ctx, ly_error *err)
{
    recordJob *j = ctx;
    ly_program *p = &j->ref->p;
    ly_err rc = ly_db_program_version_put(db, p->version, j->ref->text, j->now,
                                          &j->first_loaded_at, &j->same, err);
    if (rc == LY_OK && !j->same && j->derive) {
        /* A file edited without a new "version": it is kept as a version of its own, named
         * after its content, so receipts priced by it can be told from the others. */
        uint8_t h[32];
        char hex[13];
        ly_os_hash(j->ref->text, j->ref->len, h);
        ly_os_hex(h, 6, hex);
        char derived[sizeof p->version];
        snprintf(derived, sizeof derived, "%.*s+sha-%s", (int)(sizeof p->version - 18), p->version, hex);
        fprintf(stderr, "loyal: program version \"%s\" is stored with other content: this file is "
                        "version \"%s\"\n", p->version, derived);
        memcpy(p->version, derived, sizeof derived);
        rc = ly_db_program_version_put(db, p->version, j->ref->text, j->now, &j->first_loaded_at,
                                       &j->same, err);
    }
    if (rc == LY_OK && !j->same)
        return ly_error_set(err, LY_ECONFLICT, "program_version_conflict", "version",
                            "version \"%s\" of the program is already stored with other content; "
                            "give the changed file a new \"version\"", p->version);
    return rc;
}

/* Stores ref's version (once) and reads back when it was first loaded. ref must not be
 * shared yet: with derive, a version stored with other content is renamed
 * "<version>+sha-<12 hex digits of the text's hash>" (files read at start and on SIGHUP);
 * without, it is LY_ECONFLICT (PUT /v1/program). */
static ly_err recordVersion(ly_service *s, ly_program_ref *ref, ly_time now, bool derive,
                            ly_error *err)
{
    recordJob j = {.ref = ref, .now = now, .derive = derive};
    ly_err rc = ly_store_write(s->store, runRecord, &j, err);
    if (rc == LY_OK) ref->first_loaded_at = j.first_loaded_at;
    return rc;
}

ly_err ly__program_record(ly_service *s, ly_time now, ly_error *err)
{
    return recordVersion(s, s->cur, now, true, err);
}

void ly__program_close(ly_service *s)
{
    for (ly_program_ref *r = s->live, *next; r; r = next) {
        next = r->next;
        freeRef(r);
    }
    s->live = s->cur = NULL;
    free(s->program_path);
    s->program_path = NULL;
}

ly_program_ref *ly__program_acquire(ly_service *s)
{
    pthread_mutex_lock(&s->prog_mu);
    ly_program_ref *r = s->cur;
    r->refs++;
    pthread_mutex_unlock(&s->prog_mu);
    return r;
}

void ly__program_release(ly_service *s, ly_program_ref *ref)
{
    if (!ref) return;
    pthread_mutex_lock(&s->prog_mu);
    bool last = --ref->refs == 0;
    if (last) {
        for (ly_program_ref **pp = &s->live; *pp; pp = &(*pp)->next)
            if (*pp == ref) {
                *pp = ref->next;
                break;
            }
    }
    pthread_mutex_unlock(&s->prog_mu);
    if (last) freeRef(ref);
}

/* A live version by name with a reference taken, or NULL. Called with prog_mu held. */
static ly_program_ref *findLive(ly_service *s, const char *version)
{
    for (ly_program_ref *r = s->live; r; r = r->next)
        if (strcmp(r->p.version, version) == 0) {
            r->refs++;
            return r;
        }
    return NULL;
}

ly_err ly__program_version(ly_service *s, ly_db *db, const char *version, ly_program_ref **out,
                           ly_error *err)
{
    *out = NULL;
    if (!version || !*version) return LY_OK;
    pthread_mutex_lock(&s->prog_mu);
    *out = findLive(s, version);
    pthread_mutex_unlock(&s->prog_mu);
    if (*out) return LY_OK;
    ly_arena a = {0};
    const char *text;
    ly_time first;
    ly_err rc = ly_db_program_version_get(db, version, &a, &text, &first, err);
    if (rc == LY_ENOTFOUND) { /* priced before versions were kept */
        ly_arena_free(&a);
        ly_error_clear(err);
        return LY_OK;
    }
    if (rc != LY_OK) {
        ly_arena_free(&a);
        return rc;
    }
    ly_program_ref *r;
    ly_error perr;
    ly_error_clear(&perr);
    rc = parseRef(text, strlen(text), &r, &perr);
    ly_arena_free(&a);
    /* A stored version this binary cannot read (written by a newer one): the caller falls
     * back to the current program rather than refuse the return. */
    if (rc == LY_EINVAL) return LY_OK;
    if (rc != LY_OK) {
        if (err) *err = perr;
        return rc;
    }
    r->first_loaded_at = first;
    pthread_mutex_lock(&s->prog_mu);
    ly_program_ref *other = findLive(s, version); /* loaded meanwhile by another thread */
    if (!other) {
        r->refs = 1;
        r->next = s->live;
        s->live = r;
    }
    pthread_mutex_unlock(&s->prog_mu);
    if (other) {
        freeRef(r);
        r = other;
    }
    *out = r;
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Replacement
 * ------------------------------------------------------------------------------------- */

/* The settings stored data depends on must stay as they are. */
static ly_err compatible(const ly_program *old, const ly_program *new, ly_error *err)
{
    static const char msg[] = "cannot change while the database holds data made under \"%s\" "
                              "(stored amounts, local days and identifiers depend on it)";
    if (strcmp(old->currency, new->currency) != 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "program_incompatible", "currency", msg, old->currency);
    if (old->minor_units != new->minor_units)
        return ly_error_set(err, LY_EUNPROCESSABLE, "program_incompatible", "minor_units",
                            "cannot change while the database holds data made with %d "
                            "(stored amounts are in minor units)", old->minor_units);
    if (strcmp(old->time_zone, new->time_zone) != 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "program_incompatible", "time_zone", msg, old->time_zone);
    if (strcmp(old->phone_country, new->phone_country) != 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "program_incompatible", "phone.country_code", msg,
                            old->phone_country);
    if (strcmp(old->phone_trunk, new->phone_trunk) != 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "program_incompatible", "phone.trunk_prefix", msg,
                            old->phone_trunk);
    return LY_OK;
}

/* Writes text to path atomically: a temporary file beside it, fsync, rename, fsync of the
 * directory. A reader sees the old file or the new one, never a part. */
static ly_err writeAtomically(const char *path, const char *text, size_t len, ly_error *err)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return oom(err);
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool ok = fd >= 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else off += (size_t)w;
    }
    if (ok && fsync(fd) != 0) ok = false;
    if (fd >= 0 && close(fd) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return ly_error_set(err, LY_EIO, "program_not_saved", NULL,
                            "cannot write %s: %s; the program was not replaced", path, strerror(e));
    }
    free(tmp);
    /* The rename is durable once the directory is. */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
        int dfd = open(slash ? dir : ".", O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return LY_OK;
}

static void fillInfo(const ly_program_ref *r, ly_program_info *out)
{
    snprintf(out->version, sizeof out->version, "%s", r->p.version);
    snprintf(out->name, sizeof out->name, "%s", r->p.name);
    out->first_loaded_at = r->first_loaded_at;
}

static ly_err replace(ly_service *s, const char *text, size_t len, bool write_back, ly_time now,
                      ly_program_info *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    ly_program_ref *r;
    ly_err rc = parseRef(text, len, &r, err);
    if (rc != LY_OK) return rc;
    pthread_mutex_lock(&s->replace_mu);
    ly_program_ref *old = ly__program_acquire(s);
    snprintf(out->previous, sizeof out->previous, "%s", old->p.version);
    rc = compatible(&old->p, &r->p, err);
    if (rc == LY_OK && old->len == len && memcmp(old->text, text, len) == 0) {
        /* The same file again: nothing to do, and nothing to write. */
        fillInfo(old, out);
        freeRef(r);
        ly__program_release(s, old);
        pthread_mutex_unlock(&s->replace_mu);
        return LY_OK;
    }
    if (rc == LY_OK) rc = recordVersion(s, r, now, !write_back, err);
    if (rc == LY_OK && write_back && s->program_path)
        rc = writeAtomically(s->program_path, r->text, r->len, err);
    if (rc != LY_OK) {
        freeRef(r);
        ly__program_release(s, old);
        pthread_mutex_unlock(&s->replace_mu);
        return rc;
    }
    pthread_mutex_lock(&s->prog_mu);
    r->refs = 1; /* current */
    r->next = s->live;
    s->live = r;
    s->cur = r;
    pthread_mutex_unlock(&s->prog_mu);
    fillInfo(r, out);
    out->replaced = true;
    ly__program_release(s, old); /* this call's reference */
    ly__program_release(s, old); /* the reference of being current */
    pthread_mutex_unlock(&s->replace_mu);
    return LY_OK;
}

ly_err ly_service_program_replace(ly_service *s, const char *text, size_t len, ly_time now,
                                  ly_program_info *out, ly_error *err)
{
    return replace(s, text, len, true, now, out, err);
}

ly_err ly_service_program_reload(ly_service *s, ly_time now, ly_program_info *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (!s->program_path)
        return ly_error_set(err, LY_EINVAL, "program_unreadable", NULL, "no program file to read");
    char *text;
    size_t len;
    ly_err rc = readFile(s->program_path, &text, &len, err);
    if (rc != LY_OK) return rc;
    rc = replace(s, text, len, false, now, out, err);
    free(text);
    return rc;
}

ly_err ly_service_program_get(ly_service *s, ly_arena *a, const char **text, ly_program_info *out,
                              ly_error *err)
{
    memset(out, 0, sizeof *out);
    ly_program_ref *r = ly__program_acquire(s);
    fillInfo(r, out);
    *text = ly_arena_strndup(a, r->text, r->len);
    ly__program_release(s, r);
    return *text ? LY_OK : oom(err);
}
