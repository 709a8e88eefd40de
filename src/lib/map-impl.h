/*
 * libtend internals shared by the files of tend_map, and only by them (its
 * tests see map-internal.h): the layout, the inline helpers of the read and
 * write paths, and the functions that cross files.  map.c: geometry, open
 * and close, reads; map-store.c: what is done under a stripe lock, writes;
 * map-walk.c: walking, sweeping, stats and the consistency check.
 */
#ifndef TEND_LIB_MAP_IMPL_H
#define TEND_LIB_MAP_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/map-internal.h"
#include "lib/seg.h"
#include "lib/sync.h"
#include "tend/map.h"

#define MAP_MAGIC 0x3170614d446e6554ull /* "TenDMap1" */
#define MAP_VERSION 1u

#define SLOTS 7u
#define UNIT 16u
#define ITEM_HDR 32u
#define PAGE_MIN_SHIFT 14u
#define CLASSES_MAX 128u
#define STRIPES_MAX 64u
#define STAT_FLUSH 256u
#define SPIN_ODD 4000 /* reads of an odd seqlock before asking its stripe's lock */

/* slot word */
#define W_UNIT(w) ((uint32_t)(w))
#define W_TAG(w) ((uint32_t)((w) >> 32) & 0xffffu)
#define W_CLS(w) ((uint32_t)((w) >> 48) & 0xffu)
#define W_TTL ((uint64_t)1 << 62)
#define W_REF ((uint64_t)1 << 63)

/* page meta word: owner stripe + 1, size class, chunks carved */
#define PM_OWNER(v) ((uint32_t)(v) & 0xffffu)
#define PM_CLS(v) ((uint32_t)((v) >> 16) & 0xffu)
#define PM_CARVED(v) ((uint32_t)((v) >> 32))
#define PM_MAKE(owner, cls, carved) ((uint64_t)(owner) | (uint64_t)(cls) << 16 | (uint64_t)(carved) << 32)
#define PAGES_GONE UINT64_MAX /* page_hint once every page is claimed (pages never come back) */

/* A read of an item field that a writer may change meanwhile (readers): one
 * load, never repeated by the compiler. */
#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* intent record ops */
enum { OP_NONE, OP_POP, OP_CARVE, OP_WRITE, OP_PUBLISH, OP_INCR, OP_MOVE };

struct bucket {
	_Alignas(64) _Atomic uint32_t seq;
	uint32_t pad;
	_Atomic uint64_t slot[SLOTS];
};

struct item {
	uint64_t version;
	uint64_t expire_ms; /* CLOCK_MONOTONIC ms, 0: never */
	uint32_t vlen;
	uint8_t klen;
	uint8_t cls;
	uint16_t pad;
	uint32_t next_free; /* free-list link while the chunk is free */
	/* key, then value */
};

struct stripe {
	_Alignas(64) _Atomic uint64_t lock;
	uint64_t vctr;     /* versions made by this stripe */
	uint32_t hand;     /* CLOCK hand: slot position in the stripe */
	uint32_t sweep;    /* next bucket of the expiry sweep */
	/* intent record: what the lock holder is doing */
	uint32_t op;
	uint32_t cls;
	uint32_t bucket;   /* global bucket index */
	uint32_t slot;
	uint32_t x;        /* chunk being taken, written, or incremented */
	uint32_t phand;    /* next page to look at for a reclaim */
	uint32_t reclaim1; /* page being moved to class reclaim_cls, + 1 (0: none) */
	uint32_t reclaim_cls;
	uint64_t new_word;
	uint64_t old_word;
	uint64_t redo_value;
	uint64_t redo_version;
	/* counters, written by the lock holder, read by anyone */
	_Alignas(64) _Atomic uint64_t items;
	_Atomic uint64_t bytes;
	_Atomic uint64_t mem;
	_Atomic uint64_t evictions;
	_Atomic uint64_t expirations;
};

