/*
 * tend_map: a hash map in shared memory (see include/tend/map.h for the
 * contract and docs/libtend.md §6 for the protocol and why it survives a
 * SIGKILL at any instruction).
 *
 * Layout: the header, nstripes stripes (lock, intent record, counters),
 * per stripe and size class a free-list head and a carving hint, one meta
 * word per arena page, the buckets, then the arena pages.
 *
 * Index: bucket = a 64-byte line, a seqlock word and 7 slot words.  A slot
 * word names an item's chunk (arena offset in 16-byte units), 16 bits of the
 * key's hash, the chunk's size class, a "has a TTL" bit and the CLOCK
 * "referenced" bit (set by gets).  A key lives in one of two buckets of its
 * stripe (b1 preferred).  Items never move; a write copies the new item into
 * a fresh chunk and publishes it with one store of its slot word (the
 * commit), with the bucket's seqlock odd around the store; the old chunk is
 * freed after the seqlock is even again.  A reader that read a bucket's
 * seqlock even, then the slot, the chunk and the seqlock again unchanged
 * read an item that no write touched meanwhile (its chunk cannot have been
 * freed and reused without the seqlock moving).
 *
 * Arena: pages (64 KiB or more) belong to one stripe and one size class once
 * claimed (a CAS of the page's meta word); a page is carved chunk by chunk
 * (its carved count in the meta word is the commit), freed chunks go to the
 * stripe's free list of their class.  Everything a writer changes is its own
 * stripe's, under its lock, so one intent record per stripe says what a dead
 * writer was doing: the lock's next owner finishes or undoes it (recover()).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

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

enum { ST_SET, ST_ADD, ST_REPLACE, ST_CAS };

int64_t tend__map_lock_timeout_ns = -1;

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

/* ---- geometry -------------------------------------------------------------- */

static int geometry(struct geometry *g, uint64_t capacity, uint64_t max_value, uint64_t mem)
{
	uint64_t max_item, page, nbuckets, sz;
	uint32_t n = 0;

	if (capacity < 1 || capacity > TEND_MAP_CAPACITY_MAX || max_value < 1 || max_value > TEND_MAP_VALUE_MAX)
		return -EINVAL;
	max_item = tend__align_up(ITEM_HDR + TEND_MAP_KEY_MAX + max_value, UNIT);
	g->page_shift = PAGE_MIN_SHIFT;
	while (((uint64_t)1 << g->page_shift) < max_item)
		g->page_shift++;
	page = (uint64_t)1 << g->page_shift;
	if (mem == 0)
		mem = capacity * 128 > (page << 6) ? capacity * 128 : page << 6;
	if (mem > TEND_MAP_MEM_MAX)
		return -EINVAL;
	mem = tend__align_up(mem, page);
	g->mem = mem;
	g->npages = mem >> g->page_shift;
	/* size classes: 16-byte steps to 256, then about 1/8 apart */
	for (sz = 48; n < CLASSES_MAX; n++) {
		if (sz >= max_item)
			sz = max_item;
		g->size[n] = (uint32_t)sz;
		g->per_page[n] = (uint32_t)(page / sz);
		if (sz == max_item)
			break;
		sz = sz < 256 ? sz + UNIT : tend__align_up(sz + sz / 8, UNIT);
	}
	if (n == CLASSES_MAX)
		return -EINVAL; /* not reached for max_value <= TEND_MAP_VALUE_MAX */
	g->nclasses = n + 1;
	/* buckets: 7 slots each, filled to 4/7 at capacity (stripes vary by a
	 * few %: at 2/3, 1 map in 15 evicted a key or more before capacity) */
	nbuckets = (capacity + 3) / 4;
	/* stripes: up to 64, each with 16 pages (for pages of a few sizes) and
	 * 64 buckets (so that keys spread evenly) or more */
	g->nstripes = STRIPES_MAX;
	g->stripe_bits = 6;
	while (g->nstripes > 1 && ((uint64_t)g->nstripes * 16 > g->npages || (uint64_t)g->nstripes * 64 > nbuckets)) {
		g->nstripes >>= 1;
		g->stripe_bits--;
	}
	g->bps = (uint32_t)((nbuckets + g->nstripes - 1) / g->nstripes);
	if (g->bps < 1)
		g->bps = 1;
	g->stripes_off = tend__align_up(sizeof(struct mhdr), 64);
	g->scls_off = g->stripes_off + (uint64_t)g->nstripes * sizeof(struct stripe);
	g->pmeta_off = tend__align_up(g->scls_off + (uint64_t)g->nstripes * g->nclasses * sizeof(struct scls), 64);
	g->buckets_off = tend__align_up(g->pmeta_off + g->npages * 8, 64);
	g->arena_off = tend__align_up(g->buckets_off + (uint64_t)g->nstripes * g->bps * sizeof(struct bucket), 4096);
	g->total = g->arena_off + mem;
	/* chunks are named by 32-bit unit numbers */
	if (g->total / UNIT > UINT32_MAX || g->total > TEND__SEG_MAX)
		return -EFBIG;
	return 0;
}

static void fill_handle(tend_map *m)
{
	const struct geometry *g = &m->g;

	m->base = m->seg.base;
	m->h = (struct mhdr *)m->seg.base;
	m->st = (struct stripe *)(m->base + g->stripes_off);
	m->scls = (struct scls *)(m->base + g->scls_off);
	m->pmeta = (_Atomic uint64_t *)(void *)(m->base + g->pmeta_off);
	m->bk = (struct bucket *)(m->base + g->buckets_off);
	/* huge pages where shmem allows them (shmem_enabled=advise): a get's
	 * misses then cost no page walk */
	(void)madvise(m->seg.base, m->seg.size, MADV_HUGEPAGE);
	m->lo_unit = (uint32_t)(g->arena_off / UNIT);
	m->hi_byte = g->total;
	atomic_store_explicit(&m->l_hits, 0, memory_order_relaxed);
	atomic_store_explicit(&m->l_misses, 0, memory_order_relaxed);
	atomic_store_explicit(&m->l_retries, 0, memory_order_relaxed);
}

int tend_map_create(tend_map **ret_m, const char *name, size_t capacity, size_t max_value, size_t mem_bytes,
		    unsigned flags, unsigned mode)
{
	tend_map *m;
	uint64_t seed = 0x243f6a8885a308d3ull;
	int r;

	if (!ret_m || (flags & ~TEND_MAP_NOEVICT))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = geometry(&m->g, capacity, max_value, mem_bytes);
	if (r < 0)
		goto out_free;
	r = tend__seg_create(&m->seg, name, m->g.total, mode);
	if (r < 0)
		goto out_free;
	fill_handle(m);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed ^= tend__now_ns(); /* any seed works; a random one resists key flooding */
	m->capacity = capacity;
	m->max_value = max_value;
	m->flags = flags;
	m->seed = seed;
	m->h->capacity = capacity;
	m->h->max_value = max_value;
	m->h->mem_bytes = m->g.mem;
	m->h->flags = flags;
	m->h->seed = seed;
	m->h->stripes_off = m->g.stripes_off;
	m->h->scls_off = m->g.scls_off;
	m->h->pmeta_off = m->g.pmeta_off;
	m->h->buckets_off = m->g.buckets_off;
	m->h->arena_off = m->g.arena_off;
	tend__seg_publish(&m->seg, MAP_MAGIC, MAP_VERSION, sizeof(struct mhdr));
	*ret_m = m;
	return 0;

out_free:
	free(m);
	return r;
}

/* Check the map header of a mapped segment (its geometry recomputed from
 * the creation arguments must give the same offsets and size) and fill the
 * handle from it (tend__obj_open's adopt). */
