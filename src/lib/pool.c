/*
 * tend_pool: prefork worker pool (see include/tend/pool.h for the contract
 * and docs/pool.md for the design).
 *
 * Shape.  Every worker slot owns a task channel: an anonymous tend_queue
 * with one producer (the parent) and one consumer (the slot's current
 * worker process).  All workers send results to one result queue, which
 * only the parent reads.  The parent keeps, per slot, the FIFO of the tasks
 * it put in the channel whose results have not come back yet (`fifo`, at
 * most `depth`).  A worker handles its tasks one at a time and in channel
 * order, so the result it sends is always for the head of its slot's FIFO.
 *
 * A dead worker.  When the parent finds through the worker's pidfd that it
 * has exited, it (1) takes every result left in the result queue (the dead
 * worker committed those before it died, so a non-blocking get sees them
 * all), (2) counts the messages still in the channel: as the parent is the
 * channel's only producer and the dead worker its only consumer, that count
 * is exact, (3) fails the FIFO entries the worker took but did not answer:
 * FIFO length minus channel count, which is 0 or 1, with -EOWNERDEAD, and
 * (4) starts a replacement on the same channel, which carries on with the
 * tasks still queued there.  The queue is robust against a consumer killed
 * inside get() and a producer killed inside put(), so the only unknown left
 * is the one task in the dead worker's hands.
 *
 * No threads: results are collected, dead workers looked for (every 10 ms
 * at most, and whenever a wait for a result times out a 10 ms slice) and
 * queued tasks handed out inside the pool's calls.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/sync.h"
#include "tend/pool.h"
#include "tend/queue.h"

#define CHECK_NS 10000000ll /* look for dead workers this often while waiting */
#define SMALL_RESULT 64u     /* results this short live inside the future */
#define RESULTS_MAX 4096u    /* most messages in the result queue */
#define START_FAILURES_MAX 3 /* workers dead in the initializer, in a row,
				that make a slot give up its queued tasks */

/* A message to a worker: one task (count == 0) or a chunk of map elements. */
struct task_hdr {
	uint64_t id;
	tend_pool_fn *fn;
	uint32_t count;    /* 0: one task; else elements in the chunk */
	uint32_t in_size;  /* argument length, or element size */
	uint32_t out_size; /* result capacity, or element result size */
	uint32_t reserved;
};

/* A message from a worker: the result of the task or chunk `id`. */
struct res_hdr {
	uint64_t id;
	uint32_t slot;
	int32_t status; /* >= 0: result length; < 0: -errno */
	uint32_t len;   /* bytes that follow */
	uint32_t reserved;
	uint64_t reserved2;
};

#define HDR_MAX 32u
_Static_assert(sizeof(struct task_hdr) == HDR_MAX, "task header size");
_Static_assert(sizeof(struct res_hdr) == HDR_MAX, "result header size");

struct map_ctx {
	size_t in_size, out_size;
	unsigned char *out;
	size_t pending; /* chunks handed out, not answered */
	int err;        /* first error */
};

/* A task in a worker's channel, waiting for its result. */
struct rec {
	uint64_t id;
	tend_future *fut;    /* apply / apply_async, or */
	struct map_ctx *map; /* a map chunk (both NULL: dropped) */
	size_t start;        /* first element of the chunk */
	size_t count;        /* elements in the chunk */
};

struct worker {
	tend_queue *ch;     /* tasks for this slot */
	struct rec *fifo;   /* depth entries; head is the oldest */
	unsigned head, n;   /* FIFO position and length */
	unsigned assigned;  /* tasks the current process will have run */
	unsigned received;  /* results from the current process */
	unsigned start_failures; /* workers in a row that died in the initializer */
	pid_t pid;          /* 0: no worker in this slot */
	int pidfd;
};

/* How far a worker got, as it shows its parent (one cache line per slot). */
enum { W_FORKED, W_IN_INIT, W_STARTED };
struct wshared {
	_Alignas(64) _Atomic uint32_t stage; /* W_* */
};

/* A retired worker (max_tasks_per_child) that exits on its own. */
struct zombie {
	pid_t pid;
	int pidfd;
};

enum { P_RUNNING, P_CLOSED, P_TERMINATED, P_JOINED };

