/*
 * tend_queue: MPMC priority queue in shared memory (see include/tend/queue.h
 * for the contract and docs/libtend.md for the protocol).
 *
 * Layout: a header page, then one struct qlevel per priority level, then the
 * slots of every level.  Level p is a ring of 2^k slots; position n (a
 * 64-bit count that never wraps) lives in slot n & mask, lap n >> k.  A slot
 * starts with an 8-byte word: low half the lap of the message it holds, high
 * half its length.  A slot holds position n's message exactly when its lap
 * word equals lap(n): slots start at lap 0xffffffff, and a slot only ever
 * goes from lap(n - ring) to lap(n).
 *
 * Producers of a level serialise on plock and consumers on clock (locks
 * that a dead owner cannot keep, see sync.c).  put: lock plock, check room against the tail,
 * copy the bytes, publish the slot word (the commit), bump head, unlock.
 * get: find the highest level whose slot at its tail is published (no lock),
 * lock clock, check again, copy out, advance tail (the commit), unlock.
 *
 * Sleeping.  A consumer that finds nothing sets the "sleeping" bit of
 * cons_wait, then reads every plock, then scans again; a producer reads
 * cons_wait after taking plock (the lock CAS is the fence between them).  So
 * either the producer sees the bit and wakes the sleepers, or the consumer
 * sees the plock held (and waits on that lock, not on cons_wait), or the
 * consumer's scan sees the message.  The producer wakes *before* it commits,
 * still holding plock: woken consumers then find plock held and wait on the
 * lock, which they take over if the producer dies.  Producers waiting
 * for room mirror this with each level's room word and clock.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/seg.h"
#include "lib/sync.h"
#include "tend/queue.h"

#define QUEUE_MAGIC 0x3165757144656e54ull /* "TenDque1" */
#define QUEUE_VERSION 1u

#define LAP_EMPTY 0xffffffffu
#define SLOT_HDR 8u
#define SPIN_NS 20000u      /* a blocked call spins this long before sleeping */
#define PREFETCH_W 12u      /* producer: slots written ahead (prefetchw) */
#define PREFETCH_R 6u       /* consumer: slots read ahead */

/* Fault points (tend__fault_hook), for the tests that kill at each one. */
enum {
	FP_PUT_LOCKED = 1,
	FP_PUT_WOKE,
	FP_PUT_COPIED,
	FP_PUT_COMMITTED,
	FP_PUT_HEAD,
	FP_GET_LOCKED = 11,
	FP_GET_COPIED,
	FP_GET_COMMITTED,
	FP_WAIT_FLAGGED = 21,
};

struct qlevel {
	/* producers' line */
	_Alignas(64) _Atomic uint64_t plock;
	_Atomic uint64_t head;       /* next position to write */
	_Atomic uint64_t tail_seen;  /* a tail value some producer saw */
	/* consumers' line */
	_Alignas(64) _Atomic uint64_t clock;
	_Atomic uint64_t tail;       /* next position to read */
	/* producers sleeping for room: bit 0 = someone sleeps, rest counts wakes */
	_Alignas(64) _Atomic uint32_t room;
};

struct qhdr {
	struct tend__seg_hdr seg;
	uint32_t capacity;
	uint32_t max_msg;
	uint32_t nprio;
	uint32_t stride;
	uint32_t ring_shift;
	uint32_t reserved;
	uint64_t levels_off;
	uint64_t slots_off;
	uint64_t level_bytes;
	_Alignas(64) _Atomic uint32_t closed;
	/* consumers sleeping for data: bit 0 = someone sleeps, rest counts wakes */
	_Alignas(64) _Atomic uint32_t cons_wait;
};

struct tend_queue {
	struct tend__seg seg;
	struct qhdr *h;
	struct qlevel *lv;
	unsigned char *slots;
	uint64_t level_bytes;
	uint64_t mask;
	uint32_t ring_shift;
	uint32_t capacity;
	uint32_t max_msg;
	uint32_t nprio;
	uint32_t stride;
};

/* Layout of a queue, computed the same way at create and at open. */
struct geometry {
	uint32_t stride, ring_shift;
	uint64_t levels_off, slots_off, level_bytes, total;
};

