/*
 * tend_map's walking, sweeping, counting and stats, and the consistency
 * check of the tests (see map.c for the design).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/map-impl.h"
#include "lib/map-internal.h"
#include "lib/seg.h"
#include "lib/sync.h"
#include "tend/map.h"

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

		r = tend__map_lock_stripe(m, s);
		if (r < 0)
			return r;
		for (b = s * m->g.bps; b < (s + 1) * m->g.bps; b++)
			n += tend__map_sweep_bucket(m, s, b, &now);
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
	tend__map_flush_stats(m);
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
	r = tend__map_adopt(m);
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
		r = tend__map_lock_stripe(m, s);
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
				if (!tend__map_chunk_valid(m, s, W_CLS(w), W_UNIT(w)))
					FAIL("bucket %u slot %u: chunk %u not of stripe %u class %u", b, i, W_UNIT(w), s,
					     W_CLS(w));
				if (seen[W_UNIT(w)])
					FAIL("chunk %u published twice", W_UNIT(w));
				seen[W_UNIT(w)] = 1;
				it = item_at(m, W_UNIT(w));
				if (it->klen < 1 || it->klen > TEND_MAP_KEY_MAX ||
				    ITEM_HDR + (uint64_t)it->klen + it->vlen > m->g.size[W_CLS(w)])
					FAIL("chunk %u: lengths %u+%u do not fit", W_UNIT(w), it->klen, it->vlen);
				tend__map_hash_key(m, (const unsigned char *)it + ITEM_HDR, it->klen, &k);
				if (k.s != s || (b != k.b1 && b != k.b2) || k.tag != W_TAG(w))
					FAIL("chunk %u: key in the wrong bucket", W_UNIT(w));
				if (!tend__map_find(m, &k, &at) || at.b != b || at.si != i)
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
				if (!tend__map_chunk_valid(m, s, c, u))
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
