/*
 * The instance state machine (src/daemon/inst.c) with fake inst_ops: a
 * fake clock, and spawn/kill/timer calls recorded instead of performed.
 *
 * The first test walks the whole state x event table: every state is
 * reached through real transitions, every event is fed, and the result, the
 * new state and the side effects are compared with the table written out
 * here.  The others follow sequences: backoff, FATAL, autorestart, stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/config.h"
#include "daemon/log.h"
#include "daemon/inst.h"

/* ---- fakes --------------------------------------------------------------- */

static struct fake {
	int64_t now;
	int spawns;
	int spawn_error;    /* returned by the next spawns when non-zero */
	pid_t next_pid;
	int kills;
	int last_sig;
	bool last_group;
	int sigs[8];
	int timer_starts;
	int timer_stops;
	int64_t timer_delay;
	bool timer_armed;
	int changes;
	enum pstate trail[64]; /* states entered, in order */
} F;

static int f_spawn(struct inst *in)
{
	F.spawns++;
	if (F.spawn_error)
		return -F.spawn_error;
	in->pid = ++F.next_pid;
	return 0;
}

static int f_kill(struct inst *in, int sig, bool group)
{
	(void)in;
	if (F.kills < (int)ARRAY_SIZE(F.sigs))
		F.sigs[F.kills] = sig;
	F.kills++;
	F.last_sig = sig;
	F.last_group = group;
	return 0;
}

static void f_timer_start(struct inst *in, int64_t delay)
{
	(void)in;
	F.timer_starts++;
	F.timer_delay = delay;
	F.timer_armed = true;
}

static void f_timer_stop(struct inst *in)
{
	(void)in;
	F.timer_stops++;
	F.timer_armed = false;
}

static void f_changed(struct inst *in, enum pstate from)
{
	(void)from;
	if (F.changes < (int)ARRAY_SIZE(F.trail))
		F.trail[F.changes] = in->state;
	F.changes++;
}

static int64_t f_now(void)
{
	return F.now;
}

static const struct inst_ops fake_ops = {
	.spawn = f_spawn,
	.kill = f_kill,
	.timer_start = f_timer_start,
	.timer_stop = f_timer_stop,
	.changed = f_changed,
	.now = f_now,
};

static struct prog_config *new_cfg(void)
{
	static char *argv[] = { "/bin/true", NULL };
	struct prog_config *pc = calloc(1, sizeof(*pc));

	pc->name = "p";
	pc->program = "p";
	pc->group = "p";
	pc->fullname = "p";
	pc->argv = argv;
	pc->priority = 999;
	pc->autostart = true;
	pc->autorestart = AUTORESTART_UNEXPECTED;
	pc->startsecs_ns = 1 * NSEC_PER_SEC;
	pc->startretries = 3;
	pc->exitcodes[0] = 1;
	pc->stopsignal = SIGTERM;
	pc->stopwait_ns = 10 * NSEC_PER_SEC;
	pc->stopasgroup = true;
	pc->killasgroup = true;
	pc->restart_delay_ns = 1 * NSEC_PER_SEC;
	pc->backoff_factor = 2.0;
	pc->max_backoff_ns = 60 * NSEC_PER_SEC;
	pc->backoff_reset_after_ns = 60 * NSEC_PER_SEC;
	return pc;
}

static void reset_fake(void)
{
	memset(&F, 0, sizeof(F));
	F.now = 1000 * NSEC_PER_SEC;
	F.next_pid = 100;
}

static void clear_counts(void)
{
	F.spawns = F.kills = F.timer_starts = F.timer_stops = F.changes = 0;
	F.last_sig = 0;
	memset(F.sigs, 0, sizeof(F.sigs));
}

static const struct exit_info exit_code1 = { .code = 1 };
static const struct exit_info exit_code0 = { .code = 0 };
static const struct exit_info exit_killed = { .sig = SIGKILL };

