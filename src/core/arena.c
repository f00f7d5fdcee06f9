/*
 * arena.c - request-scoped memory: bump allocation from a list of blocks, freed all at once.
 */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_BLOCK 65536

struct ly_arena_block {
    ly_arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* Keeps the data that follows the header 16-byte aligned. */
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

/* Blocks come from calloc and are never reused before ly_arena_free, so every byte handed
 * out is already zero. A request larger than a standard block gets a block of its own. */
void *ly_arena_alloc(ly_arena *a, size_t n)
{
    if (n == 0) n = 1;
    if (n > SIZE_MAX - ARENA_ALIGN - sizeof(ly_arena_block)) return NULL;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    ly_arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        ly_arena_block *nb = calloc(1, sizeof *nb + size);
        if (!nb) return NULL;
        nb->size = size;
        /* A big one-off block goes behind the current one so its free space stays usable. */
        if (b && need > ARENA_BLOCK) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += n;
    return p;
}

char *ly_arena_strndup(ly_arena *a, const char *s, size_t n)
{
    if (!s) return NULL;
    if (n == SIZE_MAX) return NULL;
    char *p = ly_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ly_arena_strdup(ly_arena *a, const char *s)
{
    return s ? ly_arena_strndup(a, s, strlen(s)) : NULL;
}

char *ly_arena_printf(ly_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) return NULL;
    char *p = ly_arena_alloc(a, (size_t)len + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return p;
}

void ly_arena_free(ly_arena *a)
{
    ly_arena_block *b = a->head;
    while (b) {
        ly_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}