struct tend_pool {
	unsigned size, depth, max_tasks;
	size_t max_arg, max_result;
	tend_pool_init_fn *init;
	void *initarg;
	int state;
	pid_t owner; /* the process that created the pool */
	unsigned fork_gen; /* tend__fork_gen in it: a fork's copy differs */
	struct worker *w;
	struct wshared *shared;
	tend_queue *res;
	unsigned char *tbuf; /* a task message: header + max_arg */
	unsigned char *rbuf; /* a result message: header + max_result */
	size_t tcap, rcap;
	uint64_t next_id;
	unsigned rr;          /* where pick() starts looking */
	size_t inflight;      /* sum of every FIFO's length */
	int64_t next_check;   /* when to look for dead workers again */
	tend_future *backlog, *backlog_tail;
	struct zombie *zombies;
	size_t nzombies, zcap;
};

struct tend_future {
	tend_pool *pool;    /* NULL once finished */
	tend_future *next;  /* in the backlog */
	tend_pool_fn *fn;   /* while in the backlog: the task */
	unsigned char *arg; /* its argument (a copy) */
	size_t arglen;
	size_t cap;         /* result capacity given to fn */
	unsigned char *result;
	size_t len;
	int status;
	bool done;
	bool detached; /* freed by the caller while unfinished */
	unsigned char small[SMALL_RESULT];
};

static int64_t now_ns(void)
{
	return (int64_t)tend__now_ns();
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

/* ---- the worker process ------------------------------------------------- */

static void run_task(const struct task_hdr *t, const unsigned char *arg, struct res_hdr *rh, unsigned char *out)
{
	uint32_t i;
	int r = 0;

	if (t->count == 0) {
		r = t->fn(arg, t->in_size, out, t->out_size);
		if (r > (int64_t)t->out_size)
			r = -EOVERFLOW;
		rh->status = r;
		rh->len = r > 0 ? (uint32_t)r : 0;
		return;
	}
	for (i = 0; i < t->count; i++) {
		r = t->fn(arg + (size_t)i * t->in_size, t->in_size, out + (size_t)i * t->out_size, t->out_size);
		if (r > (int64_t)t->out_size)
			r = -EOVERFLOW;
		if (r < 0)
			break;
	}
	rh->status = r < 0 ? r : 0;
	rh->len = r < 0 ? 0 : t->count * t->out_size;
}

/* Runs in the child of fork(): never returns. */
static _Noreturn void worker_main(tend_pool *p, unsigned idx, pid_t parent)
{
	tend_queue *ch = p->w[idx].ch;
	const struct task_hdr *t = (const struct task_hdr *)(void *)p->tbuf;
	struct res_hdr *rh = (struct res_hdr *)(void *)p->rbuf;
	unsigned done = 0;
	int r;

	/* Die with the parent, and never outlive it if it is gone already. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	if (p->init) {
		atomic_store_explicit(&p->shared[idx].stage, W_IN_INIT, memory_order_release);
		p->init(p->initarg);
	}
	atomic_store_explicit(&p->shared[idx].stage, W_STARTED, memory_order_release);
	memset(rh, 0, sizeof(*rh));
	rh->slot = idx;
	while (p->max_tasks == 0 || done < p->max_tasks) {
		r = tend_queue_get(ch, p->tbuf, p->tcap, NULL, TEND_FOREVER);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break; /* -EPIPE: the channel was closed and is empty */
		if ((size_t)r < sizeof(*t))
			_exit(3);
		rh->id = t->id;
		run_task(t, p->tbuf + sizeof(*t), rh, p->rbuf + sizeof(*rh));
		do
			r = tend_queue_put(p->res, p->rbuf, sizeof(*rh) + rh->len, 0, TEND_FOREVER);
		while (r == -EINTR);
		if (r < 0)
			break;
		done++;
	}
	/* _exit: the caller's atexit handlers and stdio buffers are not ours. */
	_exit(0);
}

/* ---- futures ------------------------------------------------------------ */

static void future_release(tend_future *f)
{
	if (f->result != f->small)
		free(f->result);
	free(f->arg);
	free(f);
}

/* Record a task's outcome.  A future the caller already freed goes away. */
static void settle(tend_future *f, int status, const unsigned char *data, size_t len)
{
	f->pool = NULL;
	f->done = true;
	free(f->arg);
	f->arg = NULL;
	f->status = status;
	f->len = 0;
	if (status >= 0 && len > 0) {
		f->result = len <= sizeof(f->small) ? f->small : malloc(len);
		if (f->result) {
			memcpy(f->result, data, len);
			f->len = len;
		} else {
			f->status = -ENOMEM;
		}
	}
	if (f->detached)
		future_release(f);
}

/* ---- bookkeeping of tasks in flight ------------------------------------- */

static struct rec *fifo_at(tend_pool *p, struct worker *w, unsigned i)
{
	return &w->fifo[(w->head + i) % p->depth];
}