/* Put in into state s through real transitions. */
static void drive_to(struct inst *in, enum pstate s)
{
	switch (s) {
	case PS_STOPPED:
		break;
	case PS_STARTING:
		assert_int_equal(inst_event(in, EV_START, NULL), 0);
		break;
	case PS_RUNNING:
		drive_to(in, PS_STARTING);
		inst_event(in, EV_EXEC_OK, NULL);
		F.now += in->cfg->startsecs_ns;
		inst_event(in, EV_TIMER, NULL);
		break;
	case PS_BACKOFF:
		/* two failed starts: the second restart waits restart_delay */
		drive_to(in, PS_STARTING);
		inst_event(in, EV_EXIT, &exit_code1);
		inst_event(in, EV_EXIT, &exit_code1);
		break;
	case PS_STOPPING:
		drive_to(in, PS_RUNNING);
		inst_event(in, EV_STOP, NULL);
		break;
	case PS_EXITED:
		drive_to(in, PS_RUNNING);
		inst_event(in, EV_EXIT, &exit_code0); /* expected: stays EXITED */
		break;
	case PS_FATAL:
		in->cfg->startretries = 0;
		drive_to(in, PS_STARTING);
		inst_event(in, EV_EXIT, &exit_code1);
		break;
	default:
		fail();
	}
	assert_int_equal(in->state, s);
}

/* ---- the table ----------------------------------------------------------- */

enum effect {
	NONE = 0,
	SPAWN = 1 << 0,      /* a process was started */
	KILL_TERM = 1 << 1,  /* the stop signal (+ SIGCONT) went out */
	KILL_KILL = 1 << 2,  /* SIGKILL went out */
	TIMER = 1 << 3,      /* a timer was armed */
	UNTIMER = 1 << 4,    /* a timer was cancelled */
	QUEUED = 1 << 5,     /* start_after_stop set */
};

struct cell {
	enum pstate from;
	enum pevent ev;
	int ret;
	enum pstate to;
	unsigned effects; /* effects that must happen; others must not (but TIMER/UNTIMER may) */
};

/*
 * EV_EXIT is fed with exit status 1 (not in exitcodes).  EV_TIMER in
 * STARTING fires after exec was confirmed, so it means "startsecs elapsed".
 */
static const struct cell table[] = {
	/* STOPPED: no process, no timer */
	{ PS_STOPPED, EV_START, 0, PS_STARTING, SPAWN | TIMER },
	{ PS_STOPPED, EV_STOP, -EALREADY, PS_STOPPED, NONE },
	{ PS_STOPPED, EV_EXEC_OK, -EINVAL, PS_STOPPED, NONE },
	{ PS_STOPPED, EV_EXIT, -EINVAL, PS_STOPPED, NONE },
	{ PS_STOPPED, EV_TIMER, 0, PS_STOPPED, NONE },
	{ PS_STOPPED, EV_READY, 0, PS_STOPPED, NONE },              /* a late probe result */
	/* STARTING */
	{ PS_STARTING, EV_START, -EALREADY, PS_STARTING, NONE },
	{ PS_STARTING, EV_STOP, 0, PS_STOPPING, KILL_TERM | TIMER },
	{ PS_STARTING, EV_EXEC_OK, 0, PS_STARTING, NONE },
	{ PS_STARTING, EV_EXIT, 0, PS_STARTING, SPAWN | UNTIMER }, /* first retry is immediate */
	{ PS_STARTING, EV_TIMER, 0, PS_STARTING, NONE },          /* exec not confirmed yet */
	{ PS_STARTING, EV_READY, 0, PS_STARTING, NONE },          /* exec not confirmed yet */
	/* RUNNING */
	{ PS_RUNNING, EV_START, -EALREADY, PS_RUNNING, NONE },
	{ PS_RUNNING, EV_STOP, 0, PS_STOPPING, KILL_TERM | TIMER },
	{ PS_RUNNING, EV_EXEC_OK, 0, PS_RUNNING, NONE },
	{ PS_RUNNING, EV_EXIT, 0, PS_STARTING, SPAWN },           /* crash k=0: at once */
	{ PS_RUNNING, EV_TIMER, 0, PS_RUNNING, NONE },
	{ PS_RUNNING, EV_READY, 0, PS_RUNNING, NONE },              /* a late probe result */
	/* BACKOFF: no process, a timer */
	{ PS_BACKOFF, EV_START, 0, PS_STARTING, SPAWN | UNTIMER },
	{ PS_BACKOFF, EV_STOP, 0, PS_STOPPED, UNTIMER },
	{ PS_BACKOFF, EV_EXEC_OK, -EINVAL, PS_BACKOFF, NONE },
	{ PS_BACKOFF, EV_EXIT, -EINVAL, PS_BACKOFF, NONE },
	{ PS_BACKOFF, EV_TIMER, 0, PS_STARTING, SPAWN },
	{ PS_BACKOFF, EV_READY, 0, PS_BACKOFF, NONE },              /* a late probe result */
	/* STOPPING: a process, the stopwaitsecs timer */
	{ PS_STOPPING, EV_START, 0, PS_STOPPING, QUEUED },
	{ PS_STOPPING, EV_STOP, 0, PS_STOPPING, NONE },
	{ PS_STOPPING, EV_EXEC_OK, 0, PS_STOPPING, NONE },
	{ PS_STOPPING, EV_EXIT, 0, PS_STOPPED, UNTIMER },
	{ PS_STOPPING, EV_TIMER, 0, PS_STOPPING, KILL_KILL },
	{ PS_STOPPING, EV_READY, 0, PS_STOPPING, NONE },              /* a late probe result */
	/* EXITED */
	{ PS_EXITED, EV_START, 0, PS_STARTING, SPAWN },
	{ PS_EXITED, EV_STOP, -EALREADY, PS_EXITED, NONE },
	{ PS_EXITED, EV_EXEC_OK, -EINVAL, PS_EXITED, NONE },
	{ PS_EXITED, EV_EXIT, -EINVAL, PS_EXITED, NONE },
	{ PS_EXITED, EV_TIMER, 0, PS_EXITED, NONE },
	{ PS_EXITED, EV_READY, 0, PS_EXITED, NONE },              /* a late probe result */
	/* FATAL */
	{ PS_FATAL, EV_START, 0, PS_STARTING, SPAWN },
	{ PS_FATAL, EV_STOP, -EALREADY, PS_FATAL, NONE },
	{ PS_FATAL, EV_EXEC_OK, -EINVAL, PS_FATAL, NONE },
	{ PS_FATAL, EV_EXIT, -EINVAL, PS_FATAL, NONE },
	{ PS_FATAL, EV_TIMER, 0, PS_FATAL, NONE },
	{ PS_FATAL, EV_READY, 0, PS_FATAL, NONE },              /* a late probe result */
};