static int geometry(struct geometry *g, uint64_t capacity, uint64_t max_msg, uint64_t nprio)
{
	uint64_t ring = 1;

	if (capacity < 1 || capacity > TEND_QUEUE_CAPACITY_MAX || max_msg < 1 || max_msg > TEND_QUEUE_MSG_MAX ||
	    nprio < 1 || nprio > TEND_QUEUE_PRIO_MAX)
		return -EINVAL;
	g->ring_shift = 0;
	while (ring < capacity) {
		ring <<= 1;
		g->ring_shift++;
	}
	g->stride = (uint32_t)tend__align_up(SLOT_HDR + max_msg, 8);
	g->levels_off = tend__align_up(sizeof(struct qhdr), 64);
	g->slots_off = tend__align_up(g->levels_off + nprio * sizeof(struct qlevel), 4096);
	g->level_bytes = tend__align_up(ring * g->stride, 64);
	/* ring <= 2^24, stride <= 2^26 + 8, nprio <= 32: no overflow in 64 bits */
	g->total = g->slots_off + nprio * g->level_bytes;
	if (g->total > TEND__SEG_MAX)
		return -EFBIG;
	return 0;
}

static inline void fault(int point)
{
	if (__builtin_expect(tend__fault_hook != NULL, 0))
		tend__fault_hook(point);
}

/* Ask for a line in the exclusive state, ready to be written.  GCC turns
 * __builtin_prefetch(p, 1) into a plain read prefetch unless PRFCHW is
 * enabled at build time, and a line fetched shared must still be taken
 * from the consumer's cache at the write, a stall the next locked
 * instruction waits for.  Every x86-64 CPU runs PREFETCHW (older Intel ones
 * as a no-op). */
