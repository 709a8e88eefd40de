/*
 * Fuzz the open path of libtend's shared-memory objects: the input bytes are
 * a whole shared-memory object (a memfd of exactly that size), opened as a
 * queue, an array, a counter and a map through their *_open_fd calls.  Whatever
 * the bytes, an open must return 0 or a negative errno, never crash, and an
 * object that opens must survive a few non-blocking calls (a get and a put,
 * a trylock and a copy, an add and a sum; a map's gets, walk, writes,
 * sweep and stats) without reading or writing out of its bounds.  Lock waits
 * of the map are bounded (20 ms): a fuzzed lock word may name a live thread.  Seeds: tests/fuzz/corpus/lib_open/ (made by
 * tests/fuzz/gen_lib_open_corpus.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/map-internal.h"
#include "tend/counter.h"
#include "tend/map.h"
#include "tend/queue.h"
#include "tend/shm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd_of(const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	while (off < size) {
		n = write(fd, data + off, size - off);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return fd;
}

static void check(int r)
{
	/* 0 or a negative errno: anything else is a bug */
	if (r > 0 || r < -4095)
		abort();
}

/* An open's result: 0 with a handle, or a negative errno with the handle
 * untouched (NULL); anything else is a bug.  True when it opened. */
static bool opened(int r, const void *h)
{
	check(r);
	if (r < 0 && h)
		abort();
	return r == 0;
}

static void try_queue(int fd)
{
	tend_queue *q = NULL;
	unsigned char *buf;
	unsigned prio;
	size_t cap;
	int r;

	if (!opened(tend_queue_open_fd(&q, fd), q))
		return;
	cap = tend_queue_max_msg(q);
	buf = malloc(cap);
	if (buf) {
		(void)tend_queue_qsize(q);
		(void)tend_queue_empty(q);
		(void)tend_queue_full(q, 0);
		(void)tend_queue_closed(q);
		r = tend_queue_get(q, buf, cap, &prio, TEND_NOWAIT);
		if (r > (int)cap || (r >= 0 && prio >= tend_queue_nprio(q)))
			abort();
		memset(buf, 0x5a, cap);
		r = tend_queue_put(q, buf, cap, tend_queue_nprio(q) - 1, TEND_NOWAIT);
		check(r);
		free(buf);
	}
	tend_queue_free(q);
}

static void try_shm(int fd)
{
	tend_shm *s = NULL;
	unsigned char *buf, *p;
	size_t n, es;
	int r;

	if (!opened(tend_shm_open_fd(&s, fd), s))
		return;
	n = tend_shm_nelem(s);
	es = tend_shm_elem_size(s);
	p = tend_shm_at(s, n - 1);
	if (!p || tend_shm_at(s, n))
		abort();
	p[es - 1] ^= 1; /* the last byte of the last element is mapped */
	r = tend_shm_trylock(s);
	/* -EDEADLK: the word names this very thread (the fuzzer learns tokens) */
	if (r != 0 && r != 1 && r != -EAGAIN && r != -EDEADLK)
		abort();
	/* A lock word that names a live thread stays held: get() would wait. */
	if (r >= 0) {
		if (tend_shm_unlock(s) != 0)
			abort();
		buf = malloc(es);
		if (buf) {
			if (tend_shm_get(s, 0, buf) != 0 || tend_shm_set(s, n - 1, buf) != 0)
				abort();
			free(buf);
		}
	}
	tend_shm_free(s);
}

static void try_counter(int fd)
{
	tend_counter *c = NULL;
	int64_t v;

	if (!opened(tend_counter_open_fd(&c, fd), c))
		return;
	if (tend_counter_sum(c, &v) != 0)
		abort();
	/* A claim asks /proc about every slot's owner: keep it cheap. */
	if (tend_counter_kind(c) != TEND_COUNTER_LOCKED && tend_counter_nslots(c) <= 256) {
		if (tend_counter_add(c, 1) != 0)
			abort();
	}
	tend_counter_free(c);
}

static void try_map(int fd)
{
	struct tend_map_stats st;
	tend_map *m = NULL;
	unsigned char key[TEND_MAP_KEY_MAX], *buf;
	uint64_t cursor = 0, v = 7;
	size_t klen, cap;
	int r, n;

	if (!opened(tend_map_open_fd(&m, fd), m))
		return;
	cap = tend_map_max_value(m);
	buf = malloc(cap);
	if (!buf)
		goto out_free;
	/* every key the walk finds, read back */
	for (n = 0; n < 64 && (r = tend_map_next(m, &cursor, key, sizeof(key), &klen)) == 1; n++) {
		if (klen < 1 || klen > TEND_MAP_KEY_MAX)
			abort();
		r = tend_map_get(m, key, klen, buf, cap, NULL);
		if (r > (int)cap)
			abort();
	}
	check(r);
	memset(buf, 0x5a, cap);
	check(tend_map_set(m, "fuzz", 4, buf, cap, 0, NULL));
	check(tend_map_set(m, "n", 1, &v, 8, 1000, NULL));
	r = tend_map_incr(m, "n", 1, 1, NULL);
	check(r);
	check(tend_map_get(m, "fuzz", 4, buf, cap, NULL) > (int)cap ? 1 : 0);
	check(tend_map_delete(m, "fuzz", 4));
	r = tend_map_sweep(m);
	if (r < 0)
		check(r);
	if (tend_map_stats(m, &st) != 0)
		abort();
	free(buf);
out_free:
	tend_map_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;

	if (size > (1u << 22))
		return 0;
	fd = memfd_of(data, size);
	if (fd < 0)
		return 0;
	try_queue(fd);
	try_shm(fd);
	try_counter(fd);
	tend__map_lock_timeout_ns = 20000000;
	try_map(fd);
	close(fd);
	return 0;
}
