/*
 * tend_map's writes and everything done under a stripe lock: the free lists
 * and pages, publishing and recovery, removal, eviction and expiry (see map.c
 * for the design).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/map-impl.h"
#include "lib/map-internal.h"
#include "lib/seg.h"
#include "lib/sync.h"
#include "tend/map.h"

enum { ST_SET, ST_ADD, ST_REPLACE, ST_CAS };

int64_t tend__map_lock_timeout_ns = -1;

/* ---- small helpers ---------------------------------------------------------- */

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
	if (tend__map_chunk_valid(m, s, c, u) && scls_of(m, s, c)->free_head != u)
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
		if (!tend__map_chunk_valid(m, s, c, u)) {
			sc->free_head = 0; /* a damaged list: drop it */
		} else {
			nxt = item_at(m, u)->next_free;
			if (nxt && !tend__map_chunk_valid(m, s, c, nxt))
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
		if (tend__map_chunk_valid(m, s, c, x)) /* the carve was committed */
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

int tend__map_lock_stripe(tend_map *m, uint32_t s)
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

/* A bucket stays odd: its writer is slow, or dead.  Wait for its stripe's
 * lock, which repairs a dead writer's work (and any odd bucket a damaged
 * map holds).  Returns 0, or -ETIMEDOUT (tend__map_lock_timeout_ns only). */
int tend__map_help_stripe(tend_map *m, uint32_t s)
{
	int r = tend__map_lock_stripe(m, s);

	if (r < 0)
		return r;
	recover(m, s);
	unlock_stripe(m, s);
	return 0;
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
	if (!tend__map_chunk_valid(m, s, W_CLS(w), W_UNIT(w))) {
		struct bucket *bk = &m->bk[b];

		seq_odd(bk);
		atomic_store_explicit(&bk->slot[si], 0, memory_order_relaxed);
		seq_even(bk);
		return 0;
	}
	return w;
}

/* Remove expired items of bucket b.  Returns how many. */
int tend__map_sweep_bucket(tend_map *m, uint32_t s, uint32_t b, uint64_t *now)
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

		if (!tend__map_chunk_valid(m, s, oc, u)) {
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
		tend__map_hash_key(m, (const unsigned char *)it + ITEM_HDR, it->klen, &o);
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
	tend__map_hash_key(m, key, klen, &k);
	st = &m->st[k.s];
	c = class_of(m, ITEM_HDR + klen + vlen);
	r = tend__map_lock_stripe(m, k.s);
	if (r < 0)
		return r;
	fault(TEND__MAP_FP_LOCKED);
	found = tend__map_find(m, &k, &at);
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
	found = tend__map_find(m, &k, &at);
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
	tend__map_sweep_bucket(m, k.s, k.s * m->g.bps + st->sweep++ % m->g.bps, &now);
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
	tend__map_hash_key(m, key, klen, k);
	r = tend__map_lock_stripe(m, k->s);
	if (r < 0)
		return r;
	fault(TEND__MAP_FP_LOCKED);
	if (tend__map_find(m, k, at) && (at->w = valid_word(m, k->s, at->b, at->si)) != 0) {
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