static int adopt(void *handle)
{
	tend_map *m = handle;
	const struct mhdr *h = (const struct mhdr *)m->seg.base;

	if ((h->flags & ~TEND_MAP_NOEVICT) || geometry(&m->g, h->capacity, h->max_value, h->mem_bytes) < 0 ||
	    m->g.mem != h->mem_bytes || m->g.stripes_off != h->stripes_off || m->g.scls_off != h->scls_off ||
	    m->g.pmeta_off != h->pmeta_off || m->g.buckets_off != h->buckets_off ||
	    m->g.arena_off != h->arena_off || m->g.total != m->seg.size)
		return -EBADMSG;
	fill_handle(m);
	m->capacity = h->capacity;
	m->max_value = h->max_value;
	m->flags = h->flags;
	m->seed = h->seed;
	return 0;
}

static int open_common(tend_map **ret_m, const char *name, int fd)
{
	void *m;
	int r;

	if (!ret_m)
		return -EINVAL;
	r = tend__obj_open(&m, sizeof(tend_map), name, fd, MAP_MAGIC, MAP_VERSION, sizeof(struct mhdr), adopt);
	if (r == 0)
		*ret_m = m;
	return r;
}

int tend_map_open(tend_map **ret_m, const char *name)
{
	if (!name)
		return -EINVAL;
	return open_common(ret_m, name, -1);
}

int tend_map_open_fd(tend_map **ret_m, int fd)
{
	return open_common(ret_m, NULL, fd);
}

int tend_map_unlink(const char *name)
{
	return tend__seg_unlink(name);
}

static void flush_stats(tend_map *m)
{
	uint64_t h = atomic_exchange_explicit(&m->l_hits, 0, memory_order_relaxed);
	uint64_t x = atomic_exchange_explicit(&m->l_misses, 0, memory_order_relaxed);
	uint64_t y = atomic_exchange_explicit(&m->l_retries, 0, memory_order_relaxed);

	if (y)
		atomic_fetch_add_explicit(&m->h->retries, y, memory_order_relaxed);
	if (h)
		atomic_fetch_add_explicit(&m->h->hits, h, memory_order_relaxed);
	if (x)
		atomic_fetch_add_explicit(&m->h->misses, x, memory_order_relaxed);
}

tend_map *tend_map_free(tend_map *m)
{
	if (m) {
		flush_stats(m);
		tend__seg_close(&m->seg);
		free(m);
	}
	return NULL;
}

/* ---- small helpers ---------------------------------------------------------- */

