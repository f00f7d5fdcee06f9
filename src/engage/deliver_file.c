/*
 * deliver_file.c - the file adapter, for development and for piping into other tools: each
 * message's envelope as one JSON line, appended to a file (one write(2) with O_APPEND, then
 * fdatasync unless turned off) or written to standard output.
 */
#include "engage/deliver_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool writeAll(int fd, const char *p, size_t len, int *e)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            *e = errno;
            return false;
        }
        p += w;
        len -= (size_t)w;
    }
    return true;
}

void ly__deliver_file(const ly_channel_config *ch, const char *line, size_t len,
                      ly__attempt *out)
{
    memset(out, 0, sizeof *out);
    /* Lines of concurrent threads must not interleave. */
    pthread_mutex_lock(ch->lock_);
    int e = 0;
    bool ok;
    if (strcmp(ch->path, "-") == 0) {
        fflush(stdout);
        ok = writeAll(STDOUT_FILENO, line, len, &e);
    } else {
        int fd = open(ch->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            e = errno;
            ok = false;
        } else {
            ok = writeAll(fd, line, len, &e);
            if (ok && ch->fsync && fdatasync(fd) != 0) {
                e = errno;
                ok = false;
            }
            if (close(fd) != 0 && ok) {
                e = errno;
                ok = false;
            }
        }
    }
    pthread_mutex_unlock(ch->lock_);
    out->ok = ok;
    if (!ok) snprintf(out->error, sizeof out->error, "file %s: %s", ch->path, strerror(e));
}