static inline void prefetch_w(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

static inline unsigned char *slot(const tend_queue *q, unsigned p, uint64_t pos)
{
	return q->slots + p * q->level_bytes + (pos & q->mask) * q->stride;
}

static inline _Atomic uint64_t *slot_word(unsigned char *s)
{
	return (_Atomic uint64_t *)(void *)s;
}

static inline uint32_t lap(const tend_queue *q, uint64_t pos)
{
	return (uint32_t)(pos >> q->ring_shift);
}

static void fill_handle(tend_queue *q, const struct geometry *g, uint32_t capacity, uint32_t max_msg,
			uint32_t nprio)
{
	q->h = (struct qhdr *)q->seg.base;
	q->lv = (struct qlevel *)(q->seg.base + g->levels_off);
	q->slots = q->seg.base + g->slots_off;
	q->level_bytes = g->level_bytes;
	q->ring_shift = g->ring_shift;
	q->mask = ((uint64_t)1 << g->ring_shift) - 1;
	q->capacity = capacity;
	q->max_msg = max_msg;
	q->nprio = nprio;
	q->stride = g->stride;
}

int tend_queue_create(tend_queue **ret_q, const char *name, size_t capacity, size_t max_msg, unsigned nprio,
		      unsigned mode)
{
	struct geometry g;
	tend_queue *q;
	uint64_t i, ring;
	unsigned p;
	int r;

	if (!ret_q)
		return -EINVAL;
	r = geometry(&g, capacity, max_msg, nprio);
	if (r < 0)
		return r;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	r = tend__seg_create(&q->seg, name, g.total, mode);
	if (r < 0)
		goto out_free;
	fill_handle(q, &g, (uint32_t)capacity, (uint32_t)max_msg, nprio);
	q->h->capacity = (uint32_t)capacity;
	q->h->max_msg = (uint32_t)max_msg;
	q->h->nprio = nprio;
	q->h->stride = g.stride;
	q->h->ring_shift = g.ring_shift;
	q->h->levels_off = g.levels_off;
	q->h->slots_off = g.slots_off;
	q->h->level_bytes = g.level_bytes;
	ring = (uint64_t)1 << g.ring_shift;
	for (p = 0; p < nprio; p++)
		for (i = 0; i < ring; i++)
			atomic_store_explicit(slot_word(slot(q, p, i)), LAP_EMPTY, memory_order_relaxed);
	tend__seg_publish(&q->seg, QUEUE_MAGIC, QUEUE_VERSION, sizeof(struct qhdr));
	*ret_q = q;
	return 0;

out_free:
	free(q);
	return r;
}

/* Check the queue header of a mapped segment and fill the handle from it
 * (tend__obj_open's adopt). */
static int adopt(void *handle)
{
	tend_queue *q = handle;
	const struct qhdr *h = (const struct qhdr *)q->seg.base;
	struct geometry g;
	int r;

	r = geometry(&g, h->capacity, h->max_msg, h->nprio);
	if (r < 0)
		return -EBADMSG;
	if (g.stride != h->stride || g.ring_shift != h->ring_shift || g.levels_off != h->levels_off ||
	    g.slots_off != h->slots_off || g.level_bytes != h->level_bytes || g.total != q->seg.size)
		return -EBADMSG;
	fill_handle(q, &g, h->capacity, h->max_msg, h->nprio);
	return 0;
}

static int open_common(tend_queue **ret_q, const char *name, int fd)
{
	void *q;
	int r;

	if (!ret_q)
		return -EINVAL;
	r = tend__obj_open(&q, sizeof(tend_queue), name, fd, QUEUE_MAGIC, QUEUE_VERSION, sizeof(struct qhdr), adopt);
	if (r == 0)
		*ret_q = q;
	return r;
}

int tend_queue_open(tend_queue **ret_q, const char *name)
{
	if (!name)
		return -EINVAL;
	return open_common(ret_q, name, -1);
}

int tend_queue_open_fd(tend_queue **ret_q, int fd)
{
	return open_common(ret_q, NULL, fd);
}

int tend_queue_unlink(const char *name)
{
	return tend__seg_unlink(name);
}

tend_queue *tend_queue_free(tend_queue *q)
{
	if (q) {
		tend__seg_close(&q->seg);
		free(q);
	}
	return NULL;
}

/* ---- waking and sleeping ------------------------------------------------ */

/* If someone sleeps on *w (bit 0), clear the bit, count a wake, wake all. */
static void wake_sleepers(_Atomic uint32_t *w)
{
	uint32_t v = atomic_load_explicit(w, memory_order_relaxed);

	while (v & 1u) {
		if (atomic_compare_exchange_weak_explicit(w, &v, (v & ~1u) + 2u, memory_order_relaxed,
							  memory_order_relaxed)) {
			tend__futex_wake_all(w);
			return;
		}
	}
}

/* Count a wake on *w whether or not the bit is set, and wake all (close). */
static void wake_always(_Atomic uint32_t *w)
{
	uint32_t v = atomic_load_explicit(w, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(w, &v, (v & ~1u) + 2u, memory_order_seq_cst,
						      memory_order_relaxed))
		;
	tend__futex_wake_all(w);
}

/* Set the sleeping bit of *w (a full fence either way); return the value to
 * sleep on. */
static uint32_t flag_sleeping(_Atomic uint32_t *w)
{
	uint32_t v = atomic_load_explicit(w, memory_order_relaxed);

	for (;;) {
		if (v & 1u) {
			atomic_thread_fence(memory_order_seq_cst);
			return v;
		}
		if (atomic_compare_exchange_weak_explicit(w, &v, v | 1u, memory_order_seq_cst, memory_order_relaxed))
			return v | 1u;
	}
}

/* Wait until the PI lock *w is free (its owner finished or died), holding it
 * for an instant.  plock says it is a producer lock, which we repair when
 * its owner may have died.  Returns 0 or -errno (-ETIMEDOUT, -EAGAIN). */
static int wait_lock(tend_queue *q, unsigned p, bool plock, uint64_t me, const struct tend__deadline *d);

/* ---- put ---------------------------------------------------------------- */

/* Producer lock repair: a producer killed after its commit but before it
 * advanced head left head one behind a published slot. */
static void repair_head(tend_queue *q, unsigned p)
{
	struct qlevel *L = &q->lv[p];
	uint64_t h = atomic_load_explicit(&L->head, memory_order_relaxed);

	while ((uint32_t)atomic_load_explicit(slot_word(slot(q, p, h)), memory_order_acquire) == lap(q, h))
		h++;
	atomic_store_explicit(&L->head, h, memory_order_relaxed);
}

/* How long a TEND_NOWAIT call waits for a lock a live peer holds. */
#define NOWAIT_LOCK_NS 20000000ll

/* TEND_NOWAIT means no waiting for room or data.  A peer holds these locks
 * for an instant (also a waiter, briefly, on the other side's lock): a
 * descheduled holder must not make a put fail on a queue with room, or a get
 * on one with data.  So a NOWAIT caller waits for a live holder, a little. */
static int qlock(_Atomic uint64_t *w, uint64_t me, const struct tend__deadline *d)
{
	struct tend__deadline brief;
	int r = tend__lock(w, me, d);

	if (r != -EAGAIN)
		return r;
	tend__deadline_init(&brief, NOWAIT_LOCK_NS);
	r = tend__lock(w, me, &brief);
	return r == -ETIMEDOUT ? -EAGAIN : r;
}

static int plock(tend_queue *q, unsigned p, uint64_t me, const struct tend__deadline *d)
{
	int r = qlock(&q->lv[p].plock, me, d);

	if (r == 1) {
		repair_head(q, p);
		r = 0;
	}
	return r;
}

static int clock_(tend_queue *q, unsigned p, uint64_t me, const struct tend__deadline *d)
{
	int r = qlock(&q->lv[p].clock, me, d);

	return r > 0 ? 0 : r;
}

static int wait_lock(tend_queue *q, unsigned p, bool is_plock, uint64_t me, const struct tend__deadline *d)
{
	int r = is_plock ? plock(q, p, me, d) : clock_(q, p, me, d);

	if (r < 0)
		return r;
	tend__unlock(is_plock ? &q->lv[p].plock : &q->lv[p].clock);
	return 0;
}

static inline bool has_room(tend_queue *q, struct qlevel *L, uint64_t h)
{
	uint64_t t;

	if (h - atomic_load_explicit(&L->tail_seen, memory_order_relaxed) < q->capacity)
		return true;
	t = atomic_load_explicit(&L->tail, memory_order_acquire);
	atomic_store_explicit(&L->tail_seen, t, memory_order_relaxed);
	return h - t < q->capacity;
}

/* Wait, without any lock, until level p looks like it has room. */
static int wait_room(tend_queue *q, unsigned p, uint64_t me, const struct tend__deadline *d)
{
	struct qlevel *L = &q->lv[p];
	uint64_t spin_end = tend__now_ns() + SPIN_NS;
	uint32_t v;
	int i, r;

	for (;;) {
		if (atomic_load_explicit(&q->h->closed, memory_order_acquire))
			return -EPIPE;
		if (atomic_load_explicit(&L->head, memory_order_relaxed) -
			    atomic_load_explicit(&L->tail, memory_order_acquire) < q->capacity)
			return 0;
		if (d->nowait)
			return -EAGAIN;
		if (tend__now_ns() >= spin_end)
			break;
		/* Poll the consumers' line gently: every read takes it from them. */
		for (i = 0; i < 32; i++)
			tend__cpu_relax();
	}
	for (;;) {
		v = flag_sleeping(&L->room);
		fault(FP_WAIT_FLAGGED);
		/* Read clock before the tail: see the comment at the top. */
		if (atomic_load_explicit(&L->clock, memory_order_seq_cst) != 0) {
			r = wait_lock(q, p, false, me, d);
			if (r < 0)
				return r;
			return 0;
		}
		if (atomic_load_explicit(&q->h->closed, memory_order_acquire))
			return -EPIPE;
		if (atomic_load_explicit(&L->head, memory_order_relaxed) -
			    atomic_load_explicit(&L->tail, memory_order_acquire) < q->capacity)
			return 0;
		r = tend__futex_wait(&L->room, v, d);
		if (r < 0)
			return r;
	}
}

int tend_queue_put(tend_queue *q, const void *msg, size_t len, unsigned prio, int64_t timeout_ns)
{
	struct tend__deadline d;
	struct qlevel *L;
	unsigned char *s;
	uint64_t me;
	uint64_t h;
	int r;

	if (!q || (!msg && len) || prio >= q->nprio)
		return -EINVAL;
	if (len > q->max_msg)
		return -EMSGSIZE;
	tend__deadline_init(&d, timeout_ns);
	L = &q->lv[prio];
	me = tend__token();
	for (;;) {
		if (atomic_load_explicit(&q->h->closed, memory_order_relaxed))
			return -EPIPE;
		r = plock(q, prio, me, &d);
		if (r < 0)
			return r;
		fault(FP_PUT_LOCKED);
		h = atomic_load_explicit(&L->head, memory_order_relaxed);
		if (has_room(q, L, h))
			break;
		tend__unlock(&L->plock);
		r = wait_room(q, prio, me, &d);
		if (r < 0)
			return r;
	}
	/* Wake sleeping consumers before the commit, while we hold plock. */
	if (atomic_load_explicit(&q->h->cons_wait, memory_order_seq_cst) & 1u)
		wake_sleepers(&q->h->cons_wait);
	fault(FP_PUT_WOKE);
	s = slot(q, prio, h);
	if (len)
		memcpy(s + SLOT_HDR, msg, len);
	fault(FP_PUT_COPIED);
	atomic_store_explicit(slot_word(s), (uint64_t)len << 32 | lap(q, h), memory_order_release);
	fault(FP_PUT_COMMITTED);
	atomic_store_explicit(&L->head, h + 1, memory_order_relaxed);
	fault(FP_PUT_HEAD);
	/* Own the lines of the next slots before we need them. */
	if (h + 1 + PREFETCH_W - atomic_load_explicit(&L->tail_seen, memory_order_relaxed) < q->capacity) {
		s = slot(q, prio, h + 1 + PREFETCH_W);
		prefetch_w(s);
		prefetch_w(s + q->stride - 1);
	}
	tend__unlock(&L->plock);
	return 0;
}

/* ---- get ---------------------------------------------------------------- */

/* The highest level whose next slot is published, or -1. */
static inline int scan(const tend_queue *q)
{
	int p;

	for (p = (int)q->nprio - 1; p >= 0; p--) {
		uint64_t t = atomic_load_explicit(&q->lv[p].tail, memory_order_acquire);
		uint64_t w = atomic_load_explicit(slot_word(slot(q, (unsigned)p, t)), memory_order_acquire);

		if ((uint32_t)w == lap(q, t))
			return p;
	}
	return -1;
}

#define TAKE_RETRY INT_MIN /* not an errno, not a length */

/* Take the message at the tail of level p.  Returns its length, TAKE_RETRY
 * (another consumer took it first), or -errno. */
static int take(tend_queue *q, unsigned p, void *buf, size_t cap, unsigned *ret_prio, uint64_t me,
		const struct tend__deadline *d)
{
	struct qlevel *L = &q->lv[p];
	unsigned char *s;
	uint64_t t, w;
	uint32_t len;
	int r;

	r = clock_(q, p, me, d);
	if (r < 0)
		return r;
	fault(FP_GET_LOCKED);
	t = atomic_load_explicit(&L->tail, memory_order_relaxed);
	s = slot(q, p, t);
	w = atomic_load_explicit(slot_word(s), memory_order_acquire);
	if ((uint32_t)w != lap(q, t)) {
		tend__unlock(&L->clock);
		return TAKE_RETRY;
	}
	len = (uint32_t)(w >> 32);
	if (len > q->max_msg) {
		r = -EBADMSG;
		goto out_commit;
	}
	if (len > cap) {
		tend__unlock(&L->clock);
		return -EMSGSIZE;
	}
	/* Wake producers waiting for room before the commit, holding clock. */
	if (atomic_load_explicit(&L->room, memory_order_seq_cst) & 1u)
		wake_sleepers(&L->room);
	if (len)
		memcpy(buf, s + SLOT_HDR, len);
	fault(FP_GET_COPIED);
	r = (int)len;
out_commit:
	atomic_store_explicit(&L->tail, t + 1, memory_order_release);
	fault(FP_GET_COMMITTED);
	__builtin_prefetch(slot(q, p, t + 1 + PREFETCH_R), 0);
	tend__unlock(&L->clock);
	if (r >= 0 && ret_prio)
		*ret_prio = p;
	return r;
}

/* Sleep until a put may have happened.  Returns 0 to scan again or -errno. */
static int sleep_for_data(tend_queue *q, uint64_t me, const struct tend__deadline *d)
{
	uint32_t v;
	int p, r;

	v = flag_sleeping(&q->h->cons_wait);
	fault(FP_WAIT_FLAGGED);
	/* A producer holding its lock may be about to commit without seeing our
	 * bit: wait on its lock instead (the kernel wakes us if it dies). */
	for (p = (int)q->nprio - 1; p >= 0; p--)
		if (atomic_load_explicit(&q->lv[p].plock, memory_order_seq_cst) != 0)
			return wait_lock(q, (unsigned)p, true, me, d);
	if (scan(q) >= 0 || atomic_load_explicit(&q->h->closed, memory_order_acquire))
		return 0;
	r = tend__futex_wait(&q->h->cons_wait, v, d);
	return r;
}

int tend_queue_get(tend_queue *q, void *buf, size_t cap, unsigned *ret_prio, int64_t timeout_ns)
{
	struct tend__deadline d;
	uint64_t spin_end = 0;
	uint64_t me;
	int p, r;

	if (!q || (!buf && cap))
		return -EINVAL;
	tend__deadline_init(&d, timeout_ns);
	me = tend__token();
	for (;;) {
		p = scan(q);
		if (p >= 0) {
			r = take(q, (unsigned)p, buf, cap, ret_prio, me, &d);
			if (r != TAKE_RETRY)
				return r;
			continue;
		}
		if (atomic_load_explicit(&q->h->closed, memory_order_acquire)) {
			if (scan(q) >= 0)
				continue;
			return -EPIPE;
		}
		if (d.nowait)
			return -EAGAIN;
		if (spin_end == 0)
			spin_end = tend__now_ns() + SPIN_NS;
		if (tend__now_ns() < spin_end) {
			tend__cpu_relax();
			continue;
		}
		if (tend__deadline_passed(&d))
			return -ETIMEDOUT;
		r = sleep_for_data(q, me, &d);
		if (r < 0) {
			if (r == -ETIMEDOUT && scan(q) >= 0)
				continue;
			return r;
		}
	}
}

/* ---- the rest ----------------------------------------------------------- */

int tend_queue_close(tend_queue *q)
{
	unsigned p;

	if (!q)
		return -EINVAL;
	atomic_store_explicit(&q->h->closed, 1, memory_order_seq_cst);
	wake_always(&q->h->cons_wait);
	for (p = 0; p < q->nprio; p++)
		wake_always(&q->lv[p].room);
	return 0;
}

int tend_queue_closed(tend_queue *q)
{
	if (!q)
		return -EINVAL;
	return atomic_load_explicit(&q->h->closed, memory_order_acquire) ? 1 : 0;
}

int tend_queue_qsize(tend_queue *q)
{
	uint64_t n = 0, h, t;
	unsigned p;

	if (!q)
		return -EINVAL;
	for (p = 0; p < q->nprio; p++) {
		t = atomic_load_explicit(&q->lv[p].tail, memory_order_acquire);
		h = atomic_load_explicit(&q->lv[p].head, memory_order_acquire);
		/* head may lag one published slot behind (see repair_head). */
		if ((uint32_t)atomic_load_explicit(slot_word(slot(q, p, h)), memory_order_acquire) == lap(q, h))
			h++;
		if (h - t <= q->capacity)
			n += h - t;
	}
	return n > INT_MAX ? INT_MAX : (int)n;
}

int tend_queue_empty(tend_queue *q)
{
	if (!q)
		return -EINVAL;
	return scan(q) < 0 ? 1 : 0;
}

int tend_queue_full(tend_queue *q, unsigned prio)
{
	struct qlevel *L;

	if (!q || prio >= q->nprio)
		return -EINVAL;
	L = &q->lv[prio];
	return atomic_load_explicit(&L->head, memory_order_acquire) -
			       atomic_load_explicit(&L->tail, memory_order_acquire) >=
		       q->capacity
		       ? 1
		       : 0;
}

size_t tend_queue_capacity(const tend_queue *q)
{
	return q->capacity;
}

size_t tend_queue_max_msg(const tend_queue *q)
{
	return q->max_msg;
}

unsigned tend_queue_nprio(const tend_queue *q)
{
	return q->nprio;
}

int tend_queue_fd(const tend_queue *q)
{
	return q->seg.fd;
}