static struct rec fifo_pop(tend_pool *p, struct worker *w)
{
	struct rec r = w->fifo[w->head];

	w->head = (w->head + 1) % p->depth;
	w->n--;
	p->inflight--;
	return r;
}

/* Deliver an outcome to whoever waits for a task. */
static void complete(const struct rec *r, int status, const unsigned char *data, size_t len)
{
	if (r->fut) {
		settle(r->fut, status, data, len);
	} else if (r->map) {
		struct map_ctx *m = r->map;

		if (status >= 0 && len != r->count * m->out_size)
			status = -EBADMSG; /* never written past the chunk's place */
		if (status < 0) {
			if (!m->err)
				m->err = status;
		} else if (len) {
			memcpy(m->out + r->start * m->out_size, data, len);
		}
		m->pending--;
	}
}

/* Fail the oldest task of a slot. */
static void fail_head(tend_pool *p, struct worker *w, int err)
{
	struct rec r = fifo_pop(p, w);

	complete(&r, err, NULL, 0);
}

/* Take every task still queued in a slot's channel and fail it with err
 * (nobody will run them: the slot has no worker). */
static void fail_queued(tend_pool *p, struct worker *w, int err)
{
	while (w->n > 0) {
		/* Keep the channel in step with the FIFO: a later worker in
		 * this slot must not run tasks that were already failed. */
		(void)tend_queue_get(w->ch, p->tbuf, p->tcap, NULL, TEND_NOWAIT);
		fail_head(p, w, err);
	}
}

/* ---- workers: start, retire, notice death ------------------------------- */

static int spawn(tend_pool *p, unsigned idx)
{
	struct worker *w = &p->w[idx];
	pid_t parent = getpid(), pid;
	int fd, r;

	atomic_store_explicit(&p->shared[idx].stage, W_FORKED, memory_order_relaxed);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		worker_main(p, idx, parent);
	fd = pidfd_open_(pid);
	if (fd < 0) {
		r = -errno;
		/* Still our unreaped child: its pid cannot have been reused. */
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		return r;
	}
	w->pid = pid;
	w->pidfd = fd;
	/* It runs what is queued in its channel, then what it is given. */
	w->assigned = w->n;
	w->received = 0;
	return 0;
}

/* A task that no worker could take: fork's -EAGAIN would read as "not done
 * yet" to tend_future_wait(TEND_NOWAIT), so it fails with -ECHILD. */
static int start_error(int r)
{
	return r == -EAGAIN ? -ECHILD : r;
}

/* Start a worker in an empty slot; if that fails, fail what it would run. */
static int spawn_or_fail(tend_pool *p, unsigned idx)
{
	int r = spawn(p, idx);

	if (r < 0)
		fail_queued(p, &p->w[idx], start_error(r));
	return r;
}

/* Does an empty slot need a worker now? */
static bool needs_worker(const tend_pool *p, const struct worker *w)
{
	return p->state != P_TERMINATED && (w->n > 0 || p->state == P_RUNNING || p->backlog);
}

/* Wait for a child through its pidfd: 1 when it has ended (reaped here or by
 * someone else), 0 while it runs (or block until it ends). */
static int reaped(int pidfd, bool block)
{
	siginfo_t si;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | (block ? 0 : WNOHANG)) == 0)
			return si.si_pid != 0;
		if (errno == EINTR)
			continue;
		/* ECHILD: the caller reaped it (SIG_IGN or waitpid(-1)).  Any
		 * other error (a kernel without P_PIDFD, before 5.4) cannot be
		 * told from a live worker. */
		return errno == ECHILD;
	}
}

static int drain(tend_pool *p);

/* A slot's worker has ended (pidfd readable, or reaped): account for its
 * tasks and replace it.  See the top of the file. */
static int worker_died(tend_pool *p, unsigned idx)
{
	struct worker *w = &p->w[idx];
	uint32_t stage = atomic_load_explicit(&p->shared[idx].stage, memory_order_acquire);
	int r, m;

	close(w->pidfd);
	w->pidfd = -1;
	w->pid = 0;
	/* Every result it committed is in the result queue now.  Whatever goes
	 * wrong below, its tasks are settled and the slot gets a worker again:
	 * an error must not leave a waiter waiting forever. */
	r = drain(p);
	m = tend_queue_qsize(w->ch);
	if (m < 0) {
		r = r < 0 ? r : m;
		m = 0;
	}
	while (w->n > (unsigned)m)
		fail_head(p, w, -EOWNERDEAD);
	/* Only a death inside the initializer says anything about it.  A
	 * worker killed before it ran (a fresh child waits to be scheduled,
	 * and an outside SIGKILL can land there) took no task: its tasks stay
	 * in the channel and the replacement runs them. */
	if (stage == W_STARTED)
		w->start_failures = 0;
	else if (stage == W_IN_INIT)
		w->start_failures++;
	if (w->start_failures >= START_FAILURES_MAX) {
		/* A broken initializer: fail what waits for this slot instead
		 * of starting workers that die forever.  The slot gets a new
		 * worker when a task is next handed to it. */
		w->start_failures = 0;
		fail_queued(p, w, -ECHILD);
		return r < 0 ? r : 0;
	}
	if (needs_worker(p, w))
		(void)spawn_or_fail(p, idx);
	return r < 0 ? r : 0;
}

