/*
 * tend_counter: partitioned, atomic and locked counters in shared memory
 * (see include/tend/counter.h for the contract, docs/libtend.md for the
 * layout).
 *
 * Layout: the header (common segment header, kind, nslots, slots_off), the
 * shared word on its own line, the lock word of the LOCKED kind on another,
 * then (PARTITIONED) nslots slots of one cache line each: the slot's value
 * and the token of the process that claimed it (0: free).
 *
 * A handle remembers its claim in one 64-bit word: the fork generation of
 * the process that claimed (high half) and the slot index + 1 (low half; 0
 * means none, SHARED means "no slot was free: use the shared word").  A
 * child that inherits the handle sees another fork generation and claims
 * its own slot.  The word is atomic, so threads racing to claim agree on
 * one slot; a loser gives its slot back.
 */
#include <errno.h>
#include <stdlib.h>

#include "lib/seg.h"
#include "lib/sync.h"
#include "tend/counter.h"

#define COUNTER_MAGIC 0x317274436e446554ull /* "TeDnCtr1" */
#define COUNTER_VERSION 1u

#define CLAIM_NONE 0u
#define CLAIM_SHARED 0xffffffffu

struct cslot {
	_Alignas(64) _Atomic uint64_t value;
	_Atomic uint64_t owner; /* claimer's process token, 0 when free */
};

struct chdr {
	struct tend__seg_hdr seg;
	uint32_t kind;
	uint32_t nslots;
	uint64_t slots_off;
	_Alignas(64) _Atomic uint64_t shared; /* ATOMIC, LOCKED, and PARTITIONED overflow */
	_Alignas(64) _Atomic uint64_t lock;   /* LOCKED */
};

struct tend_counter {
	struct tend__seg seg;
	struct chdr *h;
	struct cslot *slots;
	enum tend_counter_kind kind;
	uint32_t nslots;
	_Atomic uint64_t claim; /* fork generation << 32 | slot index + 1 */
};