static const char *event_name(enum pevent ev)
{
	static const char *const names[] = { "START", "STOP", "EXEC_OK", "EXIT", "TIMER", "READY" };

	return names[ev];
}

static void test_state_event_table(void **state)
{
	static const enum pstate states[] = { PS_STOPPED, PS_STARTING, PS_RUNNING, PS_BACKOFF,
					      PS_STOPPING, PS_EXITED, PS_FATAL };
	int covered = 0;

	(void)state;
	/* the table must have exactly one row per (state, event) */
	for (size_t s = 0; s < ARRAY_SIZE(states); s++) {
		for (int ev = 0; ev < EV_COUNT; ev++) {
			int rows = 0;

			for (size_t i = 0; i < ARRAY_SIZE(table); i++)
				rows += table[i].from == states[s] && (int)table[i].ev == ev;
			if (rows != 1)
				fail_msg("%s x %s: %d rows", pstate_name(states[s]),
					 event_name((enum pevent)ev), rows);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		const struct cell *c = &table[i];
		struct prog_config *pc = new_cfg();
		struct inst in;
		int r;

		reset_fake();
		inst_init(&in, pc, &fake_ops);
		drive_to(&in, c->from);
		clear_counts();
		if (c->from == PS_STARTING && (c->ev == EV_TIMER || c->ev == EV_READY))
			in.exec_ok = false;
		r = inst_event(&in, c->ev, c->ev == EV_EXIT ? &exit_code1 : NULL);
		if (r != c->ret || in.state != c->to)
			fail_msg("%s x %s: returned %d, now %s; want %d, %s", pstate_name(c->from),
				 event_name(c->ev), r, pstate_name(in.state), c->ret, pstate_name(c->to));
		if (((c->effects & SPAWN) != 0) != (F.spawns > 0))
			fail_msg("%s x %s: %d spawns", pstate_name(c->from), event_name(c->ev), F.spawns);
		if ((c->effects & KILL_TERM) && !(F.kills == 2 && F.sigs[0] == SIGTERM && F.sigs[1] == SIGCONT))
			fail_msg("%s x %s: stop signals %d %d", pstate_name(c->from), event_name(c->ev),
				 F.sigs[0], F.sigs[1]);
		if ((c->effects & KILL_KILL) && !(F.kills == 1 && F.last_sig == SIGKILL && F.last_group))
			fail_msg("%s x %s: no SIGKILL to the group", pstate_name(c->from), event_name(c->ev));
		if (!(c->effects & (KILL_TERM | KILL_KILL)) && F.kills)
			fail_msg("%s x %s: unexpected signal %d", pstate_name(c->from), event_name(c->ev),
				 F.last_sig);
		if ((c->effects & TIMER) && !F.timer_starts)
			fail_msg("%s x %s: no timer", pstate_name(c->from), event_name(c->ev));
		if ((c->effects & UNTIMER) && !F.timer_stops)
			fail_msg("%s x %s: timer not cancelled", pstate_name(c->from), event_name(c->ev));
		if (((c->effects & QUEUED) != 0) != in.start_after_stop)
			fail_msg("%s x %s: start_after_stop %d", pstate_name(c->from), event_name(c->ev),
				 in.start_after_stop);
		if (c->ret != 0 && F.changes)
			fail_msg("%s x %s: refused but changed state", pstate_name(c->from),
				 event_name(c->ev));
		covered++;
		inst_done(&in);
		free(pc);
	}
	assert_int_equal(covered, 7 * EV_COUNT);
}

/* ---- sequences ----------------------------------------------------------- */

static void test_backoff_delays(void **state)
{
	struct prog_config *pc = new_cfg();

	(void)state;
	pc->restart_delay_ns = 1 * NSEC_PER_SEC;
	pc->backoff_factor = 2.0;
	pc->max_backoff_ns = 10 * NSEC_PER_SEC;
	assert_int_equal(backoff_delay_ns(pc, 0), 0);
	assert_int_equal(backoff_delay_ns(pc, 1), 1 * NSEC_PER_SEC);
	assert_int_equal(backoff_delay_ns(pc, 2), 2 * NSEC_PER_SEC);
	assert_int_equal(backoff_delay_ns(pc, 3), 4 * NSEC_PER_SEC);
	assert_int_equal(backoff_delay_ns(pc, 4), 8 * NSEC_PER_SEC);
	assert_int_equal(backoff_delay_ns(pc, 5), 10 * NSEC_PER_SEC);
	assert_int_equal(backoff_delay_ns(pc, 1000), 10 * NSEC_PER_SEC);
	pc->backoff_factor = 1.5;
	pc->restart_delay_ns = 200 * NSEC_PER_MSEC;
	assert_int_equal(backoff_delay_ns(pc, 3), 450 * NSEC_PER_MSEC);
	free(pc);
}

/* A program that crashes after running: restart k waits delay*factor^(k-1). */
static void test_crash_loop_backs_off_and_resets(void **state)
{
	struct prog_config *pc = new_cfg();
	int64_t want[] = { 0, 1, 2, 4, 8, 16, 32, 60, 60 };
	struct inst in;

	(void)state;
	pc->startsecs_ns = 0;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_EXEC_OK, NULL);
	assert_int_equal(in.state, PS_RUNNING);
	for (size_t k = 0; k < ARRAY_SIZE(want); k++) {
		F.now += 5 * NSEC_PER_SEC; /* runs 5 s, then crashes */
		clear_counts();
		inst_event(&in, EV_EXIT, &exit_killed);
		if (want[k] == 0) {
			assert_int_equal(in.state, PS_STARTING);
			assert_int_equal(F.spawns, 1);
		} else {
			assert_int_equal(in.state, PS_BACKOFF);
			assert_int_equal(F.timer_delay, want[k] * NSEC_PER_SEC);
			F.now += F.timer_delay;
			inst_event(&in, EV_TIMER, NULL);
			assert_int_equal(in.state, PS_STARTING);
		}
		inst_event(&in, EV_EXEC_OK, NULL);
		assert_int_equal(in.state, PS_RUNNING);
	}
	assert_int_equal(in.restarts, ARRAY_SIZE(want));
	assert_string_equal(inst_reason(&in), "killed by SIGKILL");
	/* a run longer than backoff_reset_after forgets the crashes */
	F.now += 61 * NSEC_PER_SEC;
	clear_counts();
	inst_event(&in, EV_EXIT, &exit_killed);
	assert_int_equal(in.state, PS_STARTING);
	assert_int_equal(F.spawns, 1);
	inst_done(&in);
	free(pc);
}