/* A worker ran its max_tasks_per_child tasks and exits by itself. */
static void retire(tend_pool *p, unsigned idx)
{
	struct worker *w = &p->w[idx];

	if (p->nzombies == p->zcap) {
		size_t cap = p->zcap ? 2 * p->zcap : 8;
		struct zombie *z = realloc(p->zombies, cap * sizeof(*z));

		if (!z) {
			(void)reaped(w->pidfd, true); /* it is exiting anyway */
			close(w->pidfd);
			goto out_cleared;
		}
		p->zombies = z;
		p->zcap = cap;
	}
	p->zombies[p->nzombies].pid = w->pid;
	p->zombies[p->nzombies].pidfd = w->pidfd;
	p->nzombies++;
out_cleared:
	w->pid = 0;
	w->pidfd = -1;
	if (needs_worker(p, w))
		(void)spawn_or_fail(p, idx);
}

static int check_workers(tend_pool *p)
{
	unsigned i;
	size_t z;
	int r;

	for (i = 0; i < p->size; i++) {
		if (p->w[i].pid == 0 || !reaped(p->w[i].pidfd, false))
			continue;
		r = worker_died(p, i);
		if (r < 0)
			return r;
	}
	for (z = 0; z < p->nzombies;) {
		if (reaped(p->zombies[z].pidfd, false)) {
			close(p->zombies[z].pidfd);
			p->zombies[z] = p->zombies[--p->nzombies];
		} else {
			z++;
		}
	}
	return 0;
}

/* ---- results ------------------------------------------------------------ */

/* Handle the result message of len bytes in rbuf. */
static int handle(tend_pool *p, int len)
{
	const struct res_hdr *h = (const struct res_hdr *)(void *)p->rbuf;
	struct worker *w;
	struct rec r;

	if ((size_t)len < sizeof(*h) || h->slot >= p->size || h->len > (size_t)len - sizeof(*h))
		return -EBADMSG;
	w = &p->w[h->slot];
	if (w->n == 0 || w->fifo[w->head].id != h->id)
		return -EBADMSG;
	r = fifo_pop(p, w);
	w->received++;
	complete(&r, h->status, p->rbuf + sizeof(*h), h->len);
	if (p->max_tasks && w->pid && w->received >= p->max_tasks)
		retire(p, h->slot);
	return 0;
}

/* Handle every result already in the queue.  Returns how many, or -errno. */
static int drain(tend_pool *p)
{
	int n = 0, r;

	for (;;) {
		r = tend_queue_get(p->res, p->rbuf, p->rcap, NULL, TEND_NOWAIT);
		if (r == -EAGAIN || r == -EPIPE)
			return n;
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		r = handle(p, r);
		if (r < 0)
			return r;
		n++;
	}
}

/* ---- handing out tasks -------------------------------------------------- */

/* The slot with the fewest tasks in flight that can take one more, or -1. */
static int pick(tend_pool *p)
{
	int best = -1;
	unsigned i, j;

	for (i = 0; i < p->size; i++) {
		struct worker *w;

		j = (p->rr + i) % p->size;
		w = &p->w[j];
		if (w->n >= p->depth || (p->max_tasks && w->pid && w->assigned >= p->max_tasks))
			continue;
		if (best < 0 || w->n < p->w[best].n)
			best = (int)j;
		if (w->n == 0)
			break;
	}
	if (best >= 0)
		p->rr = (unsigned)best + 1;
	return best;
}