struct scls {
	uint32_t free_head; /* unit of the first free chunk, 0: none */
	uint32_t page1;     /* page being carved + 1 (a hint) */
};

struct mhdr {
	struct tend__seg_hdr seg;
	uint64_t capacity;
	uint64_t max_value;
	uint64_t mem_bytes;
	uint32_t flags;
	uint32_t reserved;
	uint64_t seed;
	uint64_t stripes_off, scls_off, pmeta_off, buckets_off, arena_off;
	_Alignas(64) _Atomic uint64_t hits;
	_Atomic uint64_t misses;
	_Atomic uint64_t retries;
	_Alignas(64) _Atomic uint64_t page_hint;
};

struct geometry {
	uint32_t nstripes, stripe_bits, bps, nclasses, page_shift;
	uint32_t size[CLASSES_MAX];    /* chunk bytes of each class */
	uint32_t per_page[CLASSES_MAX];
	uint64_t npages, mem;
	uint64_t stripes_off, scls_off, pmeta_off, buckets_off, arena_off, total;
};

struct tend_map {
	struct tend__seg seg;
	struct mhdr *h;
	struct stripe *st;
	struct scls *scls;
	_Atomic uint64_t *pmeta;
	struct bucket *bk;
	unsigned char *base;
	struct geometry g;
	uint64_t capacity, max_value;
	uint64_t seed;
	uint32_t flags;
	uint32_t lo_unit; /* first unit of the arena */
	uint64_t hi_byte; /* end of the arena */
	_Atomic uint64_t l_hits, l_misses, l_retries;
};

struct hkey {
	const unsigned char *key;
	uint32_t klen;
	uint32_t s, b1, b2; /* b1, b2: global bucket indexes */
	uint32_t tag;
};

/* A found item: its bucket, slot and word. */
struct where {
	uint32_t b, si;
	uint64_t w;
};

/* ---- functions that cross files -------------------------------------------- */

/* map.c */

/* Check the map header of a mapped segment (its geometry recomputed from
 * the creation arguments must give the same offsets and size) and fill the
 * handle from it (tend__obj_open's adopt).  Returns 0 or -EBADMSG. */
TEND__HIDDEN int tend__map_adopt(void *handle);

/* Add the handle's own hits, misses and read retries to the map's. */
TEND__HIDDEN void tend__map_flush_stats(tend_map *m);

/* Hash key (klen bytes) into *k: its stripe, buckets and tag. */
TEND__HIDDEN void tend__map_hash_key(const tend_map *m, const void *key, size_t klen, struct hkey *k);

/* Unit u is a chunk of class c carved from a page stripe s owns (what a
 * writer checks before it trusts a link or a word read from the map). */
TEND__HIDDEN bool tend__map_chunk_valid(const tend_map *m, uint32_t s, uint32_t c, uint32_t u);

/* Find key k in its buckets (writer side).  Returns true with *ret. */
TEND__HIDDEN bool tend__map_find(tend_map *m, const struct hkey *k, struct where *ret);

/* map-store.c */

/* Take stripe s's lock (a wait bounded by tend__map_lock_timeout_ns), then
 * finish or undo what a dead owner was doing.  Returns 0 or the -errno of
 * tend__lock (-ETIMEDOUT). */
TEND__HIDDEN int tend__map_lock_stripe(tend_map *m, uint32_t s);

/* A bucket stays odd: its writer is slow, or dead.  Wait for its stripe's
 * lock, which repairs a dead writer's work (and any odd bucket a damaged
 * map holds).  Returns 0, or -ETIMEDOUT (tend__map_lock_timeout_ns only). */
TEND__HIDDEN int tend__map_help_stripe(tend_map *m, uint32_t s);

/* Remove the expired items of bucket b of stripe s (lock held).  Returns
 * how many. */
TEND__HIDDEN int tend__map_sweep_bucket(tend_map *m, uint32_t s, uint32_t b, uint64_t *now);

