#include "daemon/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_EVENTS 256

static void on_timerfd(struct loop *l, struct io_watch *w, uint32_t revents)
{
	uint64_t expirations;

	(void)revents;
	while (read(w->fd, &expirations, sizeof(expirations)) > 0)
		;
	l->armed_at = 0;
	l->timers_due = true;
}

static void on_signalfd(struct loop *l, struct io_watch *w, uint32_t revents)
{
	(void)w;
	(void)revents;
	l->signals_ready = true;
}

int loop_init(struct loop *l, const sigset_t *mask, signal_cb *on_signal, reap_cb *on_reap)
{
	int r;

	memset(l, 0, sizeof(*l));
	l->epfd = l->tfd = l->sfd = -1;
	l->tfd_watch = (struct io_watch)IO_WATCH_INIT;
	l->sfd_watch = (struct io_watch)IO_WATCH_INIT;
	l->defer_tail = &l->defer_head;
	l->on_signal = on_signal;
	l->on_reap = on_reap;
	l->sigmask = *mask;

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto out_errno;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->tfd < 0)
		goto out_errno;
	if (sigprocmask(SIG_BLOCK, mask, NULL) < 0)
		goto out_errno;
	l->sfd = signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sfd < 0)
		goto out_errno;
	r = loop_io_add(l, &l->tfd_watch, l->tfd, EPOLLIN, on_timerfd);
	if (r < 0)
		goto out_close;
	r = loop_io_add(l, &l->sfd_watch, l->sfd, EPOLLIN, on_signalfd);
	if (r < 0)
		goto out_close;
	return 0;

out_errno:
	r = -errno;
out_close:
	loop_done(l);
	return r;
}

void loop_done(struct loop *l)
{
	if (l->sfd >= 0)
		close(l->sfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->sfd = l->tfd = l->epfd = -1;
	free(l->heap);
	l->heap = NULL;
	l->nheap = l->capheap = 0;
}

int loop_io_add(struct loop *l, struct io_watch *w, int fd, uint32_t events, io_cb *cb)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->events = events;
	w->cb = cb;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		w->fd = -1;
		return -errno;
	}
	return 0;
}