/* Put a task (count == 0) or chunk in slot idx's channel and remember it. */
static int dispatch(tend_pool *p, unsigned idx, const struct rec *rec, tend_pool_fn *fn, const void *data,
		    size_t len, uint32_t count, size_t in_size, size_t out_size)
{
	struct worker *w = &p->w[idx];
	struct task_hdr *t = (struct task_hdr *)(void *)p->tbuf;
	int r;

	if (w->pid == 0) {
		r = spawn(p, idx);
		if (r < 0)
			return r;
	}
	t->id = ++p->next_id;
	t->fn = fn;
	t->count = count;
	t->in_size = (uint32_t)in_size;
	t->out_size = (uint32_t)out_size;
	t->reserved = 0;
	if (len)
		memcpy(p->tbuf + sizeof(*t), data, len);
	r = tend_queue_put(w->ch, p->tbuf, sizeof(*t) + len, 0, TEND_NOWAIT);
	if (r < 0)
		return r;
	*fifo_at(p, w, w->n) = *rec;
	fifo_at(p, w, w->n)->id = t->id;
	w->n++;
	w->assigned++;
	p->inflight++;
	return 0;
}

static int dispatch_future(tend_pool *p, unsigned idx, tend_future *f, tend_pool_fn *fn, const void *arg,
			   size_t arglen)
{
	struct rec rec = {.fut = f};

	return dispatch(p, idx, &rec, fn, arg, arglen, 0, arglen, f->cap);
}

/* Hand out queued apply_async tasks while workers have room. */
static void refill(tend_pool *p)
{
	tend_future *f;
	int idx, r;

	while (p->backlog && (idx = pick(p)) >= 0) {
		f = p->backlog;
		p->backlog = f->next;
		if (!p->backlog)
			p->backlog_tail = NULL;
		f->next = NULL;
		r = dispatch_future(p, (unsigned)idx, f, f->fn, f->arg, f->arglen);
		if (r < 0) {
			settle(f, start_error(r), NULL, 0);
			continue;
		}
		free(f->arg);
		f->arg = NULL;
	}
}

/*
 * Make progress: take results, notice dead workers, hand out queued tasks.
 * Waits at most timeout_ns (TEND_NOWAIT, TEND_FOREVER or > 0; never more
 * than one CHECK_NS slice) for a first result.  Returns the number of
 * results handled (0 when the slice ended without one), or -errno.
 */
static int progress(tend_pool *p, int64_t timeout_ns)
{
	int64_t slice, now;
	int n, r;

	n = drain(p);
	if (n < 0)
		return n;
	if (n == 0 && timeout_ns != TEND_NOWAIT && p->inflight > 0) {
		slice = CHECK_NS;
		if (timeout_ns > 0 && timeout_ns < slice)
			slice = timeout_ns;
		r = tend_queue_get(p->res, p->rbuf, p->rcap, NULL, slice);
		if (r >= 0) {
			r = handle(p, r);
			if (r < 0)
				return r;
			r = drain(p);
			if (r < 0)
				return r;
			n = 1 + r;
		} else if (r != -ETIMEDOUT && r != -EINTR && r != -EPIPE) {
			return r;
		}
	}
	now = now_ns();
	if (n == 0 || now >= p->next_check) {
		r = check_workers(p);
		if (r < 0)
			return r;
		p->next_check = now + CHECK_NS;
	}
	refill(p);
	return n;
}

/* ---- public calls ------------------------------------------------------- */

static void pool_release(tend_pool *p)
{
	unsigned i;

	if (p->w) {
		for (i = 0; i < p->size; i++) {
			tend_queue_free(p->w[i].ch);
			free(p->w[i].fifo);
			if (p->w[i].pidfd >= 0)
				close(p->w[i].pidfd);
		}
		free(p->w);
	}
	for (i = 0; i < p->nzombies; i++)
		close(p->zombies[i].pidfd);
	free(p->zombies);
	tend_queue_free(p->res);
	if (p->shared)
		munmap(p->shared, p->size * sizeof(struct wshared));
	free(p->tbuf);
	free(p->rbuf);
	free(p);
}

