/*
 * The event loop (src/daemon/loop.c): timer order, deferred work, signals
 * through the signalfd, I/O watches, and no callback when nothing happened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/loop.h"

static int order[16];
static int norder;
static int signals_seen;
static int last_signo;
static int reaps;
static pid_t reap_hint; /* the first pid on_reap was given */
static size_t reap_nhint;

static void on_sig(struct loop *l, const struct signalfd_siginfo *si)
{
	(void)l;
	signals_seen++;
	last_signo = (int)si->ssi_signo;
}

static void on_reap(struct loop *l, const pid_t *hint, size_t nhint)
{
	(void)l;
	reaps++;
	reap_nhint = nhint;
	reap_hint = nhint ? hint[0] : 0;
}

static int setup(void **state)
{
	static struct loop l;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGCHLD);
	norder = signals_seen = reaps = 0;
	reap_nhint = 0;
	reap_hint = 0;
	assert_int_equal(loop_init(&l, &mask, on_sig, on_reap), 0);
	*state = &l;
	return 0;
}

static int teardown(void **state)
{
	loop_done(*state);
	return 0;
}

struct tagged_timer {
	struct timer t;
	int tag;
};

static void on_timer(struct loop *l, struct timer *t)
{
	(void)l;
	order[norder++] = container_of(t, struct tagged_timer, t)->tag;
}

static void run_until(struct loop *l, int n)
{
	int64_t end = mono_ns() + 2 * NSEC_PER_SEC;

	while (norder < n && mono_ns() < end)
		assert_int_equal(loop_run_once(l, true), 0);
}

static void test_timers_fire_in_deadline_order(void **state)
{
	struct loop *l = *state;
	struct tagged_timer t[5];

	for (int i = 0; i < 5; i++) {
		t[i].t = (struct timer)TIMER_INIT;
		t[i].tag = i;
	}
	loop_timer_start(l, &t[0].t, 30 * NSEC_PER_MSEC, on_timer);
	loop_timer_start(l, &t[1].t, 10 * NSEC_PER_MSEC, on_timer);
	loop_timer_start(l, &t[2].t, 20 * NSEC_PER_MSEC, on_timer);
	loop_timer_start(l, &t[3].t, 0, on_timer);
	loop_timer_start(l, &t[4].t, 0, on_timer);
	run_until(l, 5);
	assert_int_equal(norder, 5);
	/* equal deadlines keep their start order */
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 4);
	assert_int_equal(order[2], 1);
	assert_int_equal(order[3], 2);
	assert_int_equal(order[4], 0);
	for (int i = 0; i < 5; i++)
		assert_false(timer_armed(&t[i].t));
}

static void test_timer_stop_and_rearm(void **state)
{
	struct loop *l = *state;
	struct tagged_timer a = { TIMER_INIT, 1 }, b = { TIMER_INIT, 2 };
	int64_t t0 = mono_ns();

	loop_timer_start(l, &a.t, 10 * NSEC_PER_MSEC, on_timer);
	loop_timer_start(l, &b.t, 20 * NSEC_PER_MSEC, on_timer);
	loop_timer_stop(l, &a.t);
	assert_false(timer_armed(&a.t));
	loop_timer_start(l, &b.t, 40 * NSEC_PER_MSEC, on_timer); /* re-arm later */
	run_until(l, 1);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 2);
	assert_true(mono_ns() - t0 >= 40 * NSEC_PER_MSEC);
}

static int deferred_runs;

static void on_deferred(struct loop *l, struct deferred *d)
{
	(void)l;
	(void)d;
	deferred_runs++;
}

static void test_deferred_runs_once(void **state)
{
	struct loop *l = *state;
	struct deferred d = DEFERRED_INIT, e = DEFERRED_INIT;

	deferred_runs = 0;
	loop_defer(l, &d, on_deferred);
	loop_defer(l, &d, on_deferred);
	loop_defer(l, &e, on_deferred);
	loop_undefer(l, &e);
	assert_int_equal(loop_run_once(l, false), 0);
	assert_int_equal(deferred_runs, 1);
	assert_int_equal(loop_run_once(l, false), 0);
	assert_int_equal(deferred_runs, 1);
}