/* ---- small helpers ---------------------------------------------------------- */

static inline void fault(int point)
{
	if (__builtin_expect(tend__fault_hook != NULL, 0))
		tend__fault_hook(point);
}

static inline bool key_ok(const void *key, size_t klen)
{
	return key && klen >= 1 && klen <= TEND_MAP_KEY_MAX;
}

static inline uint64_t now_ms(void)
{
	return tend__now_ns() / 1000000u;
}

static inline struct item *item_at(const tend_map *m, uint32_t unit)
{
	return (struct item *)(void *)(m->base + (uint64_t)unit * UNIT);
}

/* The chunk a slot word names lies inside the arena (all a reader needs:
 * the seqlock tells it whether what it read there was consistent). */
static inline bool chunk_in_arena(const tend_map *m, uint64_t w)
{
	uint32_t c = W_CLS(w);

	return W_UNIT(w) >= m->lo_unit && c < m->g.nclasses &&
	       (uint64_t)W_UNIT(w) * UNIT + m->g.size[c] <= m->hi_byte;
}

static inline uint64_t make_word(uint32_t unit, uint32_t tag, uint32_t cls, bool ttl)
{
	return (uint64_t)unit | (uint64_t)tag << 32 | (uint64_t)cls << 48 | (ttl ? W_TTL : 0);
}

static inline struct scls *scls_of(const tend_map *m, uint32_t s, uint32_t c)
{
	return &m->scls[(uint64_t)s * m->g.nclasses + c];
}

static inline void stat_add(_Atomic uint64_t *ctr, int64_t d)
{
	atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + (uint64_t)d,
			      memory_order_relaxed);
}

/* ---- seqlock: writers, then readers ------------------------------------------- */

static inline void seq_odd(struct bucket *b)
{
	atomic_store_explicit(&b->seq, atomic_load_explicit(&b->seq, memory_order_relaxed) + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static inline void seq_even(struct bucket *b)
{
	atomic_store_explicit(&b->seq, atomic_load_explicit(&b->seq, memory_order_relaxed) + 1, memory_order_release);
}

static inline uint32_t read_begin(tend_map *m, const struct bucket *bk, uint32_t s)
{
	uint32_t v;
	int spins = 0;

	for (;;) {
		v = atomic_load_explicit(&bk->seq, memory_order_acquire);
		if (!(v & 1u))
			return v;
		if (++spins < SPIN_ODD) {
			tend__cpu_relax();
			continue;
		}
		if (tend__map_help_stripe(m, s) < 0)
			return v; /* a bounded wait (fuzzing) on a damaged map: read anyway */
		spins = 0;
	}
}

static inline bool read_retry(const struct bucket *bk, uint32_t v)
{
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&bk->seq, memory_order_relaxed) != v;
}

/* ---- lookups (stripe lock held, or as a reader under a seqlock) ---------------- */

static inline bool item_is(const tend_map *m, uint64_t w, const struct hkey *k)
{
	const struct item *it;

	if (!W_UNIT(w) || W_TAG(w) != k->tag || !chunk_in_arena(m, w))
		return false;
	it = item_at(m, W_UNIT(w));
	return RD(it->klen) == k->klen && ITEM_HDR + (uint64_t)k->klen <= m->g.size[W_CLS(w)] &&
	       memcmp((const unsigned char *)it + ITEM_HDR, k->key, k->klen) == 0;
}

static inline bool expired(const tend_map *m, uint64_t w, uint64_t *now)
{
	const struct item *it = item_at(m, W_UNIT(w));
	uint64_t e;

	if (!(w & W_TTL) || (e = RD(it->expire_ms)) == 0)
		return false;
	if (*now == 0)
		*now = now_ms();
	return e <= *now;
}

/* ---- the stripe lock ---------------------------------------------------------- */

static inline void unlock_stripe(tend_map *m, uint32_t s)
{
	tend__unlock(&m->st[s].lock);
}

#endif
