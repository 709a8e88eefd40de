/*
 * The daemon's only event loop: one epoll instance, one timerfd over a timer
 * heap, one signalfd.  Every iteration runs in a fixed phase order:
 *
 *   timers -> I/O -> signals -> reap -> deferred
 *
 * Nothing else in tend calls epoll_wait.  When no timer is armed, no fd is
 * ready and nothing is deferred, the process sleeps in epoll_wait: zero
 * wake-ups while nothing happens.  All times are CLOCK_MONOTONIC.
 */
#ifndef TEND_LOOP_H
#define TEND_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/types.h>

struct epoll_event;

struct loop;
struct io_watch;
struct timer;
struct deferred;

typedef void io_cb(struct loop *l, struct io_watch *w, uint32_t revents);
typedef void timer_cb(struct loop *l, struct timer *t);
typedef void deferred_cb(struct loop *l, struct deferred *d);
typedef void signal_cb(struct loop *l, const struct signalfd_siginfo *si);
/* hint: the pids the SIGCHLDs read this iteration named (signals coalesce:
 * others may have exited too) */
typedef void reap_cb(struct loop *l, const pid_t *hint, size_t nhint);

/* Embed in the object that owns the fd; IO_WATCH_INIT has fd -1. */
struct io_watch {
	int fd;
	uint32_t events;
	io_cb *cb;
};
#define IO_WATCH_INIT { -1, 0, NULL }

/* Embed in its owner; TIMER_INIT is a stopped timer. */
struct timer {
	int64_t when;  /* absolute, mono_ns() */
	uint64_t seq;  /* FIFO among equal deadlines */
	size_t slot;   /* heap index + 1; 0 when not armed */
	timer_cb *cb;
};
#define TIMER_INIT { 0, 0, 0, NULL }

struct deferred {
	struct deferred *next;
	bool queued;
	deferred_cb *cb;
};
#define DEFERRED_INIT { NULL, false, NULL }

struct loop {
	int epfd;
	int tfd;
	int sfd;
	struct io_watch tfd_watch;
	struct io_watch sfd_watch;
	struct timer **heap;
	size_t nheap, capheap;
	uint64_t seq;
	int64_t armed_at;   /* deadline the timerfd is set to, 0 if disarmed */
	sigset_t sigmask;   /* signals routed to the signalfd */
	signal_cb *on_signal;
	reap_cb *on_reap;
	bool sigchld;       /* SIGCHLD seen this iteration */
	pid_t sigchld_pid[4]; /* the first pids they named, for on_reap */
	size_t nsigchld_pid;
	bool timers_due;
	bool signals_ready;
	struct deferred *defer_head, **defer_tail;
	bool stop;
	uint64_t iterations;
	struct epoll_event *batch; /* the events being dispatched, while they are */
	int nbatch;
};

/*
 * Create the epoll, timer and signal fds.  The signals in mask are blocked
 * for the process and delivered to on_signal (SIGCHLD, if in the mask, goes
 * to on_reap instead, once per iteration).  Returns 0 or -errno.
 */
int loop_init(struct loop *l, const sigset_t *mask, signal_cb *on_signal, reap_cb *on_reap);
/* Close the loop's own fds.  Watches and timers of its users are theirs to drop. */
void loop_done(struct loop *l);

/* Register fd for events (EPOLLIN, EPOLLOUT...); w->fd is set.  0 or -errno. */
int loop_io_add(struct loop *l, struct io_watch *w, int fd, uint32_t events, io_cb *cb);
int loop_io_mod(struct loop *l, struct io_watch *w, uint32_t events);
/* Unregister (the fd stays open; the caller closes it).  Safe when not added. */
void loop_io_del(struct loop *l, struct io_watch *w);

/* Arm t to fire after delay_ns (re-arms if already armed).  Cannot fail. */
void loop_timer_start(struct loop *l, struct timer *t, int64_t delay_ns, timer_cb *cb);
void loop_timer_stop(struct loop *l, struct timer *t);
static inline bool timer_armed(const struct timer *t)
{
	return t->slot != 0;
}

/* Queue d to run in the deferred phase of this iteration (once, however often called). */
void loop_defer(struct loop *l, struct deferred *d, deferred_cb *cb);
/* Remove d from the queue if it is there. */
void loop_undefer(struct loop *l, struct deferred *d);

/* Run iterations until loop_stop().  Returns 0 or -errno from epoll_wait. */
int loop_run(struct loop *l);
/* Run one iteration; block says whether to wait for an event. */
int loop_run_once(struct loop *l, bool block);
void loop_stop(struct loop *l);

#endif
