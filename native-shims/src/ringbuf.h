/* Console ring buffer: keeps the last `size` bytes the container wrote to its console. */
#ifndef HLX_RINGBUF_H
#define HLX_RINGBUF_H

#include <stddef.h>

struct hlx_ring {
    char *buf;
    size_t size;  /* capacity */
    size_t head;  /* next write position */
    size_t used;  /* bytes held (<= size) */
};

/* Allocates lazily-touched memory (pages cost nothing until the console writes). */
int hlx_ring_init(struct hlx_ring *r, size_t size);
void hlx_ring_free(struct hlx_ring *r);
void hlx_ring_write(struct hlx_ring *r, const char *data, size_t len);
/* Copies the contents, oldest first, into out (which holds at least r->used bytes). */
size_t hlx_ring_copy(const struct hlx_ring *r, char *out);
/* Writes the contents, oldest first, to fd. Returns 0 or -1. */
int hlx_ring_dump(const struct hlx_ring *r, int fd);

#endif