static void test_fatal_after_startretries(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;
	int attempts = 1;

	(void)state;
	pc->startretries = 3;
	pc->restart_delay_ns = 100 * NSEC_PER_MSEC;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	while (in.state != PS_FATAL) {
		inst_event(&in, EV_EXIT, &exit_code1);
		if (in.state == PS_BACKOFF) {
			F.now += F.timer_delay;
			inst_event(&in, EV_TIMER, NULL);
		}
		if (in.state == PS_STARTING)
			attempts++;
		assert_true(attempts < 10);
	}
	/* supervisord's meaning: startretries=3 allows 4 attempts */
	assert_int_equal(attempts, 4);
	assert_int_equal(F.spawns, 4);
	assert_false(in.pending_start);
	/* a start by hand from FATAL tries again with fresh counters */
	clear_counts();
	assert_int_equal(inst_event(&in, EV_START, NULL), 0);
	assert_int_equal(in.state, PS_STARTING);
	assert_int_equal(in.retries, 0);
	inst_done(&in);
	free(pc);
}

/* Each failed start passes through BACKOFF, also when its wait is zero (supervisord's events). */
static void test_failed_start_passes_through_backoff(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;

	(void)state;
	pc->startretries = 1;
	pc->restart_delay_ns = 100 * NSEC_PER_MSEC;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_EXIT, &exit_code1);
	/* the first restart waits 0: BACKOFF, then STARTING at once */
	assert_int_equal(in.state, PS_STARTING);
	assert_int_equal(F.changes, 3);
	assert_int_equal(F.trail[0], PS_STARTING);
	assert_int_equal(F.trail[1], PS_BACKOFF);
	assert_int_equal(F.trail[2], PS_STARTING);
	assert_int_equal(in.retries, 1);
	inst_event(&in, EV_EXIT, &exit_code1);
	assert_int_equal(in.state, PS_FATAL);
	/* a RUNNING program that crashes goes EXITED -> STARTING, as in supervisord */
	clear_counts();
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_EXEC_OK, NULL);
	F.now += pc->startsecs_ns;
	inst_event(&in, EV_TIMER, NULL);
	assert_int_equal(in.state, PS_RUNNING);
	clear_counts();
	inst_event(&in, EV_EXIT, &exit_code1);
	assert_int_equal(F.changes, 2);
	assert_int_equal(F.trail[0], PS_EXITED);
	assert_int_equal(F.trail[1], PS_STARTING);
	/* the process that ended is remembered for the EXITED event */
	assert_int_equal(in.last_pid, F.next_pid - 1);
	inst_done(&in);
	free(pc);
}

