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
 *
 * This file: futures, the bookkeeping of tasks in flight, results, handing
 * out tasks, the public calls.  pool-worker.c: the worker process, and
 * starting, retiring and noticing the death of workers.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/pool-internal.h"
#include "lib/sync.h"
#include "tend/pool.h"
#include "tend/queue.h"

#define CHECK_NS 10000000ll /* look for dead workers this often while waiting */
#define RESULTS_MAX 4096u    /* most messages in the result queue */

static int64_t now_ns(void)
{
	return (int64_t)tend__now_ns();
}

static int pidfd_kill(int pidfd)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
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
void tend__pool_fail_head(tend_pool *p, struct worker *w, int err)
{
	struct rec r = fifo_pop(p, w);

	complete(&r, err, NULL, 0);
}

/* Take every task still queued in a slot's channel and fail it with err
 * (nobody will run them: the slot has no worker). */
void tend__pool_fail_queued(tend_pool *p, struct worker *w, int err)
{
	while (w->n > 0) {
		/* Keep the channel in step with the FIFO: a later worker in
		 * this slot must not run tasks that were already failed. */
		(void)tend_queue_get(w->ch, p->tbuf, p->tcap, NULL, TEND_NOWAIT);
		tend__pool_fail_head(p, w, err);
	}
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
		tend__pool_retire(p, h->slot);
	return 0;
}

/* Handle every result already in the queue.  Returns how many, or -errno. */
int tend__pool_drain(tend_pool *p)
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
		r = tend__pool_spawn(p, idx);
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

	n = tend__pool_drain(p);
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
			r = tend__pool_drain(p);
			if (r < 0)
				return r;
			n = 1 + r;
		} else if (r != -ETIMEDOUT && r != -EINTR && r != -EPIPE) {
			return r;
		}
	}
	now = now_ns();
	if (n == 0 || now >= p->next_check) {
		r = tend__pool_check_workers(p);
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
			(void)tend__pool_reaped(p->w[i].pidfd, true);
		close(p->w[i].pidfd);
		p->w[i].pidfd = -1;
		p->w[i].pid = 0;
	}
	for (z = 0; z < p->nzombies; z++) {
		if (kill_them)
			(void)tend__pool_reaped(p->zombies[z].pidfd, true);
		close(p->zombies[z].pidfd);
	}
	p->nzombies = 0;
	/* Results sent before the end count; the rest fails. */
	if (kill_them)
		(void)tend__pool_drain(p);
	for (i = 0; i < p->size; i++) {
		while (p->w[i].n > 0)
			tend__pool_fail_head(p, &p->w[i], -ECANCELED);
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
		r = tend__pool_spawn(p, i);
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
			r = tend__pool_drain(p);
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
			r = tend__pool_check_workers(pool);
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
