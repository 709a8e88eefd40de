/*
 * tend_shm: a shared array of fixed-size elements with a robust lock (see
 * include/tend/shm.h for the contract and docs/libtend.md for the layout).
 *
 * Layout: the header (the common segment header, the geometry, and the lock
 * word on its own cache line), then the elements from data_off (a multiple
 * of 64) on.  The lock is sync.c's: a 64-bit word holding the owner's token,
 * taken over by a waiter when the owner is dead.  The word is plain data, so
 * a corrupted one is harmless: its "owner" is not alive and the next locker
 * takes it over and reports it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/seg.h"
#include "lib/sync.h"
#include "tend/shm.h"

#define SHM_MAGIC 0x316d6873446e6554ull /* "TenDshm1" */
#define SHM_VERSION 1u

struct shm_hdr {
	struct tend__seg_hdr seg;
	uint64_t nelem;
	uint64_t elem_size;
	uint64_t data_off;
	_Alignas(64) _Atomic uint64_t lock;
};

struct tend_shm {
	struct tend__seg seg;
	struct shm_hdr *h;
	unsigned char *data;
	size_t nelem;
	size_t elem_size;
};

/* The object's size for a geometry, or a negative errno. */
static int geometry(uint64_t nelem, uint64_t elem_size, uint64_t *ret_data_off, uint64_t *ret_total)
{
	uint64_t off = tend__align_up(sizeof(struct shm_hdr), 64);

	if (nelem < 1 || nelem > TEND_SHM_NELEM_MAX || elem_size < 1 || elem_size > TEND_SHM_ELEM_MAX)
		return -EINVAL;
	/* nelem <= 2^32, elem_size <= 2^24: the product fits in 64 bits */
	if (nelem * elem_size > TEND__SEG_MAX - off)
		return -EFBIG;
	*ret_data_off = off;
	*ret_total = off + nelem * elem_size;
	return 0;
}

static void fill_handle(tend_shm *s, uint64_t nelem, uint64_t elem_size, uint64_t data_off)
{
	s->h = (struct shm_hdr *)s->seg.base;
	s->data = s->seg.base + data_off;
	s->nelem = (size_t)nelem;
	s->elem_size = (size_t)elem_size;
}

int tend_shm_create(tend_shm **ret_s, const char *name, size_t nelem, size_t elem_size, unsigned mode)
{
	uint64_t off, total;
	tend_shm *s;
	int r;

	if (!ret_s)
		return -EINVAL;
	r = geometry(nelem, elem_size, &off, &total);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = tend__seg_create(&s->seg, name, total, mode);
	if (r < 0)
		goto out_free;
	fill_handle(s, nelem, elem_size, off);
	s->h->nelem = nelem;
	s->h->elem_size = elem_size;
	s->h->data_off = off;
	atomic_store_explicit(&s->h->lock, 0, memory_order_relaxed);
	tend__seg_publish(&s->seg, SHM_MAGIC, SHM_VERSION, sizeof(struct shm_hdr));
	*ret_s = s;
	return 0;

out_free:
	free(s);
	return r;
}

/* Check the array header of a mapped segment and fill the handle from it
 * (tend__obj_open's adopt). */
static int adopt(void *handle)
{
	tend_shm *s = handle;
	const struct shm_hdr *h = (const struct shm_hdr *)s->seg.base;
	uint64_t off, total;

	/* The segment is at least a header long (tend__seg_open checked). */
	if (geometry(h->nelem, h->elem_size, &off, &total) < 0 || off != h->data_off || total != s->seg.size)
		return -EBADMSG;
	fill_handle(s, h->nelem, h->elem_size, off);
	return 0;
}

static int open_common(tend_shm **ret_s, const char *name, int fd)
{
	void *s;
	int r;

	if (!ret_s)
		return -EINVAL;
	r = tend__obj_open(&s, sizeof(tend_shm), name, fd, SHM_MAGIC, SHM_VERSION, sizeof(struct shm_hdr), adopt);
	if (r == 0)
		*ret_s = s;
	return r;
}

int tend_shm_open(tend_shm **ret_s, const char *name)
{
	if (!name)
		return -EINVAL;
	return open_common(ret_s, name, -1);
}

int tend_shm_open_fd(tend_shm **ret_s, int fd)
{
	return open_common(ret_s, NULL, fd);
}

int tend_shm_unlink(const char *name)
{
	return tend__seg_unlink(name);
}

tend_shm *tend_shm_free(tend_shm *s)
{
	if (s) {
		tend__seg_close(&s->seg);
		free(s);
	}
	return NULL;
}

/* ---- the lock ------------------------------------------------------------ */

int tend_shm_timedlock(tend_shm *s, int64_t timeout_ns)
{
	struct tend__deadline d;
	uint64_t me;

	if (!s)
		return -EINVAL;
	me = tend__token();
	/* Only this thread can have written its own token there, so this check
	 * does not race; without it tend__lock would take the lock "over". */
	if ((atomic_load_explicit(&s->h->lock, memory_order_relaxed) & ~TEND__LOCK_WAITERS) == me)
		return -EDEADLK;
	tend__deadline_init(&d, timeout_ns);
	return tend__lock(&s->h->lock, me, &d);
}

int tend_shm_lock(tend_shm *s)
{
	return tend_shm_timedlock(s, TEND_FOREVER);
}

int tend_shm_trylock(tend_shm *s)
{
	return tend_shm_timedlock(s, TEND_NOWAIT);
}

int tend_shm_unlock(tend_shm *s)
{
	if (!s)
		return -EINVAL;
	if ((atomic_load_explicit(&s->h->lock, memory_order_relaxed) & ~TEND__LOCK_WAITERS) != tend__token())
		return -EPERM;
	tend__unlock(&s->h->lock);
	return 0;
}

/* ---- elements ------------------------------------------------------------ */

void *tend_shm_at(tend_shm *s, size_t index)
{
	if (!s || index >= s->nelem)
		return NULL;
	return s->data + index * s->elem_size;
}

/* Copy element INDEX out to OUT, or IN over it, under the lock. */
static int copy_elem(tend_shm *s, size_t index, void *out, const void *in)
{
	unsigned char *e;
	int r;

	if (!s || (!out && !in))
		return -EINVAL;
	if (index >= s->nelem)
		return -ERANGE;
	r = tend_shm_lock(s);
	if (r < 0)
		return r;
	e = s->data + index * s->elem_size;
	if (out)
		memcpy(out, e, s->elem_size);
	else if (in)
		memcpy(e, in, s->elem_size);
	tend__unlock(&s->h->lock);
	return r;
}

int tend_shm_get(tend_shm *s, size_t index, void *buf)
{
	return copy_elem(s, index, buf, NULL);
}

int tend_shm_set(tend_shm *s, size_t index, const void *val)
{
	return copy_elem(s, index, NULL, val);
}

size_t tend_shm_nelem(const tend_shm *s)
{
	return s->nelem;
}

size_t tend_shm_elem_size(const tend_shm *s)
{
	return s->elem_size;
}

int tend_shm_fd(const tend_shm *s)
{
	return s->seg.fd;
}