static void test_signal_through_signalfd(void **state)
{
	struct loop *l = *state;

	kill(getpid(), SIGUSR1);
	for (int i = 0; i < 10 && !signals_seen; i++)
		loop_run_once(l, true);
	assert_int_equal(signals_seen, 1);
	assert_int_equal(last_signo, SIGUSR1);
	kill(getpid(), SIGCHLD);
	for (int i = 0; i < 10 && !reaps; i++)
		loop_run_once(l, true);
	assert_int_equal(reaps, 1);
	assert_int_equal(signals_seen, 1); /* SIGCHLD goes to the reap phase only */
	/* the pid the SIGCHLD named (here its sender's) comes with it */
	assert_int_equal(reap_nhint, 1);
	assert_int_equal(reap_hint, getpid());
}

/* A child's exit: on_reap is told its pid; a later SIGCHLD, its own sender. */
static void test_reap_hint_names_the_child(void **state)
{
	struct loop *l = *state;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	for (int i = 0; i < 10 && !reaps; i++)
		loop_run_once(l, true);
	assert_int_equal(reaps, 1);
	assert_int_equal(reap_nhint, 1);
	assert_int_equal(reap_hint, pid);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	kill(getpid(), SIGCHLD);
	for (int i = 0; i < 10 && reaps < 2; i++)
		loop_run_once(l, true);
	assert_int_equal(reaps, 2);
	assert_int_equal(reap_nhint, 1);
	assert_int_equal(reap_hint, getpid());
}

static int io_events;

static void on_io(struct loop *l, struct io_watch *w, uint32_t revents)
{
	char buf[16];

	(void)l;
	if (revents & EPOLLIN)
		(void)!read(w->fd, buf, sizeof(buf));
	io_events++;
}

static void test_io_watch(void **state)
{
	struct loop *l = *state;
	struct io_watch w = IO_WATCH_INIT;
	int p[2];

	io_events = 0;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(loop_io_add(l, &w, p[0], EPOLLIN, on_io), 0);
	/* nothing to read: no callback, no blocking */
	assert_int_equal(loop_run_once(l, false), 0);
	assert_int_equal(io_events, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_run_once(l, true), 0);
	assert_int_equal(io_events, 1);
	loop_io_del(l, &w);
	assert_int_equal(w.fd, -1);
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(loop_run_once(l, false), 0);
	assert_int_equal(io_events, 1);
	close(p[0]);
	close(p[1]);
}

/* A watch removed earlier in an iteration whose event is already in that
 * iteration's batch: its owner may free it and the memory be reused at once
 * (a probe freed by a spawn from a timer), so the event must be dropped, not
 * dispatched to whatever the memory now holds. */
static struct io_watch victim;
static int reused_calls;

static void on_reused(struct loop *l, struct io_watch *w, uint32_t revents)
{
	(void)l;
	(void)w;
	(void)revents;
	reused_calls++;
}

static void del_and_reuse(struct loop *l, struct timer *t)
{
	int fd = victim.fd;

	(void)t;
	loop_io_del(l, &victim);
	victim.fd = fd; /* "freed", then reused by something else */
	victim.cb = on_reused;
}

static void test_removed_watch_event_dropped(void **state)
{
	struct loop *l = *state;
	struct timer t = TIMER_INIT;
	int p[2];

	io_events = reused_calls = 0;
	victim = (struct io_watch)IO_WATCH_INIT;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_io_add(l, &victim, p[0], EPOLLIN, on_io), 0);
	loop_timer_start(l, &t, 0, del_and_reuse); /* timers run before I/O */
	assert_int_equal(loop_run_once(l, true), 0);
	assert_int_equal(reused_calls, 0);
	assert_int_equal(io_events, 0);
	close(p[0]);
	close(p[1]);
}

static void stop_from_deferred(struct loop *l, struct deferred *d)
{
	(void)d;
	deferred_runs++;
	loop_stop(l);
}

static void test_loop_run_returns_after_stop(void **state)
{
	struct loop *l = *state;
	struct deferred d = DEFERRED_INIT;

	deferred_runs = 0;
	loop_defer(l, &d, stop_from_deferred);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(deferred_runs, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_timers_fire_in_deadline_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_stop_and_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_runs_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_through_signalfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reap_hint_names_the_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_watch_event_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_run_returns_after_stop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