static void test_startretries_forever(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;

	(void)state;
	pc->startretries = -1;
	pc->max_backoff_ns = 1 * NSEC_PER_SEC;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	for (int i = 0; i < 500; i++) {
		inst_event(&in, EV_EXIT, &exit_code1);
		assert_int_not_equal(in.state, PS_FATAL);
		if (in.state == PS_BACKOFF) {
			assert_true(F.timer_delay <= 1 * NSEC_PER_SEC);
			inst_event(&in, EV_TIMER, NULL);
		}
	}
	inst_done(&in);
	free(pc);
}

static void test_autorestart_policies(void **state)
{
	static const struct {
		enum autorestart ar;
		const struct exit_info *ex;
		enum pstate to;
	} cases[] = {
		{ AUTORESTART_UNEXPECTED, &exit_code0, PS_EXITED },
		{ AUTORESTART_UNEXPECTED, &exit_code1, PS_STARTING },
		{ AUTORESTART_UNEXPECTED, &exit_killed, PS_STARTING },
		{ AUTORESTART_FALSE, &exit_code1, PS_EXITED },
		{ AUTORESTART_FALSE, &exit_killed, PS_EXITED },
		{ AUTORESTART_TRUE, &exit_code0, PS_STARTING },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct prog_config *pc = new_cfg();
		struct inst in;

		pc->autorestart = cases[i].ar;
		reset_fake();
		inst_init(&in, pc, &fake_ops);
		drive_to(&in, PS_RUNNING);
		inst_event(&in, EV_EXIT, cases[i].ex);
		assert_int_equal(in.state, cases[i].to);
		inst_done(&in);
		free(pc);
	}
}