/* Kill (when kill_them) and reap every worker; fail every unfinished task. */
static void stop_all(tend_pool *p, bool kill_them)
{
	unsigned i;
	size_t z;

	p->state = P_TERMINATED;
	for (i = 0; i < p->size; i++)
		if (p->w[i].pid && kill_them)
			(void)pidfd_kill(p->w[i].pidfd);
	for (z = 0; z < p->nzombies; z++)
		if (kill_them)
			(void)pidfd_kill(p->zombies[z].pidfd);
	for (i = 0; i < p->size; i++) {
		if (!p->w[i].pid)
			continue;
		if (kill_them)
			(void)reaped(p->w[i].pidfd, true);
		close(p->w[i].pidfd);
		p->w[i].pidfd = -1;
		p->w[i].pid = 0;
	}
	for (z = 0; z < p->nzombies; z++) {
		if (kill_them)
			(void)reaped(p->zombies[z].pidfd, true);
		close(p->zombies[z].pidfd);
	}
	p->nzombies = 0;
	/* Results sent before the end count; the rest fails. */
	if (kill_them)
		(void)drain(p);
	for (i = 0; i < p->size; i++) {
		while (p->w[i].n > 0)
			fail_head(p, &p->w[i], -ECANCELED);
		/* The queues are shared with the real owner's workers. */
		if (kill_them)
			tend_queue_close(p->w[i].ch);
	}
	while (p->backlog) {
		tend_future *f = p->backlog;

		p->backlog = f->next;
		f->next = NULL;
		settle(f, -ECANCELED, NULL, 0);
	}
	p->backlog_tail = NULL;
	if (kill_them)
		tend_queue_close(p->res);
}

