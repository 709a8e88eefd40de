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
 *
 * Files: this one (geometry, open and close, reads), map-store.c (what is
 * done under a stripe lock: free lists and pages, publishing and recovery,
 * removal, eviction and expiry; the writes), map-walk.c (walking, sweeping,
 * stats, the consistency check); map-impl.h holds what they share.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "lib/map-impl.h"
#include "lib/map-internal.h"
#include "lib/seg.h"
#include "lib/sync.h"
#include "tend/map.h"

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
int tend__map_adopt(void *handle)
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
	r = tend__obj_open(&m, sizeof(tend_map), name, fd, MAP_MAGIC, MAP_VERSION, sizeof(struct mhdr),
			   tend__map_adopt);
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

void tend__map_flush_stats(tend_map *m)
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
		tend__map_flush_stats(m);
		tend__seg_close(&m->seg);
		free(m);
	}
	return NULL;
}

/* ---- small helpers ---------------------------------------------------------- */

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

void tend__map_hash_key(const tend_map *m, const void *key, size_t klen, struct hkey *k)
{
	uint64_t h = hash_bytes(key, klen, m->seed), h2 = mix(h, 0xd6e8feb86659fd93ull);

	k->key = key;
	k->klen = (uint32_t)klen;
	k->s = m->g.stripe_bits ? (uint32_t)(h >> (64 - m->g.stripe_bits)) : 0;
	k->tag = (uint32_t)(h >> 24) & 0xffffu;
	k->b1 = k->s * m->g.bps + reduce((uint32_t)h, m->g.bps);
	k->b2 = k->s * m->g.bps + reduce((uint32_t)h2, m->g.bps);
}

/* Unit u is a chunk of class c carved from a page stripe s owns (what a
 * writer checks before it trusts a link or a word read from the map). */
bool tend__map_chunk_valid(const tend_map *m, uint32_t s, uint32_t c, uint32_t u)
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

/* ---- lookups (stripe lock held, or as a reader under a seqlock) ---------------- */

/* Find key k in its buckets (writer side).  Returns true with *ret. */
bool tend__map_find(tend_map *m, const struct hkey *k, struct where *ret)
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

/* ---- reads ------------------------------------------------------------------ */

static inline void count_local(tend_map *m, _Atomic uint64_t *ctr)
{
	uint64_t v = atomic_load_explicit(ctr, memory_order_relaxed) + 1;

	atomic_store_explicit(ctr, v, memory_order_relaxed);
	if (__builtin_expect(v >= STAT_FLUSH, 0))
		tend__map_flush_stats(m);
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
	tend__map_hash_key(m, key, klen, &k);
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