static void test_expected_exitcodes(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;
	struct exit_info two = { .code = 2 };

	(void)state;
	pc->exitcodes[0] = (1ULL << 0) | (1ULL << 2);
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	drive_to(&in, PS_RUNNING);
	inst_event(&in, EV_EXIT, &two);
	assert_int_equal(in.state, PS_EXITED);
	assert_string_equal(inst_reason(&in), "exit status 2");
	assert_int_equal(in.last_kind, EXIT_CODE);
	inst_done(&in);
	free(pc);
}

static void test_exec_failure_reason(void **state)
{
	struct prog_config *pc = new_cfg();
	struct exit_info ex = { .code = 127, .exec_errno = ENOENT, .exec_what = "exec" };
	struct exit_info cd = { .code = 127, .exec_errno = EACCES, .exec_what = "chdir" };
	struct inst in;

	(void)state;
	pc->startretries = 0;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_EXIT, &ex);
	assert_int_equal(in.state, PS_FATAL);
	assert_int_equal(in.last_kind, EXIT_EXEC);
	assert_string_equal(inst_reason(&in), "can't exec '/bin/true': No such file or directory");
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_EXIT, &cd);
	assert_string_equal(inst_reason(&in), "chdir: Permission denied");
	inst_done(&in);
	free(pc);
}

/* fork failing with EAGAIN must retry later, never recurse or spin */
static void test_spawn_failure_goes_to_backoff(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;

	(void)state;
	pc->startretries = -1;
	pc->restart_delay_ns = 0; /* even with no delay at all */
	reset_fake();
	F.spawn_error = EAGAIN;
	inst_init(&in, pc, &fake_ops);
	assert_int_equal(inst_event(&in, EV_START, NULL), 0);
	assert_int_equal(F.spawns, 1);
	assert_int_equal(in.state, PS_BACKOFF);
	assert_true(F.timer_armed);
	assert_string_equal(inst_reason(&in), "spawn: Resource temporarily unavailable");
	F.spawn_error = 0;
	inst_event(&in, EV_TIMER, NULL);
	assert_int_equal(in.state, PS_STARTING);
	inst_done(&in);
	free(pc);
}

static void test_stop_escalates_to_sigkill(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;

	(void)state;
	pc->stopsignal = SIGINT;
	pc->stopwait_ns = 3 * NSEC_PER_SEC;
	pc->stopasgroup = false;
	pc->killasgroup = true;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	drive_to(&in, PS_RUNNING);
	clear_counts();
	inst_event(&in, EV_STOP, NULL);
	assert_int_equal(F.sigs[0], SIGINT);
	assert_int_equal(F.sigs[1], SIGCONT);
	assert_false(F.last_group);
	assert_int_equal(F.timer_delay, 3 * NSEC_PER_SEC);
	inst_event(&in, EV_TIMER, NULL);
	assert_int_equal(F.last_sig, SIGKILL);
	assert_true(F.last_group);
	inst_event(&in, EV_EXIT, &exit_killed);
	assert_int_equal(in.state, PS_STOPPED);
	assert_int_equal(in.last_kind, EXIT_STOPPED);
	assert_string_equal(inst_reason(&in), "stopped (SIGKILL after stopwaitsecs)");
	inst_done(&in);
	free(pc);
}

static void test_restart_while_stopping(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;

	(void)state;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	drive_to(&in, PS_STOPPING);
	inst_event(&in, EV_START, NULL);
	clear_counts();
	inst_event(&in, EV_EXIT, &exit_code0);
	assert_int_equal(in.state, PS_STARTING);
	assert_int_equal(F.spawns, 1);
	assert_int_equal(F.trail[0], PS_STOPPED);
	assert_int_equal(F.trail[1], PS_STARTING);
	/* a stop after the start cancels the queued start */
	inst_event(&in, EV_EXEC_OK, NULL);
	inst_event(&in, EV_TIMER, NULL);
	assert_int_equal(in.state, PS_RUNNING);
	inst_event(&in, EV_STOP, NULL);
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_STOP, NULL);
	inst_event(&in, EV_EXIT, &exit_code0);
	assert_int_equal(in.state, PS_STOPPED);
	inst_done(&in);
	free(pc);
}