static int geometry(uint32_t kind, uint64_t nslots, uint64_t *ret_slots_off, uint64_t *ret_total)
{
	uint64_t off = tend__align_up(sizeof(struct chdr), 64);

	switch (kind) {
	case TEND_COUNTER_PARTITIONED:
		if (nslots < 1 || nslots > TEND_COUNTER_SLOTS_MAX)
			return -EINVAL;
		break;
	case TEND_COUNTER_ATOMIC:
	case TEND_COUNTER_LOCKED:
		if (nslots != 0)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	*ret_slots_off = off;
	*ret_total = off + nslots * sizeof(struct cslot);
	return 0;
}

static void fill_handle(tend_counter *c, uint32_t kind, uint32_t nslots, uint64_t slots_off)
{
	c->h = (struct chdr *)c->seg.base;
	c->slots = (struct cslot *)(c->seg.base + slots_off);
	c->kind = (enum tend_counter_kind)kind;
	c->nslots = nslots;
	atomic_store_explicit(&c->claim, 0, memory_order_relaxed);
}

int tend_counter_create(tend_counter **ret_c, const char *name, enum tend_counter_kind kind, unsigned nslots,
			unsigned mode)
{
	uint64_t off, total;
	tend_counter *c;
	int r;

	if (!ret_c)
		return -EINVAL;
	r = geometry((uint32_t)kind, nslots, &off, &total);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = tend__seg_create(&c->seg, name, total, mode);
	if (r < 0)
		goto out_free;
	fill_handle(c, (uint32_t)kind, nslots, off);
	c->h->kind = (uint32_t)kind;
	c->h->nslots = nslots;
	c->h->slots_off = off;
	tend__seg_publish(&c->seg, COUNTER_MAGIC, COUNTER_VERSION, sizeof(struct chdr));
	*ret_c = c;
	return 0;

out_free:
	free(c);
	return r;
}

/* Check the counter header of a mapped segment and fill the handle from it
 * (tend__obj_open's adopt). */
static int adopt(void *handle)
{
	tend_counter *c = handle;
	const struct chdr *h = (const struct chdr *)c->seg.base;
	uint64_t off, total;

	if (geometry(h->kind, h->nslots, &off, &total) < 0 || off != h->slots_off || total != c->seg.size)
		return -EBADMSG;
	fill_handle(c, h->kind, h->nslots, off);
	return 0;
}

static int open_common(tend_counter **ret_c, const char *name, int fd)
{
	void *c;
	int r;

	if (!ret_c)
		return -EINVAL;
	r = tend__obj_open(&c, sizeof(tend_counter), name, fd, COUNTER_MAGIC, COUNTER_VERSION, sizeof(struct chdr),
			   adopt);
	if (r == 0)
		*ret_c = c;
	return r;
}

int tend_counter_open(tend_counter **ret_c, const char *name)
{
	if (!name)
		return -EINVAL;
	return open_common(ret_c, name, -1);
}

int tend_counter_open_fd(tend_counter **ret_c, int fd)
{
	return open_common(ret_c, NULL, fd);
}

int tend_counter_unlink(const char *name)
{
	return tend__seg_unlink(name);
}

tend_counter *tend_counter_free(tend_counter *c)
{
	if (c) {
		(void)tend_counter_release(c);
		tend__seg_close(&c->seg);
		free(c);
	}
	return NULL;
}

/* ---- slots --------------------------------------------------------------- */

static inline uint64_t claim_word(uint32_t idx1)
{
	return (uint64_t)tend__fork_gen << 32 | idx1;
}

/* Take a slot for token me: a free one, else one whose claimer is dead.
 * Returns its index or -ENOSPC. */
static int take_slot(tend_counter *c, uint64_t me)
{
	uint64_t o;
	uint32_t i;

	for (i = 0; i < c->nslots; i++) {
		o = 0;
		if (atomic_load_explicit(&c->slots[i].owner, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong_explicit(&c->slots[i].owner, &o, me, memory_order_acq_rel,
							    memory_order_relaxed))
			return (int)i;
	}
	for (i = 0; i < c->nslots; i++) {
		o = atomic_load_explicit(&c->slots[i].owner, memory_order_relaxed);
		if (o == 0 || o == me || tend__owner_alive(o))
			continue;
		/* Its claimer is dead: take it over from exactly that token,
		 * keeping the value. */
		if (atomic_compare_exchange_strong_explicit(&c->slots[i].owner, &o, me, memory_order_acq_rel,
							    memory_order_relaxed))
			return (int)i;
	}
	/* Lost every race: one more pass for a slot freed meanwhile. */
	for (i = 0; i < c->nslots; i++) {
		o = 0;
		if (atomic_compare_exchange_strong_explicit(&c->slots[i].owner, &o, me, memory_order_acq_rel,
							    memory_order_relaxed))
			return (int)i;
	}
	return -ENOSPC;
}

int tend_counter_claim(tend_counter *c)
{
	uint64_t cur, me, want;
	uint32_t idx1;
	int r;

	if (!c)
		return -EINVAL;
	if (c->kind != TEND_COUNTER_PARTITIONED)
		return 0;
	me = tend__proc_token(); /* first: registers the fork handler */
	cur = atomic_load_explicit(&c->claim, memory_order_acquire);
	if ((uint32_t)(cur >> 32) == tend__fork_gen && (uint32_t)cur != CLAIM_NONE && (uint32_t)cur != CLAIM_SHARED)
		return (int)((uint32_t)cur - 1);
	r = take_slot(c, me);
	idx1 = r >= 0 ? (uint32_t)r + 1 : CLAIM_SHARED;
	want = claim_word(idx1);
	if (!atomic_compare_exchange_strong_explicit(&c->claim, &cur, want, memory_order_acq_rel,
						     memory_order_acquire)) {
		/* Another thread of this process claimed meanwhile: use its slot. */
		if (r >= 0)
			atomic_store_explicit(&c->slots[r].owner, 0, memory_order_release);
		return tend_counter_claim(c);
	}
	return r;
}

int tend_counter_release(tend_counter *c)
{
	uint64_t cur;
	uint32_t idx1;

	if (!c)
		return -EINVAL;
	if (c->kind != TEND_COUNTER_PARTITIONED)
		return 0;
	cur = atomic_load_explicit(&c->claim, memory_order_acquire);
	idx1 = (uint32_t)cur;
	/* A claim made before a fork is the parent's, not ours to give back. */
	if ((uint32_t)(cur >> 32) != tend__fork_gen || idx1 == CLAIM_NONE)
		return 0;
	if (!atomic_compare_exchange_strong_explicit(&c->claim, &cur, claim_word(CLAIM_NONE), memory_order_acq_rel,
						     memory_order_relaxed))
		return 0; /* another thread released it */
	if (idx1 != CLAIM_SHARED && idx1 <= c->nslots) {
		uint64_t me = tend__proc_token();

		(void)atomic_compare_exchange_strong_explicit(&c->slots[idx1 - 1].owner, &me, 0, memory_order_acq_rel,
							      memory_order_relaxed);
	}
	return 0;
}

/* ---- add and sum --------------------------------------------------------- */

static _Atomic uint64_t *partition(tend_counter *c)
{
	uint64_t cur = atomic_load_explicit(&c->claim, memory_order_relaxed);
	uint32_t idx1 = (uint32_t)cur;

	if (__builtin_expect((uint32_t)(cur >> 32) != tend__fork_gen || idx1 == CLAIM_NONE, 0)) {
		(void)tend_counter_claim(c);
		cur = atomic_load_explicit(&c->claim, memory_order_relaxed);
		idx1 = (uint32_t)cur;
	}
	if (idx1 == CLAIM_NONE || idx1 > c->nslots)
		return &c->h->shared; /* CLAIM_SHARED, or a release that raced */
	return &c->slots[idx1 - 1].value;
}

int tend_counter_add(tend_counter *c, int64_t delta)
{
	struct tend__deadline d;

	if (!c)
		return -EINVAL;
	switch (c->kind) {
	case TEND_COUNTER_PARTITIONED:
		atomic_fetch_add_explicit(partition(c), (uint64_t)delta, memory_order_relaxed);
		return 0;
	case TEND_COUNTER_ATOMIC:
		atomic_fetch_add_explicit(&c->h->shared, (uint64_t)delta, memory_order_relaxed);
		return 0;
	case TEND_COUNTER_LOCKED:
	default:
		tend__deadline_init(&d, TEND_FOREVER);
		/* A dead owner cannot have left the value half-written: it is
		 * one aligned 8-byte store. */
		(void)tend__lock(&c->h->lock, tend__token(), &d);
		atomic_store_explicit(&c->h->shared,
				      atomic_load_explicit(&c->h->shared, memory_order_relaxed) + (uint64_t)delta,
				      memory_order_relaxed);
		tend__unlock(&c->h->lock);
		return 0;
	}
}

int tend_counter_sum(tend_counter *c, int64_t *ret_value)
{
	uint64_t v;
	uint32_t i;

	if (!c || !ret_value)
		return -EINVAL;
	v = atomic_load_explicit(&c->h->shared, memory_order_relaxed);
	for (i = 0; i < c->nslots; i++)
		v += atomic_load_explicit(&c->slots[i].value, memory_order_relaxed);
	*ret_value = (int64_t)v;
	return 0;
}

enum tend_counter_kind tend_counter_kind(const tend_counter *c)
{
	return c->kind;
}

unsigned tend_counter_nslots(const tend_counter *c)
{
	return c->nslots;
}

int tend_counter_fd(const tend_counter *c)
{
	return c->seg.fd;
}
