/*
 * tend_pool's worker side (see pool.c for the design): the worker process,
 * and starting, retiring and noticing the death of workers.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/pool-internal.h"
#include "lib/sync.h"
#include "tend/pool.h"
#include "tend/queue.h"

#define START_FAILURES_MAX 3 /* workers dead in the initializer, in a row,
				that make a slot give up its queued tasks */

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
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

/* ---- workers: start, retire, notice death ------------------------------- */

int tend__pool_spawn(tend_pool *p, unsigned idx)
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

/* Start a worker in an empty slot; if that fails, fail what it would run. */
static int spawn_or_fail(tend_pool *p, unsigned idx)
{
	int r = tend__pool_spawn(p, idx);

	if (r < 0)
		tend__pool_fail_queued(p, &p->w[idx], start_error(r));
	return r;
}

/* Does an empty slot need a worker now? */
static bool needs_worker(const tend_pool *p, const struct worker *w)
{
	return p->state != P_TERMINATED && (w->n > 0 || p->state == P_RUNNING || p->backlog);
}

/* Wait for a child through its pidfd: 1 when it has ended (reaped here or by
 * someone else), 0 while it runs (or block until it ends). */
int tend__pool_reaped(int pidfd, bool block)
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

/* A slot's worker has ended (pidfd readable, or reaped): account for its
 * tasks and replace it.  See the top of pool.c. */
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
	r = tend__pool_drain(p);
	m = tend_queue_qsize(w->ch);
	if (m < 0) {
		r = r < 0 ? r : m;
		m = 0;
	}
	while (w->n > (unsigned)m)
		tend__pool_fail_head(p, w, -EOWNERDEAD);
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
		tend__pool_fail_queued(p, w, -ECHILD);
		return r < 0 ? r : 0;
	}
	if (needs_worker(p, w))
		(void)spawn_or_fail(p, idx);
	return r < 0 ? r : 0;
}

/* A worker ran its max_tasks_per_child tasks and exits by itself. */
void tend__pool_retire(tend_pool *p, unsigned idx)
{
	struct worker *w = &p->w[idx];

	if (p->nzombies == p->zcap) {
		size_t cap = p->zcap ? 2 * p->zcap : 8;
		struct zombie *z = realloc(p->zombies, cap * sizeof(*z));

		if (!z) {
			(void)tend__pool_reaped(w->pidfd, true); /* it is exiting anyway */
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

int tend__pool_check_workers(tend_pool *p)
{
	unsigned i;
	size_t z;
	int r;

	for (i = 0; i < p->size; i++) {
		if (p->w[i].pid == 0 || !tend__pool_reaped(p->w[i].pidfd, false))
			continue;
		r = worker_died(p, i);
		if (r < 0)
			return r;
	}
	for (z = 0; z < p->nzombies;) {
		if (tend__pool_reaped(p->zombies[z].pidfd, false)) {
			close(p->zombies[z].pidfd);
			p->zombies[z] = p->zombies[--p->nzombies];
		} else {
			z++;
		}
	}
	return 0;
}