static void test_running_needs_exec_and_startsecs(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;

	(void)state;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_TIMER, NULL); /* startsecs passed, exec not confirmed */
	assert_int_equal(in.state, PS_STARTING);
	inst_event(&in, EV_EXEC_OK, NULL);
	assert_int_equal(in.state, PS_RUNNING);
	inst_done(&in);
	free(pc);

	pc = new_cfg();
	pc->startsecs_ns = 0;
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	assert_int_equal(in.state, PS_STARTING);
	inst_event(&in, EV_EXEC_OK, NULL);
	assert_int_equal(in.state, PS_RUNNING);
	inst_done(&in);
	free(pc);
}

static void test_signal_needs_a_process(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;

	(void)state;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	assert_int_equal(inst_signal(&in, SIGHUP), -ESRCH);
	drive_to(&in, PS_RUNNING);
	clear_counts();
	assert_int_equal(inst_signal(&in, SIGHUP), 0);
	assert_int_equal(F.last_sig, SIGHUP);
	assert_false(F.last_group);
	inst_done(&in);
	free(pc);
}

/* inst_wanted (tend status's exit code) through real transitions */
static void test_wanted(void **state)
{
	static const struct {
		enum pstate s;
		bool wanted;
	} cases[] = {
		{ PS_STOPPED, true },   { PS_STARTING, true }, { PS_RUNNING, true }, { PS_STOPPING, true },
		{ PS_BACKOFF, false }, { PS_EXITED, false },
	};
	struct prog_config *pc;
	struct inst in;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		pc = new_cfg();
		reset_fake();
		inst_init(&in, pc, &fake_ops);
		drive_to(&in, cases[i].s);
		assert_int_equal(in.state, cases[i].s);
		assert_int_equal(inst_wanted(&in), cases[i].wanted);
		inst_done(&in);
		free(pc);
	}
	/* stopped by request: wanted; a start pending: not yet */
	pc = new_cfg();
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	drive_to(&in, PS_STOPPING);
	inst_event(&in, EV_EXIT, &exit_killed);
	assert_int_equal(in.state, PS_STOPPED);
	assert_true(inst_wanted(&in));
	in.pending_start = true;
	assert_false(inst_wanted(&in));
	/* exited on its own: not wanted; exited as asked (stopped): wanted */
	inst_done(&in);
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	drive_to(&in, PS_EXITED);
	assert_false(inst_wanted(&in));
	in.last_kind = EXIT_STOPPED;
	assert_true(inst_wanted(&in));
	/* FATAL: gave up */
	inst_done(&in);
	pc->startretries = 0;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_event(&in, EV_START, NULL);
	inst_event(&in, EV_EXIT, &exit_code1);
	assert_int_equal(in.state, PS_FATAL);
	assert_false(inst_wanted(&in));
	inst_done(&in);
	free(pc);
}

static void test_describe(void **state)
{
	struct prog_config *pc = new_cfg();
	struct inst in;
	char buf[256];

	(void)state;
	reset_fake();
	inst_init(&in, pc, &fake_ops);
	inst_describe(&in, buf, sizeof(buf));
	assert_string_equal(buf, "Not started");
	drive_to(&in, PS_RUNNING);
	F.now += 3661 * NSEC_PER_SEC - pc->startsecs_ns;
	inst_describe(&in, buf, sizeof(buf));
	assert_string_equal(buf, "pid 101, uptime 1:01:01");
	inst_done(&in);
	free(pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_event_table),
		cmocka_unit_test(test_backoff_delays),
		cmocka_unit_test(test_crash_loop_backs_off_and_resets),
		cmocka_unit_test(test_fatal_after_startretries),
		cmocka_unit_test(test_failed_start_passes_through_backoff),
		cmocka_unit_test(test_startretries_forever),
		cmocka_unit_test(test_autorestart_policies),
		cmocka_unit_test(test_expected_exitcodes),
		cmocka_unit_test(test_exec_failure_reason),
		cmocka_unit_test(test_spawn_failure_goes_to_backoff),
		cmocka_unit_test(test_stop_escalates_to_sigkill),
		cmocka_unit_test(test_restart_while_stopping),
		cmocka_unit_test(test_running_needs_exec_and_startsecs),
		cmocka_unit_test(test_signal_needs_a_process),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_wanted),
	};

	log_open(NULL, false, LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
