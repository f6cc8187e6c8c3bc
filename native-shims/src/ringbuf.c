#include "ringbuf.h"

#include "util.h"

#include <string.h>
#include <sys/mman.h>

int hlx_ring_init(struct hlx_ring *r, size_t size)
{
    /* mmap, not malloc: untouched pages stay out of the monitor's PSS, and freeing returns them. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    r->buf = p;
    r->size = size;
    r->head = r->used = 0;
    return 0;
}

void hlx_ring_free(struct hlx_ring *r)
{
    if (r->buf)
        munmap(r->buf, r->size);
    r->buf = NULL;
}

void hlx_ring_write(struct hlx_ring *r, const char *data, size_t len)
{
    if (len >= r->size) {
        data += len - r->size;
        len = r->size;
    }
    size_t first = r->size - r->head < len ? r->size - r->head : len;
    memcpy(r->buf + r->head, data, first);
    memcpy(r->buf, data + first, len - first);
    r->head = (r->head + len) % r->size;
    r->used = r->used + len > r->size ? r->size : r->used + len;
}

size_t hlx_ring_copy(const struct hlx_ring *r, char *out)
{
    size_t start = (r->head + r->size - r->used) % r->size;
    size_t first = r->size - start < r->used ? r->size - start : r->used;
    memcpy(out, r->buf + start, first);
    memcpy(out + first, r->buf, r->used - first);
    return r->used;
}

int hlx_ring_dump(const struct hlx_ring *r, int fd)
{
    size_t start = (r->head + r->size - r->used) % r->size;
    size_t first = r->size - start < r->used ? r->size - start : r->used;
    if (hlx_write_all(fd, r->buf + start, first) < 0)
        return -1;
    return hlx_write_all(fd, r->buf, r->used - first);
}