static inline void fault(int point)
{
	if (__builtin_expect(tend__fault_hook != NULL, 0))
		tend__fault_hook(point);
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* A 64-bit hash of a short key (wyhash-like multiply-fold rounds). */
static uint64_t hash_bytes(const unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t h = seed ^ mix(n, 0x9e3779b97f4a7c15ull), a = 0, b = 0;

	while (n > 16) {
		h = mix(rd64(p) ^ 0xa0761d6478bd642full, rd64(p + 8) ^ h ^ 0xe7037ed1a0b428dbull);
		p += 16;
		n -= 16;
	}
	if (n > 8) {
		a = rd64(p);
		b = rd64(p + n - 8);
	} else if (n >= 4) {
		a = rd32(p);
		b = rd32(p + n - 4);
	} else if (n > 0) {
		a = (uint64_t)p[0] << 16 | (uint64_t)p[n / 2] << 8 | p[n - 1];
	}
	return mix(a ^ 0x8ebc6af09c88c6e3ull ^ h, b ^ 0x589965cc75374cc3ull);
}

static inline uint32_t reduce(uint32_t x, uint32_t n)
{
	return (uint32_t)(((uint64_t)x * n) >> 32);
}

static void hash_key(const tend_map *m, const void *key, size_t klen, struct hkey *k)
{
	uint64_t h = hash_bytes(key, klen, m->seed), h2 = mix(h, 0xd6e8feb86659fd93ull);

	k->key = key;
	k->klen = (uint32_t)klen;
	k->s = m->g.stripe_bits ? (uint32_t)(h >> (64 - m->g.stripe_bits)) : 0;
	k->tag = (uint32_t)(h >> 24) & 0xffffu;
	k->b1 = k->s * m->g.bps + reduce((uint32_t)h, m->g.bps);
	k->b2 = k->s * m->g.bps + reduce((uint32_t)h2, m->g.bps);
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

/* Unit u is a chunk of class c carved from a page stripe s owns (what a
 * writer checks before it trusts a link or a word read from the map). */
static bool chunk_valid(const tend_map *m, uint32_t s, uint32_t c, uint32_t u)
{
	uint64_t off, p, in, pm;

	if (c >= m->g.nclasses || u < m->lo_unit)
		return false;
	off = (uint64_t)u * UNIT - m->g.arena_off;
	p = off >> m->g.page_shift;
	if (p >= m->g.npages)
		return false;
	in = off - (p << m->g.page_shift);
	if (in % m->g.size[c] != 0)
		return false;
	pm = atomic_load_explicit(&m->pmeta[p], memory_order_relaxed);
	return PM_OWNER(pm) == s + 1 && PM_CLS(pm) == c && in / m->g.size[c] < PM_CARVED(pm) &&
	       PM_CARVED(pm) <= m->g.per_page[c];
}

static inline uint64_t make_word(uint32_t unit, uint32_t tag, uint32_t cls, bool ttl)
{
	return (uint64_t)unit | (uint64_t)tag << 32 | (uint64_t)cls << 48 | (ttl ? W_TTL : 0);
}

static uint32_t class_of(const tend_map *m, uint64_t bytes)
{
	uint32_t lo = 0, hi = m->g.nclasses - 1;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (m->g.size[mid] >= bytes)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static inline struct scls *scls_of(const tend_map *m, uint32_t s, uint32_t c)
{
	return &m->scls[(uint64_t)s * m->g.nclasses + c];
}

static inline void count_local(tend_map *m, _Atomic uint64_t *ctr)
{
	uint64_t v = atomic_load_explicit(ctr, memory_order_relaxed) + 1;

	atomic_store_explicit(ctr, v, memory_order_relaxed);
	if (__builtin_expect(v >= STAT_FLUSH, 0))
		flush_stats(m);
}

static inline void stat_add(_Atomic uint64_t *ctr, int64_t d)
{
	atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + (uint64_t)d,
			      memory_order_relaxed);
}

/* ---- seqlock ---------------------------------------------------------------- */

static inline void seq_odd(struct bucket *b)
{
	atomic_store_explicit(&b->seq, atomic_load_explicit(&b->seq, memory_order_relaxed) + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static inline void seq_even(struct bucket *b)
{
	atomic_store_explicit(&b->seq, atomic_load_explicit(&b->seq, memory_order_relaxed) + 1, memory_order_release);
}

/* ---- the free lists and pages (stripe lock held) ------------------------------ */

static void push_free(tend_map *m, uint32_t s, uint32_t c, uint32_t u)
{
	struct scls *sc = scls_of(m, s, c);

	item_at(m, u)->next_free = sc->free_head;
	sc->free_head = u; /* the commit of the push */
}

/* Push u unless it is on the list already (it is its head once pushed). */
static void push_once(tend_map *m, uint32_t s, uint32_t c, uint32_t u)
{
	if (chunk_valid(m, s, c, u) && scls_of(m, s, c)->free_head != u)
		push_free(m, s, c, u);
}

/* A page of stripe s and class c with chunks left to carve, or -1. */
static int64_t find_page(tend_map *m, uint32_t s, uint32_t c)
{
	struct scls *sc = scls_of(m, s, c);
	uint64_t p, pm, i, start;

	if (sc->page1 >= 1 && sc->page1 <= m->g.npages) {
		pm = atomic_load_explicit(&m->pmeta[sc->page1 - 1], memory_order_relaxed);
		if (PM_OWNER(pm) == s + 1 && PM_CLS(pm) == c && PM_CARVED(pm) < m->g.per_page[c])
			return (int64_t)sc->page1 - 1;
	}
	start = atomic_load_explicit(&m->h->page_hint, memory_order_relaxed);
	if (start == PAGES_GONE)
		return -1;
	/* claim a free page: one CAS of its meta word makes it ours (a writer
	 * killed before it noted the page in page1: see rescan_pages) */
	for (i = 0; i < m->g.npages; i++) {
		p = (start + i) % m->g.npages;
		pm = 0;
		if (atomic_load_explicit(&m->pmeta[p], memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong_explicit(&m->pmeta[p], &pm, PM_MAKE(s + 1, c, 0),
							    memory_order_relaxed, memory_order_relaxed)) {
			atomic_store_explicit(&m->h->page_hint, p + 1, memory_order_relaxed);
			sc->page1 = (uint32_t)p + 1;
			return (int64_t)p;
		}
	}
	atomic_store_explicit(&m->h->page_hint, PAGES_GONE, memory_order_relaxed);
	return -1;
}

/* Note in page1 a page of stripe s that still has chunks to carve, for
 * each class whose page1 has none (after a takeover: the dead writer may
 * have claimed a page and died before it noted it). */
static void rescan_pages(tend_map *m, uint32_t s)
{
	uint64_t p, pm;

	for (p = 0; p < m->g.npages; p++) {
		struct scls *sc;
		uint64_t hm;

		pm = atomic_load_explicit(&m->pmeta[p], memory_order_relaxed);
		if (PM_OWNER(pm) != s + 1 || PM_CLS(pm) >= m->g.nclasses ||
		    PM_CARVED(pm) >= m->g.per_page[PM_CLS(pm)])
			continue;
		sc = scls_of(m, s, PM_CLS(pm));
		hm = sc->page1 >= 1 && sc->page1 <= m->g.npages
			     ? atomic_load_explicit(&m->pmeta[sc->page1 - 1], memory_order_relaxed)
			     : 0;
		if (PM_OWNER(hm) != s + 1 || PM_CLS(hm) != PM_CLS(pm) || PM_CARVED(hm) >= m->g.per_page[PM_CLS(pm)])
			sc->page1 = (uint32_t)p + 1;
	}
}

/* Take a chunk of class c for stripe s into the intent record (op
 * OP_WRITE, x).  Returns 0 or -ENOSPC. */
static int take_chunk(tend_map *m, uint32_t s, uint32_t c)
{
	struct stripe *st = &m->st[s];
	struct scls *sc = scls_of(m, s, c);
	uint32_t u = sc->free_head, nxt, carved;
	uint64_t pm;
	int64_t p;

	if (u) {
		if (!chunk_valid(m, s, c, u)) {
			sc->free_head = 0; /* a damaged list: drop it */
		} else {
			nxt = item_at(m, u)->next_free;
			if (nxt && !chunk_valid(m, s, c, nxt))
				nxt = 0;
			st->cls = c;
			st->x = u;
			st->op = OP_POP;
			fault(TEND__MAP_FP_ALLOC_INTENT);
			sc->free_head = nxt; /* the commit of the pop */
			goto taken;
		}
	}
	p = find_page(m, s, c);
	if (p < 0)
		return -ENOSPC;
	pm = atomic_load_explicit(&m->pmeta[p], memory_order_relaxed);
	carved = PM_CARVED(pm);
	u = (uint32_t)((m->g.arena_off + ((uint64_t)p << m->g.page_shift) + (uint64_t)carved * m->g.size[c]) / UNIT);
	st->cls = c;
	st->x = u;
	st->op = OP_CARVE;
	fault(TEND__MAP_FP_ALLOC_INTENT);
	atomic_store_explicit(&m->pmeta[p], PM_MAKE(s + 1, c, carved + 1), memory_order_relaxed); /* commit */
taken:
	fault(TEND__MAP_FP_ALLOCATED);
	st->op = OP_WRITE;
	return 0;
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

/* Find key k in its buckets (writer side).  Returns true with *ret. */
static bool find(tend_map *m, const struct hkey *k, struct where *ret)
{
	uint32_t b = k->b1, i;
	int pass;

	for (pass = 0; pass < 2; pass++, b = k->b2) {
		if (pass == 1 && k->b2 == k->b1)
			break;
		for (i = 0; i < SLOTS; i++) {
			uint64_t w = atomic_load_explicit(&m->bk[b].slot[i], memory_order_relaxed);

			if (item_is(m, w, k)) {
				ret->b = b;
				ret->si = i;
				ret->w = w;
				return true;
			}
		}
	}
	return false;
}

/* ---- publishing and recovery (stripe lock held) ----------------------------- */

/* Replace the word of slot (b, si), old_word, by new_word (0: empty it),
 * then free the old chunk.  The slot store is the commit. */
static void publish(tend_map *m, uint32_t s, uint32_t b, uint32_t si, uint64_t new_word, uint64_t old_word)
{
	struct stripe *st = &m->st[s];
	struct bucket *bk = &m->bk[b];

	st->bucket = b;
	st->slot = si;
	st->new_word = new_word;
	st->old_word = old_word;
	st->op = OP_PUBLISH;
	fault(TEND__MAP_FP_PUB_INTENT);
	seq_odd(bk);
	fault(TEND__MAP_FP_SEQ_ODD);
	atomic_store_explicit(&bk->slot[si], new_word, memory_order_release);
	fault(TEND__MAP_FP_COMMITTED);
	seq_even(bk);
	fault(TEND__MAP_FP_SEQ_EVEN);
	if (W_UNIT(old_word))
		push_free(m, s, W_CLS(old_word), W_UNIT(old_word));
	fault(TEND__MAP_FP_FREED);
}

/* The counts of stripe s from its buckets (after a takeover). */
static void recount(tend_map *m, uint32_t s)
{
	struct stripe *st = &m->st[s];
	uint64_t items = 0, bytes = 0, mem = 0;
	uint32_t b, i;

	for (b = s * m->g.bps; b < (s + 1) * m->g.bps; b++)
		for (i = 0; i < SLOTS; i++) {
			uint64_t w = atomic_load_explicit(&m->bk[b].slot[i], memory_order_relaxed);
			const struct item *it;

			if (!W_UNIT(w) || !chunk_in_arena(m, w))
				continue;
			it = item_at(m, W_UNIT(w));
			items++;
			bytes += (uint64_t)it->klen + it->vlen;
			mem += m->g.size[W_CLS(w)];
		}
	atomic_store_explicit(&st->items, items, memory_order_relaxed);
	atomic_store_explicit(&st->bytes, bytes, memory_order_relaxed);
	atomic_store_explicit(&st->mem, mem, memory_order_relaxed);
}

static void do_reclaim(tend_map *m, uint32_t s);

/*
 * Finish or undo what the dead owner of stripe s's lock was doing, from its
 * intent record (see docs/libtend.md §6 for the table).  Every step is
 * idempotent: a recoverer killed half-way is recovered in turn.
 */
static void recover(tend_map *m, uint32_t s)
{
	struct stripe *st = &m->st[s];
	uint32_t c = st->cls, x = st->x, b, first = s * m->g.bps;
	uint64_t cur, nw = st->new_word, ow = st->old_word;
	bool bucket_ok = st->bucket >= first && st->bucket < first + m->g.bps && st->slot < SLOTS;
	struct bucket *bk = bucket_ok ? &m->bk[st->bucket] : NULL;
	bool was_odd = bk && (atomic_load_explicit(&bk->seq, memory_order_relaxed) & 1u);

	/* Readers of the bucket wait (odd) until the repair is done. */
	if (bk && !was_odd)
		seq_odd(bk);
	switch (st->op) {
	case OP_POP:
		/* taken iff the head moved on; then it is ours to give back */
		if (c < m->g.nclasses && scls_of(m, s, c)->free_head != x)
			push_once(m, s, c, x);
		break;
	case OP_CARVE:
		if (chunk_valid(m, s, c, x)) /* the carve was committed */
			push_once(m, s, c, x);
		break;
	case OP_WRITE:
		if (c < m->g.nclasses)
			push_once(m, s, c, x);
		break;
	case OP_PUBLISH:
		if (!bk)
			break;
		cur = atomic_load_explicit(&bk->slot[st->slot], memory_order_relaxed);
		if ((cur & ~W_REF) == (nw & ~W_REF) && (W_UNIT(nw) || !W_UNIT(cur))) {
			/* committed: free the replaced chunk, once */
			if (W_UNIT(ow))
				push_once(m, s, W_CLS(ow), W_UNIT(ow));
		} else if (W_UNIT(nw)) {
			/* not committed: the new chunk goes back */
			push_once(m, s, W_CLS(nw), W_UNIT(nw));
		}
		break;
	case OP_MOVE:
		/* the copy in the new bucket is the commit: then the old slot
		 * goes (old_word holds its position) */
		if (!bk || st->old_word >= (uint64_t)(first + m->g.bps) * SLOTS || st->old_word < (uint64_t)first * SLOTS)
			break;
		cur = atomic_load_explicit(&bk->slot[st->slot], memory_order_relaxed);
		if ((cur & ~W_REF) == (nw & ~W_REF) && W_UNIT(nw)) {
			struct bucket *fb = &m->bk[st->old_word / SLOTS];
			_Atomic uint64_t *fw = &fb->slot[st->old_word % SLOTS];

			if ((atomic_load_explicit(fw, memory_order_relaxed) & ~W_REF) == (nw & ~W_REF) && fw != &bk->slot[st->slot]) {
				seq_odd(fb);
				atomic_store_explicit(fw, 0, memory_order_relaxed);
				seq_even(fb);
			}
		}
		break;
	case OP_INCR:
		/* begun (odd) means committed: redo it from the record, which
		 * holds the new value and version; even: not begun, or done */
		if (!bk || !was_odd)
			break;
		cur = atomic_load_explicit(&bk->slot[st->slot], memory_order_relaxed);
		if (W_UNIT(cur) == x && chunk_in_arena(m, cur)) {
			struct item *it = item_at(m, x);

			if (it->vlen == 8 && ITEM_HDR + (uint64_t)it->klen + 8 <= m->g.size[W_CLS(cur)]) {
				memcpy((unsigned char *)it + ITEM_HDR + it->klen, &st->redo_value, 8);
				it->version = st->redo_version;
			}
		}
		break;
	default:
		break;
	}
	st->op = OP_NONE;
	if (bk)
		seq_even(bk);
	if (st->reclaim1)
		do_reclaim(m, s);
	/* any other bucket a damaged map left odd */
	for (b = first; b < first + m->g.bps; b++)
		if (atomic_load_explicit(&m->bk[b].seq, memory_order_relaxed) & 1u)
			seq_even(&m->bk[b]);
	recount(m, s);
	rescan_pages(m, s);
}

static int lock_stripe(tend_map *m, uint32_t s)
{
	struct tend__deadline d;
	int r;

	tend__deadline_init(&d, tend__map_lock_timeout_ns);
	r = tend__lock(&m->st[s].lock, tend__token(), &d);
	if (r < 0)
		return r;
	if (r == 1 || m->st[s].op != OP_NONE)
		recover(m, s);
	return 0;
}

static inline void unlock_stripe(tend_map *m, uint32_t s)
{
	tend__unlock(&m->st[s].lock);
}

/* ---- removal, eviction, expiry (stripe lock held) --------------------------------- */

static void count_removed(tend_map *m, uint32_t s, uint64_t w)
{
	struct stripe *st = &m->st[s];
	const struct item *it;

	if (!W_UNIT(w))
		return;
	it = item_at(m, W_UNIT(w));
	stat_add(&st->items, -1);
	stat_add(&st->bytes, -(int64_t)(it->klen + (uint64_t)it->vlen));
	stat_add(&st->mem, -(int64_t)m->g.size[W_CLS(w)]);
}

/* Remove the item of slot (b, si); why: the counter to bump, or NULL.
 * The counts are read before the chunk is freed. */
static void remove_slot(tend_map *m, uint32_t s, uint32_t b, uint32_t si, uint64_t w, _Atomic uint64_t *why)
{
	count_removed(m, s, w);
	publish(m, s, b, si, 0, w);
	if (why)
		stat_add(why, 1);
	m->st[s].op = OP_NONE;
}

/* Word of slot (b, si) when it holds a valid chunk of stripe s, else 0
 * (a damaged word is cleared). */
static uint64_t valid_word(tend_map *m, uint32_t s, uint32_t b, uint32_t si)
{
	uint64_t w = atomic_load_explicit(&m->bk[b].slot[si], memory_order_relaxed);

	if (!W_UNIT(w))
		return 0;
	if (!chunk_valid(m, s, W_CLS(w), W_UNIT(w))) {
		struct bucket *bk = &m->bk[b];

		seq_odd(bk);
		atomic_store_explicit(&bk->slot[si], 0, memory_order_relaxed);
		seq_even(bk);
		return 0;
	}
	return w;
}

/* Remove expired items of bucket b.  Returns how many. */
static int sweep_bucket(tend_map *m, uint32_t s, uint32_t b, uint64_t *now)
{
	uint32_t i;
	int n = 0;

	for (i = 0; i < SLOTS; i++) {
		uint64_t w = atomic_load_explicit(&m->bk[b].slot[i], memory_order_relaxed);

		if (!(w & W_TTL) || !(w = valid_word(m, s, b, i)))
			continue;
		if (expired(m, w, now)) {
			remove_slot(m, s, b, i, w, &m->st[s].expirations);
			n++;
		}
	}
	return n;
}

/*
 * Move page reclaim1 - 1 of stripe s to class reclaim_cls: remove the items
 * in it, take its free chunks off their free list, then (the commit) store
 * its meta word with the new class and nothing carved.  Every step can be
 * done again, so a recoverer simply runs it again.
 */
static void do_reclaim(tend_map *m, uint32_t s)
{
	struct stripe *st = &m->st[s];
	uint64_t p = (uint64_t)st->reclaim1 - 1, pm, lo, hi, n, limit;
	uint32_t c = st->reclaim_cls, oc, b, i, *link;

	if (p >= m->g.npages || c >= m->g.nclasses)
		goto out_done;
	pm = atomic_load_explicit(&m->pmeta[p], memory_order_relaxed);
	oc = PM_CLS(pm);
	if (PM_OWNER(pm) != s + 1 || oc == c || oc >= m->g.nclasses)
		goto out_done; /* committed already (or not ours) */
	lo = (m->g.arena_off + (p << m->g.page_shift)) / UNIT;
	hi = lo + ((uint64_t)1 << m->g.page_shift) / UNIT;
	for (b = s * m->g.bps; b < (s + 1) * m->g.bps; b++)
		for (i = 0; i < SLOTS; i++) {
			uint64_t w = valid_word(m, s, b, i);

			if (w && W_UNIT(w) >= lo && W_UNIT(w) < hi)
				remove_slot(m, s, b, i, w, &st->evictions);
		}
	fault(TEND__MAP_FP_RECLAIM_EVICTED);
	/* unlink its chunks from the old class's list; the list stays a list
	 * after every store */
	link = &scls_of(m, s, oc)->free_head;
	limit = m->g.total / m->g.size[oc];
	for (n = 0; *link && n < limit; n++) {
		uint32_t u = *link;

		if (!chunk_valid(m, s, oc, u)) {
			*link = 0; /* a damaged list ends here */
			break;
		}
		if (u >= lo && u < hi)
			*link = item_at(m, u)->next_free;
		else
			link = &item_at(m, u)->next_free;
	}
	fault(TEND__MAP_FP_RECLAIM_FILTERED);
	atomic_store_explicit(&m->pmeta[p], PM_MAKE(s + 1, c, 0), memory_order_relaxed); /* the commit */
	fault(TEND__MAP_FP_RECLAIM_COMMITTED);
	scls_of(m, s, c)->page1 = (uint32_t)p + 1;
out_done:
	st->reclaim1 = 0;
}

/* Give class c a page of stripe s that another class has (its items are
 * evicted).  Returns 0 or -ENOSPC (the stripe has no other page). */
static int reclaim_page(tend_map *m, uint32_t s, uint32_t c)
{
	struct stripe *st = &m->st[s];
	uint64_t i, p, pm;

	for (i = 0; i < m->g.npages; i++) {
		p = (st->phand + i) % m->g.npages;
		pm = atomic_load_explicit(&m->pmeta[p], memory_order_relaxed);
		if (PM_OWNER(pm) != s + 1 || PM_CLS(pm) == c || PM_CLS(pm) >= m->g.nclasses)
			continue;
		st->phand = (uint32_t)((p + 1) % m->g.npages);
		st->reclaim_cls = c;
		st->reclaim1 = (uint32_t)p + 1;
		fault(TEND__MAP_FP_RECLAIM_INTENT);
		do_reclaim(m, s);
		return 0;
	}
	return -ENOSPC;
}

/* CLOCK: remove one item of class c from stripe s (expired first met, else
 * the first one not referenced since the hand last passed).  Returns 0 or
 * -ENOSPC (no item of that class). */
static int evict_class(tend_map *m, uint32_t s, uint32_t c, uint64_t *now)
{
	struct stripe *st = &m->st[s];
	uint32_t nslots = m->g.bps * SLOTS, steps;

	for (steps = 0; steps < 2 * nslots + 1; steps++) {
		uint32_t pos = st->hand % nslots, b = s * m->g.bps + pos / SLOTS, si = pos % SLOTS;
		uint64_t w;

		st->hand = (pos + 1) % nslots;
		w = valid_word(m, s, b, si);
		if (!w || W_CLS(w) != c)
			continue;
		if (expired(m, w, now)) {
			remove_slot(m, s, b, si, w, &st->expirations);
			return 0;
		}
		if (w & W_REF) {
			atomic_fetch_and_explicit(&m->bk[b].slot[si], ~W_REF, memory_order_relaxed);
			continue;
		}
		remove_slot(m, s, b, si, w, &st->evictions);
		return 0;
	}
	return -ENOSPC;
}

/* ---- reads ------------------------------------------------------------------ */

/* A bucket stays odd: its writer is slow, or dead.  Wait for its stripe's
 * lock, which repairs a dead writer's work (and any odd bucket a damaged
 * map holds).  Returns 0, or -ETIMEDOUT (tend__map_lock_timeout_ns only). */
static int help_stripe(tend_map *m, uint32_t s)
{
	int r = lock_stripe(m, s);

	if (r < 0)
		return r;
	recover(m, s);
	unlock_stripe(m, s);
	return 0;
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
		if (help_stripe(m, s) < 0)
			return v; /* a bounded wait (fuzzing) on a damaged map: read anyway */
		spins = 0;
	}
}

static inline bool read_retry(const struct bucket *bk, uint32_t v)
{
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&bk->seq, memory_order_relaxed) != v;
}

#define GET_MISS INT_MIN

/* Look for k in bucket b as a reader.  Returns the value length, -EMSGSIZE,
 * GET_MISS (with the bucket's seqlock value in *ret_seq), or -EAGAIN (a
 * write got in the way: retry). */
static int read_bucket(tend_map *m, const struct hkey *k, uint32_t b, void *buf, size_t cap, uint64_t *ret_version,
		       uint32_t *ret_seq)
{
	struct bucket *bk = &m->bk[b];
	uint32_t v = read_begin(m, bk, k->s), i;
	uint64_t now = 0;

	*ret_seq = v;

	for (i = 0; i < SLOTS; i++) {
		uint64_t w = atomic_load_explicit(&bk->slot[i], memory_order_acquire), version;
		const struct item *it;
		uint32_t vlen;
		int r;

		if (!item_is(m, w, k))
			continue;
		it = item_at(m, W_UNIT(w));
		vlen = RD(it->vlen);
		version = RD(it->version);
		if (ITEM_HDR + (uint64_t)k->klen + vlen > m->g.size[W_CLS(w)] || vlen > m->max_value)
			return read_retry(bk, v) ? -EAGAIN : GET_MISS; /* damaged */
		if (expired(m, w, &now))
			r = GET_MISS;
		else if (vlen > cap)
			r = -EMSGSIZE;
		else {
			if (vlen)
				memcpy(buf, (const unsigned char *)it + ITEM_HDR + k->klen, vlen);
			r = (int)vlen;
		}
		if (read_retry(bk, v))
			return -EAGAIN;
		if (r >= 0) {
			if (!(w & W_REF))
				atomic_fetch_or_explicit(&bk->slot[i], W_REF, memory_order_relaxed);
			if (ret_version)
				*ret_version = version;
		}
		return r;
	}
	return read_retry(bk, v) ? -EAGAIN : GET_MISS;
}

int tend_map_get(tend_map *m, const void *key, size_t klen, void *buf, size_t cap, uint64_t *ret_version)
{
	struct hkey k;
	uint32_t v1 = 0, v2 = 0;
	int r;

	if (!m || !key_ok(key, klen) || (!buf && cap))
		return -EINVAL;
	hash_key(m, key, klen, &k);
	for (;;) {
		r = read_bucket(m, &k, k.b1, buf, cap, ret_version, &v1);
		if (r == GET_MISS && k.b2 != k.b1) {
			r = read_bucket(m, &k, k.b2, buf, cap, ret_version, &v2);
			/* a miss in both, with neither changed in between: an item
			 * moved from b2 to b1 meanwhile is not missed */
			if (r == GET_MISS && read_retry(&m->bk[k.b1], v1))
				r = -EAGAIN;
		}
		if (r != -EAGAIN)
			break;
		count_local(m, &m->l_retries);
	}
	if (r == GET_MISS) {
		count_local(m, &m->l_misses);
		return -ENOENT;
	}
	if (r >= 0)
		count_local(m, &m->l_hits);
	return r;
}

/* ---- writes ------------------------------------------------------------------ */

static inline uint64_t new_version(tend_map *m, uint32_t s)
{
	return ++m->st[s].vctr << 8 | s;
}

/* Move the item of slot (fb, fsi), word w, to the empty slot (tb, tsi):
 * copy, then clear (a reader that misses checks both buckets' seqlocks, so
 * it never misses the item in between). */
static void move_slot(tend_map *m, uint32_t s, uint32_t fb, uint32_t fsi, uint32_t tb, uint32_t tsi, uint64_t w)
{
	struct stripe *st = &m->st[s];

	st->bucket = tb;
	st->slot = tsi;
	st->new_word = w;
	st->old_word = (uint64_t)fb * SLOTS + fsi;
	st->op = OP_MOVE;
	seq_odd(&m->bk[tb]);
	atomic_store_explicit(&m->bk[tb].slot[tsi], w, memory_order_release); /* the commit */
	seq_even(&m->bk[tb]);
	fault(TEND__MAP_FP_MOVED);
	seq_odd(&m->bk[fb]);
	atomic_store_explicit(&m->bk[fb].slot[fsi], 0, memory_order_release);
	seq_even(&m->bk[fb]);
	st->op = OP_NONE;
}

/* Free a slot of bucket b (stripe s) by moving one of its items to its
 * other bucket, making room there the same way, depth more steps deep.
 * Returns the freed slot, or -1. */
static int free_by_moving(tend_map *m, uint32_t s, uint32_t b, int depth)
{
	uint32_t i, t;

	for (i = 0; i < SLOTS; i++) {
		uint64_t w = valid_word(m, s, b, i);
		const struct item *it;
		struct hkey o;
		uint32_t alt;
		int free_at = -1;

		if (!w)
			return (int)i;
		it = item_at(m, W_UNIT(w));
		if (it->klen < 1 || it->klen > TEND_MAP_KEY_MAX)
			continue;
		hash_key(m, (const unsigned char *)it + ITEM_HDR, it->klen, &o);
		if (o.s != s || (o.b1 != b && o.b2 != b))
			continue;
		alt = o.b1 == b ? o.b2 : o.b1;
		if (alt == b)
			continue;
		for (t = 0; t < SLOTS && free_at < 0; t++)
			if (!valid_word(m, s, alt, t))
				free_at = (int)t;
		if (free_at < 0 && depth > 0)
			free_at = free_by_moving(m, s, alt, depth - 1);
		if (free_at >= 0) {
			move_slot(m, s, b, i, alt, (uint32_t)free_at, w & ~W_REF);
			return (int)i;
		}
	}
	return -1;
}

/* Both buckets of a new key are full: move an item of one to its other
 * bucket (cuckoo steps, two deep).  Returns true with the slot it freed in
 * *ret. */
static bool displace(tend_map *m, const struct hkey *k, struct where *ret)
{
	uint32_t bs[2] = { k->b1, k->b2 }, j;

	for (j = 0; j < 2; j++) {
		int i = free_by_moving(m, k->s, bs[j], 1);

		if (i >= 0) {
			ret->b = bs[j];
			ret->si = (uint32_t)i;
			ret->w = 0;
			return true;
		}
	}
	return false;
}

/* A free slot for a new key in its buckets (an expired item's counts as
 * free): the first of the less loaded bucket (b1 on a tie: gets look there
 * first).  Returns false when both are full. */
static bool free_slot(tend_map *m, const struct hkey *k, uint64_t *now, struct where *ret)
{
	uint32_t bs[2] = { k->b1, k->b2 }, j, i, used[2];
	int nb = k->b1 == k->b2 ? 1 : 2, free_at[2];

	for (j = 0; j < (uint32_t)nb; j++) {
		free_at[j] = -1;
		used[j] = 0;
		for (i = 0; i < SLOTS; i++) {
			uint64_t w = valid_word(m, k->s, bs[j], i);

			if (!w || expired(m, w, now)) {
				if (free_at[j] < 0)
					free_at[j] = (int)i;
			} else {
				used[j]++;
			}
		}
	}
	j = nb == 2 && (free_at[0] < 0 || (free_at[1] >= 0 && used[1] < used[0])) ? 1 : 0;
	if (free_at[j] < 0)
		return false;
	ret->b = bs[j];
	ret->si = (uint32_t)free_at[j];
	ret->w = atomic_load_explicit(&m->bk[bs[j]].slot[free_at[j]], memory_order_relaxed) & ~W_REF;
	return true;
}

/* Before a new key's chunk is taken (the move has its own intent record):
 * when both its buckets are full, move an item of one to its other bucket. */
static void make_room(tend_map *m, const struct hkey *k, uint64_t *now)
{
	struct where at;

	if (k->b1 != k->b2 && !free_slot(m, k, now, &at))
		(void)displace(m, k, &at);
}

/* The slot for a new key: a free one, or, when eviction is allowed, the
 * slot of the item to evict (the first one not referenced since the hand
 * passed).  Returns false when there is none (TEND_MAP_NOEVICT and both
 * buckets full). */
static bool slot_for_new(tend_map *m, const struct hkey *k, uint64_t *now, struct where *ret, bool *ret_evict)
{
	uint32_t bs[2] = { k->b1, k->b2 }, j, i;
	int nb = k->b1 == k->b2 ? 1 : 2, pass;

	*ret_evict = false;
	if (free_slot(m, k, now, ret))
		return true;
	if (m->flags & TEND_MAP_NOEVICT)
		return false;
	for (pass = 0; pass < 2; pass++)
		for (j = 0; j < (uint32_t)nb; j++)
			for (i = 0; i < SLOTS; i++) {
				uint64_t w = atomic_load_explicit(&m->bk[bs[j]].slot[i], memory_order_relaxed);

				if ((w & W_REF) && pass == 0) {
					atomic_fetch_and_explicit(&m->bk[bs[j]].slot[i], ~W_REF, memory_order_relaxed);
					continue;
				}
				ret->b = bs[j];
				ret->si = i;
				ret->w = w & ~W_REF;
				*ret_evict = true;
				return true;
			}
	return false;
}

/* Check a store's condition against what the key holds now. */
static int precondition(tend_map *m, int kind, bool found, uint64_t w, uint64_t cas_version, uint64_t *now)
{
	bool present = found && !expired(m, w, now);

	switch (kind) {
	case ST_ADD:
		return present ? -EEXIST : 0;
	case ST_REPLACE:
		return present ? 0 : -ENOENT;
	case ST_CAS:
		if (!present)
			return -ENOENT;
		return item_at(m, W_UNIT(w))->version == cas_version ? 0 : -ESTALE;
	default:
		return 0;
	}
}

static int store(tend_map *m, int kind, const void *key, size_t klen, const void *value, size_t vlen, int64_t ttl_ms,
		 uint64_t cas_version, uint64_t *ret_version)
{
	struct stripe *st;
	struct hkey k;
	struct where at;
	struct item *it;
	uint64_t now = 0, version, nw;
	uint32_t c, x;
	bool found, evict;
	int r, tries;

	if (!m || !key_ok(key, klen) || (!value && vlen) || ttl_ms < 0)
		return -EINVAL;
	if (vlen > m->max_value)
		return -EMSGSIZE;
	hash_key(m, key, klen, &k);
	st = &m->st[k.s];
	c = class_of(m, ITEM_HDR + klen + vlen);
	r = lock_stripe(m, k.s);
	if (r < 0)
		return r;
	fault(TEND__MAP_FP_LOCKED);
	found = find(m, &k, &at);
	r = precondition(m, kind, found, at.w, cas_version, &now);
	if (r < 0)
		goto out_unlock;
	if (!found)
		make_room(m, &k, &now);
	/* memory: a free chunk, a fresh one, or one evicted */
	for (tries = 0;; tries++) {
		r = take_chunk(m, k.s, c);
		if (r == 0)
			break;
		if ((m->flags & TEND_MAP_NOEVICT) || tries > 64)
			goto out_unlock;
		/* an item of the same size, else a page of another size */
		if (evict_class(m, k.s, c, &now) < 0 && reclaim_page(m, k.s, c) < 0)
			goto out_unlock;
	}
	x = st->x;
	version = new_version(m, k.s);
	it = item_at(m, x);
	it->version = version;
	it->expire_ms = ttl_ms ? (now ? now : (now = now_ms())) + (uint64_t)ttl_ms : 0;
	it->vlen = (uint32_t)vlen;
	it->klen = (uint8_t)klen;
	it->cls = (uint8_t)c;
	it->pad = 0;
	it->next_free = 0;
	memcpy((unsigned char *)it + ITEM_HDR, key, klen);
	if (vlen)
		memcpy((unsigned char *)it + ITEM_HDR + klen, value, vlen);
	fault(TEND__MAP_FP_WRITTEN);
	/* the eviction may have taken the key itself: look again */
	found = find(m, &k, &at);
	r = precondition(m, kind, found, at.w, cas_version, &now);
	evict = false;
	if (r == 0 && !found && !slot_for_new(m, &k, &now, &at, &evict))
		r = -ENOSPC;
	if (r < 0) {
		push_free(m, k.s, c, x);
		st->op = OP_NONE;
		goto out_unlock;
	}
	nw = make_word(x, k.tag, c, ttl_ms != 0);
	if (W_UNIT(at.w)) {
		if (evict)
			stat_add(&st->evictions, 1);
		else if (expired(m, at.w, &now))
			stat_add(&st->expirations, 1);
		count_removed(m, k.s, at.w);
	}
	publish(m, k.s, at.b, at.si, nw, at.w & ~W_REF);
	stat_add(&st->items, 1);
	stat_add(&st->bytes, (int64_t)(klen + vlen));
	stat_add(&st->mem, m->g.size[c]);
	st->op = OP_NONE;
	fault(TEND__MAP_FP_DONE);
	/* keep expired items from piling up: one bucket per write */
	sweep_bucket(m, k.s, k.s * m->g.bps + st->sweep++ % m->g.bps, &now);
	if (ret_version)
		*ret_version = version;
	r = 0;
out_unlock:
	unlock_stripe(m, k.s);
	return r;
}

int tend_map_set(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen, int64_t ttl_ms,
		 uint64_t *ret_version)
{
	return store(m, ST_SET, key, klen, value, vlen, ttl_ms, 0, ret_version);
}

int tend_map_add(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen, int64_t ttl_ms,
		 uint64_t *ret_version)
{
	return store(m, ST_ADD, key, klen, value, vlen, ttl_ms, 0, ret_version);
}

int tend_map_replace(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen, int64_t ttl_ms,
		     uint64_t *ret_version)
{
	return store(m, ST_REPLACE, key, klen, value, vlen, ttl_ms, 0, ret_version);
}

int tend_map_cas(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen, int64_t ttl_ms,
		 uint64_t cas_version, uint64_t *ret_version)
{
	return store(m, ST_CAS, key, klen, value, vlen, ttl_ms, cas_version, ret_version);
}

/* Lock key's stripe and find it (unexpired, with a chunk of the stripe).
 * Returns 0 with the lock held, or -ENOENT/-errno without it. */
static int lock_find(tend_map *m, const void *key, size_t klen, struct hkey *k, struct where *at)
{
	uint64_t now = 0;
	int r;

	if (!m || !key_ok(key, klen))
		return -EINVAL;
	hash_key(m, key, klen, k);
	r = lock_stripe(m, k->s);
	if (r < 0)
		return r;
	fault(TEND__MAP_FP_LOCKED);
	if (find(m, k, at) && (at->w = valid_word(m, k->s, at->b, at->si)) != 0) {
		if (!expired(m, at->w, &now))
			return 0;
		remove_slot(m, k->s, at->b, at->si, at->w, &m->st[k->s].expirations);
	}
	unlock_stripe(m, k->s);
	return -ENOENT;
}

/* Delete key; when check, only if its version is cas_version. */
static int delete_item(tend_map *m, const void *key, size_t klen, bool check, uint64_t cas_version)
{
	struct hkey k;
	struct where at;
	int r = lock_find(m, key, klen, &k, &at);

	if (r < 0)
		return r;
	if (check && item_at(m, W_UNIT(at.w))->version != cas_version) {
		unlock_stripe(m, k.s);
		return -ESTALE;
	}
	count_removed(m, k.s, at.w);
	publish(m, k.s, at.b, at.si, 0, at.w & ~W_REF);
	m->st[k.s].op = OP_NONE;
	fault(TEND__MAP_FP_DONE);
	unlock_stripe(m, k.s);
	return 0;
}

int tend_map_delete(tend_map *m, const void *key, size_t klen)
{
	return delete_item(m, key, klen, false, 0);
}

int tend_map_delete_cas(tend_map *m, const void *key, size_t klen, uint64_t cas_version)
{
	return delete_item(m, key, klen, true, cas_version);
}

int tend_map_incr(tend_map *m, const void *key, size_t klen, int64_t delta, uint64_t *ret_value)
{
	struct stripe *st;
	struct bucket *bk;
	struct hkey k;
	struct where at;
	struct item *it;
	unsigned char *vp;
	uint64_t v;
	int r = lock_find(m, key, klen, &k, &at);

	if (r < 0)
		return r;
	st = &m->st[k.s];
	bk = &m->bk[at.b];
	it = item_at(m, W_UNIT(at.w));
	if (it->vlen != 8 || ITEM_HDR + (uint64_t)it->klen + 8 > m->g.size[W_CLS(at.w)]) {
		r = -EDOM;
		goto out_unlock;
	}
	vp = (unsigned char *)it + ITEM_HDR + it->klen;
	memcpy(&v, vp, 8);
	v += (uint64_t)delta;
	/* in place, with a redo record: a recoverer writes the same bytes */
	st->bucket = at.b;
	st->slot = at.si;
	st->x = W_UNIT(at.w);
	st->redo_value = v;
	st->redo_version = new_version(m, k.s);
	st->op = OP_INCR;
	fault(TEND__MAP_FP_INCR_INTENT);
	seq_odd(bk);
	fault(TEND__MAP_FP_INCR_ODD);
	memcpy(vp, &v, 8);
	fault(TEND__MAP_FP_INCR_VALUE);
	it->version = st->redo_version;
	fault(TEND__MAP_FP_INCR_VERSION);
	seq_even(bk);
	fault(TEND__MAP_FP_INCR_EVEN);
	st->op = OP_NONE;
	if (ret_value)
		*ret_value = v;
out_unlock:
	unlock_stripe(m, k.s);
	return r;
}

/* ---- walking, sweeping, counting ----------------------------------------------- */

int tend_map_next(tend_map *m, uint64_t *cursor, void *key, size_t cap, size_t *ret_klen)
{
	uint64_t total, pos;

	if (!m || !cursor || !key || !ret_klen || cap < TEND_MAP_KEY_MAX)
		return -EINVAL;
	total = (uint64_t)m->g.nstripes * m->g.bps * SLOTS;
	for (pos = *cursor; pos < total; pos++) {
		uint32_t b = (uint32_t)(pos / SLOTS), si = (uint32_t)(pos % SLOTS);
		struct bucket *bk = &m->bk[b];
		uint64_t w, now = 0;
		uint32_t v, klen;

		do {
			v = read_begin(m, bk, b / m->g.bps);
			w = atomic_load_explicit(&bk->slot[si], memory_order_acquire);
			klen = 0;
			if (W_UNIT(w) && chunk_in_arena(m, w) && !expired(m, w, &now)) {
				const struct item *it = item_at(m, W_UNIT(w));

				klen = RD(it->klen);
				if (klen > TEND_MAP_KEY_MAX || ITEM_HDR + (uint64_t)klen > m->g.size[W_CLS(w)])
					klen = 0;
				else
					memcpy(key, (const unsigned char *)it + ITEM_HDR, klen);
			}
		} while (read_retry(bk, v));
		if (klen) {
			*cursor = pos + 1;
			*ret_klen = klen;
			return 1;
		}
	}
	*cursor = total;
	return 0;
}

int tend_map_sweep(tend_map *m)
{
	uint32_t s, b;
	int n = 0, r;

	if (!m)
		return -EINVAL;
	for (s = 0; s < m->g.nstripes; s++) {
		uint64_t now = 0;

		r = lock_stripe(m, s);
		if (r < 0)
			return r;
		for (b = s * m->g.bps; b < (s + 1) * m->g.bps; b++)
			n += sweep_bucket(m, s, b, &now);
		unlock_stripe(m, s);
	}
	return n;
}

int tend_map_stats(tend_map *m, struct tend_map_stats *ret)
{
	struct tend_map_stats t;
	uint32_t s;

	if (!m || !ret)
		return -EINVAL;
	flush_stats(m);
	memset(&t, 0, sizeof(t));
	for (s = 0; s < m->g.nstripes; s++) {
		const struct stripe *st = &m->st[s];

		t.items += atomic_load_explicit(&st->items, memory_order_relaxed);
		t.bytes += atomic_load_explicit(&st->bytes, memory_order_relaxed);
		t.mem_used += atomic_load_explicit(&st->mem, memory_order_relaxed);
		t.evictions += atomic_load_explicit(&st->evictions, memory_order_relaxed);
		t.expirations += atomic_load_explicit(&st->expirations, memory_order_relaxed);
	}
	t.mem_total = m->g.mem;
	t.capacity = m->capacity;
	t.hits = atomic_load_explicit(&m->h->hits, memory_order_relaxed);
	t.misses = atomic_load_explicit(&m->h->misses, memory_order_relaxed);
	t.read_retries = atomic_load_explicit(&m->h->retries, memory_order_relaxed);
	t.index_bytes = (uint64_t)m->g.nstripes * m->g.bps * sizeof(struct bucket);
	*ret = t;
	return 0;
}

int tend_map_stats_name(const char *name, struct tend_map_stats *ret)
{
	tend_map *m;
	int r;

	if (!name || !ret)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = tend__seg_open_ro(&m->seg, name, MAP_MAGIC, MAP_VERSION, sizeof(struct mhdr));
	if (r < 0)
		goto out_free;
	r = adopt(m);
	/* a fresh handle has no hits or misses of its own: tend_map_stats writes nothing */
	if (r == 0)
		r = tend_map_stats(m, ret);
	tend__seg_close(&m->seg);
out_free:
	free(m);
	return r;
}

size_t tend_map_capacity(const tend_map *m)
{
	return m->capacity;
}

size_t tend_map_max_value(const tend_map *m)
{
	return m->max_value;
}

size_t tend_map_mem_bytes(const tend_map *m)
{
	return m->g.mem;
}

unsigned tend_map_flags(const tend_map *m)
{
	return m->flags;
}

int tend_map_fd(const tend_map *m)
{
	return m->seg.fd;
}

/* ---- the consistency check of the tests ------------------------------------------ */

#define FAIL(...)                                                                                      \
	do {                                                                                           \
		snprintf(why, why_len, __VA_ARGS__);                                                   \
		r = -EBADMSG;                                                                          \
		goto out;                                                                              \
	} while (0)

int tend__map_check(tend_map *m, char *why, size_t why_len)
{
	uint64_t nunits = m->g.total / UNIT, p, pm, carved_total = 0, used_total = 0, free_total = 0;
	unsigned char *seen = calloc(nunits, 1); /* 1: published, 2: free */
	uint32_t s, c, b, i, locked = 0;
	int r = 0;

	if (!seen)
		return -ENOMEM;
	snprintf(why, why_len, "ok");
	for (s = 0; s < m->g.nstripes; s++, locked++) {
		r = lock_stripe(m, s);
		if (r < 0)
			FAIL("stripe %u: lock: %d", s, r);
	}
	for (s = 0; s < m->g.nstripes; s++) {
		const struct stripe *st = &m->st[s];
		uint64_t items = 0, bytes = 0, mem = 0;

		if (st->op != OP_NONE || st->reclaim1)
			FAIL("stripe %u: intent %u (reclaim %u) left", s, st->op, st->reclaim1);
		for (b = s * m->g.bps; b < (s + 1) * m->g.bps; b++) {
			if (atomic_load(&m->bk[b].seq) & 1u)
				FAIL("bucket %u: seqlock odd", b);
			for (i = 0; i < SLOTS; i++) {
				uint64_t w = atomic_load(&m->bk[b].slot[i]);
				const struct item *it;
				struct hkey k;
				struct where at;

				if (!W_UNIT(w))
					continue;
				if (!chunk_valid(m, s, W_CLS(w), W_UNIT(w)))
					FAIL("bucket %u slot %u: chunk %u not of stripe %u class %u", b, i, W_UNIT(w), s,
					     W_CLS(w));
				if (seen[W_UNIT(w)])
					FAIL("chunk %u published twice", W_UNIT(w));
				seen[W_UNIT(w)] = 1;
				it = item_at(m, W_UNIT(w));
				if (it->klen < 1 || it->klen > TEND_MAP_KEY_MAX ||
				    ITEM_HDR + (uint64_t)it->klen + it->vlen > m->g.size[W_CLS(w)])
					FAIL("chunk %u: lengths %u+%u do not fit", W_UNIT(w), it->klen, it->vlen);
				hash_key(m, (const unsigned char *)it + ITEM_HDR, it->klen, &k);
				if (k.s != s || (b != k.b1 && b != k.b2) || k.tag != W_TAG(w))
					FAIL("chunk %u: key in the wrong bucket", W_UNIT(w));
				if (!find(m, &k, &at) || at.b != b || at.si != i)
					FAIL("chunk %u: key stored twice", W_UNIT(w));
				items++;
				bytes += it->klen + (uint64_t)it->vlen;
				mem += m->g.size[W_CLS(w)];
			}
		}
		if (items != atomic_load(&st->items) || bytes != atomic_load(&st->bytes) ||
		    mem != atomic_load(&st->mem))
			FAIL("stripe %u: counts %lu/%lu/%lu, real %lu/%lu/%lu", s,
			     (unsigned long)atomic_load(&st->items), (unsigned long)atomic_load(&st->bytes),
			     (unsigned long)atomic_load(&st->mem), (unsigned long)items, (unsigned long)bytes,
			     (unsigned long)mem);
		used_total += items;
		for (c = 0; c < m->g.nclasses; c++) {
			uint32_t u = scls_of(m, s, c)->free_head;
			uint64_t n = 0;

			for (; u; u = item_at(m, u)->next_free, n++) {
				if (!chunk_valid(m, s, c, u))
					FAIL("stripe %u class %u: free chunk %u invalid", s, c, u);
				if (seen[u])
					FAIL("stripe %u class %u: free chunk %u %s", s, c, u,
					     seen[u] == 1 ? "is published" : "listed twice");
				seen[u] = 2;
			}
			free_total += n;
		}
	}
	for (p = 0; p < m->g.npages; p++) {
		pm = atomic_load(&m->pmeta[p]);
		if (!pm)
			continue;
		if (PM_OWNER(pm) < 1 || PM_OWNER(pm) > m->g.nstripes || PM_CLS(pm) >= m->g.nclasses ||
		    PM_CARVED(pm) > m->g.per_page[PM_CLS(pm)])
			FAIL("page %lu: meta %#lx", (unsigned long)p, (unsigned long)pm);
		for (i = 0; i < PM_CARVED(pm); i++) {
			uint64_t u = (m->g.arena_off + (p << m->g.page_shift) + (uint64_t)i * m->g.size[PM_CLS(pm)]) /
				     UNIT;

			if (!seen[u])
				FAIL("page %lu chunk %u (unit %lu): lost (neither published nor free)", (unsigned long)p,
				     i, (unsigned long)u);
		}
		carved_total += PM_CARVED(pm);
	}
	if (carved_total != used_total + free_total)
		FAIL("carved %lu != published %lu + free %lu", (unsigned long)carved_total, (unsigned long)used_total,
		     (unsigned long)free_total);
out:
	while (locked > 0)
		unlock_stripe(m, --locked);
	free(seen);
	return r;
}