int loop_io_mod(struct loop *l, struct io_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void loop_io_del(struct loop *l, struct io_watch *w)
{
	if (w->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
	w->cb = NULL;
	/* an event for it may still wait in this iteration's batch, and its
	 * owner may free it as soon as this returns: forget the event */
	for (int i = 0; i < l->nbatch; i++)
		if (l->batch[i].data.ptr == w)
			l->batch[i].data.ptr = NULL;
}

/* ---- timer heap ---------------------------------------------------------- */

static bool timer_before(const struct timer *a, const struct timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(struct loop *l, size_t i, struct timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

static void heap_up(struct loop *l, size_t i)
{
	struct timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct loop *l, struct timer *t)
{
	size_t i = t->slot - 1;
	struct timer *last = l->heap[--l->nheap];

	t->slot = 0;
	if (i == l->nheap)
		return;
	heap_set(l, i, last);
	heap_down(l, i);
	heap_up(l, last->slot - 1);
}

/* Point the timerfd at the earliest deadline (only when it changed). */
static void rearm(struct loop *l)
{
	struct itimerspec its = { 0 };
	int64_t when = l->nheap ? l->heap[0]->when : 0;

	if (when == l->armed_at)
		return;
	if (when) {
		if (when <= 0)
			when = 1;
		its.it_value.tv_sec = when / NSEC_PER_SEC;
		its.it_value.tv_nsec = when % NSEC_PER_SEC;
	}
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	l->armed_at = when;
}

void loop_timer_start(struct loop *l, struct timer *t, int64_t delay_ns, timer_cb *cb)
{
	if (t->slot)
		heap_remove(l, t);
	if (delay_ns < 0)
		delay_ns = 0;
	t->when = mono_ns() + delay_ns;
	t->seq = ++l->seq;
	t->cb = cb;
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 64;
		l->heap = xrealloc(l->heap, l->capheap * sizeof(*l->heap));
	}
	l->heap[l->nheap++] = t;
	heap_up(l, l->nheap - 1);
	rearm(l);
}

void loop_timer_stop(struct loop *l, struct timer *t)
{
	if (!t->slot)
		return;
	heap_remove(l, t);
	rearm(l);
}

static void run_timers(struct loop *l)
{
	int64_t now = mono_ns();

	while (l->nheap && l->heap[0]->when <= now) {
		struct timer *t = l->heap[0];

		heap_remove(l, t);
		t->cb(l, t);
	}
	rearm(l);
}

/* ---- deferred ------------------------------------------------------------ */

void loop_defer(struct loop *l, struct deferred *d, deferred_cb *cb)
{
	d->cb = cb;
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	*l->defer_tail = d;
	l->defer_tail = &d->next;
}

void loop_undefer(struct loop *l, struct deferred *d)
{
	if (!d->queued)
		return;
	for (struct deferred **p = &l->defer_head; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			if (l->defer_tail == &d->next)
				l->defer_tail = p;
			break;
		}
	}
	d->queued = false;
	d->next = NULL;
}

static void run_deferred(struct loop *l)
{
	/* Work deferred while running this batch waits for the next iteration. */
	struct deferred *d = l->defer_head;

	l->defer_head = NULL;
	l->defer_tail = &l->defer_head;
	while (d) {
		struct deferred *next = d->next;

		d->queued = false;
		d->next = NULL;
		d->cb(l, d);
		d = next;
	}
}

/* ---- iteration ----------------------------------------------------------- */

static void run_signals(struct loop *l)
{
	struct signalfd_siginfo si[16];
	ssize_t n;

	l->signals_ready = false;
	while ((n = read(l->sfd, si, sizeof(si))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			if (si[i].ssi_signo == SIGCHLD) {
				l->sigchld = true;
				if (si[i].ssi_pid > 0 && l->nsigchld_pid < ARRAY_SIZE(l->sigchld_pid))
					l->sigchld_pid[l->nsigchld_pid++] = (pid_t)si[i].ssi_pid;
			} else if (l->on_signal) {
				l->on_signal(l, &si[i]);
			}
		}
		/* a short read took all there was: one more would be EAGAIN (a
		 * signal after this keeps the signalfd readable for epoll) */
		if ((size_t)n < sizeof(si))
			break;
	}
}

int loop_run_once(struct loop *l, bool block)
{
	struct epoll_event ev[MAX_EVENTS];
	int n, timeout = block && !l->defer_head ? -1 : 0;

	l->iterations++;
	n = epoll_wait(l->epfd, ev, MAX_EVENTS, timeout);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	l->batch = ev;
	l->nbatch = n;
	/* timerfd and signalfd only raise flags; the phases below act on them */
	for (int i = 0; i < n; i++) {
		struct io_watch *w = ev[i].data.ptr;

		if (w == &l->tfd_watch || w == &l->sfd_watch)
			w->cb(l, w, ev[i].events);
	}
	if (l->timers_due || (l->nheap && l->heap[0]->when <= mono_ns())) {
		l->timers_due = false;
		run_timers(l);
	}
	for (int i = 0; i < n; i++) {
		struct io_watch *w = ev[i].data.ptr;

		if (!w || w == &l->tfd_watch || w == &l->sfd_watch)
			continue;
		/* a callback earlier in this batch may have removed this watch
		 * (then loop_io_del cleared its event above) */
		if (w->fd >= 0 && w->cb)
			w->cb(l, w, ev[i].events);
	}
	l->batch = NULL;
	l->nbatch = 0;
	if (l->signals_ready)
		run_signals(l);
	if (l->sigchld) {
		l->sigchld = false;
		if (l->on_reap)
			l->on_reap(l, l->sigchld_pid, l->nsigchld_pid);
		l->nsigchld_pid = 0;
	}
	run_deferred(l);
	return 0;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop) {
		int r = loop_run_once(l, true);

		if (r < 0)
			return r;
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