int tend_pool_create(tend_pool **ret_pool, const tend_pool_opts *opts)
{
	static const tend_pool_opts defaults;
	tend_pool *p;
	unsigned i;
	long ncpu;
	int r;

	if (!ret_pool)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	if (opts->size > TEND_POOL_SIZE_MAX || opts->depth > TEND_POOL_DEPTH_MAX ||
	    opts->max_arg > TEND_QUEUE_MSG_MAX - HDR_MAX || opts->max_result > TEND_QUEUE_MSG_MAX - HDR_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->size = opts->size;
	if (p->size == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		p->size = ncpu < 1 ? 1 : ncpu > TEND_POOL_SIZE_MAX ? TEND_POOL_SIZE_MAX : (unsigned)ncpu;
	}
	p->depth = opts->depth ? opts->depth : TEND_POOL_DEFAULT_DEPTH;
	p->max_tasks = opts->max_tasks_per_child;
	p->max_arg = opts->max_arg ? opts->max_arg : TEND_POOL_DEFAULT_MSG;
	p->max_result = opts->max_result ? opts->max_result : TEND_POOL_DEFAULT_MSG;
	p->init = opts->initializer;
	p->initarg = opts->initarg;
	p->owner = getpid();
	(void)tend__proc_token(); /* registers the atfork hook that counts forks */
	p->fork_gen = tend__fork_gen;
	p->tcap = HDR_MAX + p->max_arg;
	p->rcap = HDR_MAX + p->max_result;
	p->w = calloc(p->size, sizeof(*p->w));
	for (i = 0; p->w && i < p->size; i++)
		p->w[i].pidfd = -1; /* before any failure: the release closes pidfds */
	p->tbuf = malloc(p->tcap);
	p->rbuf = malloc(p->rcap);
	if (!p->tbuf || !p->rbuf || !p->w) {
		r = -ENOMEM;
		goto out_release;
	}
	p->shared = mmap(NULL, p->size * sizeof(struct wshared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			 -1, 0);
	if (p->shared == MAP_FAILED) {
		p->shared = NULL;
		r = -errno;
		goto out_release;
	}
	/* Room for every result in flight up to RESULTS_MAX; past that a
	 * worker waits in put() until the parent collects (it never holds a
	 * lock the parent needs while it waits). */
	r = tend_queue_create(&p->res, NULL,
			      (size_t)p->size * p->depth < RESULTS_MAX ? (size_t)p->size * p->depth : RESULTS_MAX,
			      p->rcap, 1, 0);
	if (r < 0)
		goto out_release;
	for (i = 0; i < p->size; i++) {
		r = tend_queue_create(&p->w[i].ch, NULL, p->depth, p->tcap, 1, 0);
		if (r < 0)
			goto out_release;
		p->w[i].fifo = calloc(p->depth, sizeof(struct rec));
		if (!p->w[i].fifo) {
			r = -ENOMEM;
			goto out_release;
		}
	}
	/* the caller's lock token is set up once, here, not first inside a
	 * worker forked while another thread was setting it up */
	(void)tend__token();
	for (i = 0; i < p->size; i++) {
		r = spawn(p, i);
		if (r < 0)
			goto out_stop;
	}
	p->next_check = now_ns() + CHECK_NS;
	*ret_pool = p;
	return 0;

out_stop:
	stop_all(p, true);
out_release:
	pool_release(p);
	return r;
}

/* Queue a future's task: to a worker if one has room, else to the backlog. */
static int submit(tend_pool *p, tend_future *f, tend_pool_fn *fn, const void *arg, size_t arglen)
{
	int idx, r;

	if (!p->backlog) {
		idx = pick(p);
		if (idx < 0) {
			r = drain(p);
			if (r < 0)
				return r;
			refill(p);
			idx = p->backlog ? -1 : pick(p);
		}
		if (idx >= 0)
			return dispatch_future(p, (unsigned)idx, f, fn, arg, arglen);
	}
	if (arglen) {
		f->arg = malloc(arglen);
		if (!f->arg)
			return -ENOMEM;
		memcpy(f->arg, arg, arglen);
	}
	f->fn = fn;
	f->arglen = arglen;
	if (p->backlog_tail)
		p->backlog_tail->next = f;
	else
		p->backlog = f;
	p->backlog_tail = f;
	return 0;
}

static int new_task(tend_pool *p, tend_pool_fn *fn, const void *arg, size_t arglen, size_t cap,
		    tend_future **ret_f)
{
	tend_future *f;
	int r;

	if (!p || !fn || (!arg && arglen))
		return -EINVAL;
	if (p->state != P_RUNNING)
		return -EPIPE;
	if (arglen > p->max_arg)
		return -EMSGSIZE;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->pool = p;
	f->cap = cap;
	r = submit(p, f, fn, arg, arglen);
	if (r < 0) {
		future_release(f);
		return r;
	}
	*ret_f = f;
	return 0;
}

/* A fork of the pool's creator shares its queues but not its workers: it may
 * only free its copy (tend_pool_free), never use or end the creator's pool. */
static bool foreign(const tend_pool *pool)
{
	/* Not getpid(): every pool call asks, and a system call costs about a
	 * microsecond on a VM, which is most of a trivial task's cost. */
	return tend__fork_gen != pool->fork_gen;
}

int tend_pool_apply_async(tend_pool *pool, tend_pool_fn *fn, const void *arg, size_t arglen,
			  tend_future **ret_future)
{
	if (!ret_future || !pool)
		return -EINVAL;
	if (foreign(pool))
		return -EPERM;
	return new_task(pool, fn, arg, arglen, pool->max_result, ret_future);
}

int tend_pool_apply(tend_pool *pool, tend_pool_fn *fn, const void *arg, size_t arglen, void *result,
		    size_t result_cap, int64_t timeout_ns)
{
	tend_future *f;
	int r;

	if (!pool || (!result && result_cap) || timeout_ns == TEND_NOWAIT)
		return -EINVAL;
	if (foreign(pool))
		return -EPERM;
	r = new_task(pool, fn, arg, arglen, result_cap < pool->max_result ? result_cap : pool->max_result, &f);
	if (r < 0)
		return r;
	r = tend_future_wait(f, result, result_cap, timeout_ns);
	tend_future_free(f);
	return r;
}

int tend_future_wait(tend_future *f, void *buf, size_t cap, int64_t timeout_ns)
{
	int64_t end = 0, left = timeout_ns;
	int r;

	if (!f || (!buf && cap))
		return -EINVAL;
	if (f->pool && foreign(f->pool))
		return -EPERM;
	if (timeout_ns > 0)
		end = now_ns() + timeout_ns;
	while (!f->done) {
		if (timeout_ns > 0) {
			left = end - now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
		}
		r = progress(f->pool, left);
		if (r < 0)
			return r;
		if (timeout_ns == TEND_NOWAIT && !f->done)
			return -EAGAIN;
	}
	if (f->status < 0)
		return f->status;
	if (f->len > cap)
		return -EMSGSIZE;
	if (f->len)
		memcpy(buf, f->result, f->len);
	return (int)f->len;
}

int tend_future_ready(tend_future *f)
{
	int r;

	if (!f)
		return -EINVAL;
	if (f->pool && foreign(f->pool))
		return -EPERM;
	if (!f->done) {
		r = progress(f->pool, TEND_NOWAIT);
		if (r < 0)
			return r;
	}
	return f->done ? 1 : 0;
}

tend_future *tend_future_free(tend_future *f)
{
	if (!f)
		return NULL;
	if (f->done)
		future_release(f);
	else
		f->detached = true; /* the pool frees it when it finishes */
	return NULL;
}

/* Forget every chunk of a map that returns early (its context goes away). */
static void drop_map(tend_pool *p, struct map_ctx *m)
{
	unsigned i, k;

	for (i = 0; i < p->size; i++)
		for (k = 0; k < p->w[i].n; k++)
			if (fifo_at(p, &p->w[i], k)->map == m)
				fifo_at(p, &p->w[i], k)->map = NULL;
}

int tend_pool_map(tend_pool *pool, tend_pool_fn *fn, const void *in, size_t in_size, size_t n, void *out,
		  size_t out_size, size_t chunksize)
{
	struct map_ctx m = {.in_size = in_size, .out_size = out_size, .out = out};
	const unsigned char *src = in;
	size_t next = 0, cnt;
	int idx, r;

	if (!pool || !fn || (n && in_size && !in) || (n && out_size && !out))
		return -EINVAL;
	if (foreign(pool))
		return -EPERM;
	if (pool->state != P_RUNNING)
		return -EPIPE;
	if (in_size > pool->max_arg || out_size > pool->max_result)
		return -EMSGSIZE;
	if (n == 0)
		return 0;
	if (chunksize == 0) {
		size_t k = 4 * (size_t)pool->size;

		chunksize = n / k + (n % k != 0); /* n + k - 1 could wrap */
	}
	if (in_size && chunksize > pool->max_arg / in_size)
		chunksize = pool->max_arg / in_size;
	if (out_size && chunksize > pool->max_result / out_size)
		chunksize = pool->max_result / out_size;
	if (chunksize > UINT32_MAX)
		chunksize = UINT32_MAX;
	for (;;) {
		while (next < n && !m.err) {
			struct rec rec = {.map = &m, .start = next};

			idx = pool->backlog ? -1 : pick(pool);
			if (idx < 0)
				break;
			cnt = n - next < chunksize ? n - next : chunksize;
			rec.count = cnt;
			r = dispatch(pool, (unsigned)idx, &rec, fn, in_size ? src + next * in_size : src,
				     cnt * in_size, (uint32_t)cnt, in_size, out_size);
			if (r < 0) {
				m.err = r;
				break;
			}
			next += cnt;
			m.pending++;
		}
		if ((next >= n || m.err) && m.pending == 0)
			break;
		r = progress(pool, TEND_FOREVER);
		if (r < 0) {
			drop_map(pool, &m);
			return r;
		}
	}
	return m.err;
}

int tend_pool_close(tend_pool *pool)
{
	if (!pool)
		return -EINVAL;
	if (foreign(pool))
		return -EPERM;
	if (pool->state == P_RUNNING)
		pool->state = P_CLOSED;
	return 0;
}

int tend_pool_join(tend_pool *pool, int64_t timeout_ns)
{
	int64_t end = 0, left = timeout_ns;
	unsigned i;
	bool any;
	int r;

	if (!pool || pool->state == P_RUNNING || timeout_ns == TEND_NOWAIT)
		return -EINVAL;
	if (foreign(pool))
		return -EPERM;
	if (pool->state != P_CLOSED)
		return 0; /* terminated (everything reaped) or joined */
	if (timeout_ns > 0)
		end = now_ns() + timeout_ns;
	for (;;) {
		if (timeout_ns > 0) {
			left = end - now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
		}
		if (pool->inflight == 0 && !pool->backlog) {
			/* Every task is done: closed channels end the workers. */
			for (i = 0; i < pool->size; i++)
				tend_queue_close(pool->w[i].ch);
			r = check_workers(pool);
			if (r < 0)
				return r;
			any = pool->nzombies > 0;
			for (i = 0; i < pool->size; i++)
				any = any || pool->w[i].pid != 0;
			if (!any)
				break;
			usleep(1000);
			continue;
		}
		r = progress(pool, left);
		if (r < 0)
			return r;
	}
	pool->state = P_JOINED;
	return 0;
}

int tend_pool_terminate(tend_pool *pool)
{
	if (!pool)
		return -EINVAL;
	if (foreign(pool))
		return -EPERM;
	if (pool->state == P_TERMINATED || pool->state == P_JOINED)
		return 0;
	stop_all(pool, true);
	return 0;
}

tend_pool *tend_pool_free(tend_pool *pool)
{
	if (!pool)
		return NULL;
	/* In a child forked by the caller the workers are not ours: only
	 * our copy of the bookkeeping goes away. */
	if (pool->state != P_JOINED && pool->state != P_TERMINATED)
		stop_all(pool, getpid() == pool->owner);
	pool_release(pool);
	return NULL;
}

int tend_pool_size(const tend_pool *pool)
{
	return pool ? (int)pool->size : -EINVAL;
}

int tend_pool_pids(const tend_pool *pool, pid_t *pids, size_t n)
{
	unsigned i;
	int k = 0;

	if (!pool || (!pids && n))
		return -EINVAL;
	for (i = 0; i < pool->size; i++) {
		if (!pool->w[i].pid)
			continue;
		if ((size_t)k < n)
			pids[k] = pool->w[i].pid;
		k++;
	}
	return k;
}
