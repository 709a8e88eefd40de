#include "daemon/inst.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/signames.h"
#include "common/util.h"
#include "daemon/log.h"

enum { S_STOPPED, S_STARTING, S_RUNNING, S_BACKOFF, S_STOPPING, S_EXITED, S_FATAL, S_COUNT };

static int state_index(enum pstate s)
{
	switch (s) {
	case PS_STOPPED:
		return S_STOPPED;
	case PS_STARTING:
		return S_STARTING;
	case PS_RUNNING:
		return S_RUNNING;
	case PS_BACKOFF:
		return S_BACKOFF;
	case PS_STOPPING:
		return S_STOPPING;
	case PS_EXITED:
		return S_EXITED;
	case PS_FATAL:
		return S_FATAL;
	default:
		return S_STOPPED;
	}
}

const char *pstate_name(enum pstate s)
{
	switch (s) {
	case PS_STOPPED:
		return "STOPPED";
	case PS_STARTING:
		return "STARTING";
	case PS_RUNNING:
		return "RUNNING";
	case PS_BACKOFF:
		return "BACKOFF";
	case PS_STOPPING:
		return "STOPPING";
	case PS_EXITED:
		return "EXITED";
	case PS_FATAL:
		return "FATAL";
	default:
		return "UNKNOWN";
	}
}

const char *exit_kind_name(enum exit_kind k)
{
	switch (k) {
	case EXIT_CODE:
		return "exit";
	case EXIT_SIGNAL:
		return "signal";
	case EXIT_EXEC:
		return "spawn-error";
	case EXIT_STOPPED:
		return "stopped";
	case EXIT_MEMORY:
		return "memory-limit";
	case EXIT_RECYCLED:
		return "recycled";
	default:
		return NULL;
	}
}

bool pstate_is_stopped(enum pstate s)
{
	return s == PS_STOPPED || s == PS_EXITED || s == PS_FATAL || s == PS_UNKNOWN;
}

bool inst_wanted(const struct inst *in)
{
	switch (in->state) {
	case PS_RUNNING:
	case PS_STARTING:
	case PS_STOPPING:
		return true;
	case PS_STOPPED:
		return !in->pending_start;
	case PS_EXITED:
		return in->last_kind == EXIT_STOPPED;
	default:
		return false; /* BACKOFF, FATAL, UNKNOWN */
	}
}

int64_t backoff_delay_ns(const struct prog_config *pc, unsigned k)
{
	double d;

	if (k == 0)
		return 0;
	d = (double)pc->restart_delay_ns * pow(pc->backoff_factor, (double)(k - 1));
	if (!isfinite(d) || d > (double)pc->max_backoff_ns)
		return pc->max_backoff_ns;
	return (int64_t)d;
}

void inst_init(struct inst *in, struct prog_config *cfg, const struct inst_ops *ops)
{
	memset(in, 0, sizeof(*in));
	in->ops = ops;
	in->cfg = cfg;
	in->state = PS_STOPPED;
	in->exec_ok_later = (struct deferred)DEFERRED_INIT;
	in->timer = (struct timer)TIMER_INIT;
	in->state_ns = ops->now();
}

static void set_state(struct inst *in, enum pstate to)
{
	enum pstate from = in->state;

	in->state = to;
	in->state_ns = in->ops->now();
	in->ops->changed(in, from);
}

/* Record how the process ended, in words and in fields. */
/* The reason of the last exit: allocated when there is one (most instances never exit). */
static void set_reason(struct inst *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(struct inst *in, const char *fmt, ...)
{
	va_list ap;
	char *r;

	va_start(ap, fmt);
	if (vasprintf(&r, fmt, ap) < 0)
		abort();
	va_end(ap);
	free(in->last_reason);
	in->last_reason = r;
}

void inst_done(struct inst *in)
{
	free(in->last_reason);
	in->last_reason = NULL;
}

static void record_exit_kind(struct inst *in, const struct exit_info *ex, bool requested);

static void record_exit(struct inst *in, const struct exit_info *ex, bool requested)
{
	record_exit_kind(in, ex, requested);
	in->exits[in->last_kind]++;
}

static void record_exit_kind(struct inst *in, const struct exit_info *ex, bool requested)
{
	const char *sn;

	in->last_wall = wall_ns();
	in->last_code = ex->sig ? -1 : ex->code;
	in->last_sig = ex->sig;
	if (ex->exec_errno) {
		in->last_kind = EXIT_EXEC;
		if (ex->exec_what && strcmp(ex->exec_what, "exec") == 0)
			set_reason(in, "can't exec '%s': %s",
				 in->cfg->argv[0], strerror(ex->exec_errno));
		else
			set_reason(in, "%s: %s",
				 ex->exec_what ? ex->exec_what : "spawn", strerror(ex->exec_errno));
		return;
	}
	sn = ex->sig ? sig_name(ex->sig) : NULL;
	if (ex->cause == CAUSE_MEMORY) {
		char lim[32];

		in->last_kind = EXIT_MEMORY;
		if (in->cfg->memory_limit % (1 << 20) == 0)
			snprintf(lim, sizeof(lim), "%lluM", (unsigned long long)(in->cfg->memory_limit >> 20));
		else
			snprintf(lim, sizeof(lim), "%llu bytes", (unsigned long long)in->cfg->memory_limit);
		set_reason(in, "memory-limit: killed over %s%s%s", lim,
			 sn ? ", SIG" : "", sn ? sn : "");
		return;
	}
	if (ex->cause == CAUSE_RECYCLED) {
		in->last_kind = EXIT_RECYCLED;
		set_reason(in, "recycled after max_lifetime");
		return;
	}
	if (requested) {
		in->last_kind = EXIT_STOPPED;
		if (ex->sig)
			set_reason(in, "stopped (SIG%s%s)",
				 sn ? sn : "?", in->killed ? " after stopwaitsecs" : "");
		else
			set_reason(in, "stopped (exit status %d)",
				 ex->code);
		return;
	}
	if (ex->sig) {
		in->last_kind = EXIT_SIGNAL;
		set_reason(in, "killed by SIG%s%s", sn ? sn : "?",
			 ex->core ? " (core dumped)" : "");
	} else {
		in->last_kind = EXIT_CODE;
		set_reason(in, "exit status %d", ex->code);
	}
}

static void clear_process(struct inst *in)
{
	if (in->pid)
		in->last_pid = in->pid;
	in->pid = 0;
	in->reaped = false;
	in->exec_ok = false;
	in->startsecs_done = false;
	in->ready_ok = false;
	in->killed = false;
}

static int fail_start(struct inst *in, const char *what, bool may_spawn_now);

/* Fork the program; STARTING on success, else a failed start. */
static int do_spawn(struct inst *in)
{
	int r;

	in->exec_errno = 0;
	in->exec_what[0] = '\0';
	r = in->ops->spawn(in);
	if (r < 0) {
		/* the backend may say what failed ("map sessions") */
		struct exit_info ex = { .exec_errno = -r, .exec_what = in->exec_what[0] ? in->exec_what : "spawn" };

		record_exit(in, &ex, false);
		/* never retry synchronously: a spawn that keeps failing must not recurse */
		return fail_start(in, inst_reason(in), false);
	}
	in->start_ns = in->ops->now();
	in->start_wall = wall_ns();
	in->exec_ok = false;
	in->ready_ok = in->cfg->ready_kind == READY_NONE;
	in->ready_late = false;
	in->startsecs_done = in->cfg->startsecs_ns == 0;
	if (!in->startsecs_done)
		in->ops->timer_start(in, in->cfg->startsecs_ns);
	else if (!in->ready_ok)
		in->ops->timer_start(in, in->cfg->ready_timeout_ns);
	set_state(in, PS_STARTING);
	return 0;
}

/*
 * Schedule automatic restart number in->crashes: at once when the wait is
 * zero (and may_spawn_now), else BACKOFF until the timer fires.
 */
static int restart_later(struct inst *in, bool may_spawn_now, bool failed_start)
{
	int64_t delay = backoff_delay_ns(in->cfg, in->crashes);

	in->crashes++;
	in->restarts++;
	in->delay_ns = delay;
	if (delay == 0 && may_spawn_now) {
		/* a failed start passes through BACKOFF, as in supervisord (its
		 * PROCESS_STATE_BACKOFF event), even when the wait is zero */
		if (failed_start)
			set_state(in, PS_BACKOFF);
		return do_spawn(in);
	}
	if (delay > 0)
		log_info("backoff: %s restarts in %.1f s (restart %u since the last reset)",
			 in->cfg->fullname, (double)delay / 1e9, in->crashes);
	in->ops->timer_start(in, delay);
	set_state(in, PS_BACKOFF);
	return 0;
}

/* A start that did not reach RUNNING: retry with backoff, or give up (FATAL). */
static int fail_start(struct inst *in, const char *what, bool may_spawn_now)
{
	if (in->hold) {
		set_state(in, PS_EXITED);
		return 0;
	}
	in->retries++;
	if (in->cfg->startretries >= 0 && in->retries > (unsigned)in->cfg->startretries) {
		log_info("gave up: %s entered FATAL state, too many start retries too quickly (%s)",
			 in->cfg->fullname, what);
		in->pending_start = false;
		set_state(in, PS_FATAL);
		return 0;
	}
	return restart_later(in, may_spawn_now, true);
}

static void enter_running(struct inst *in)
{
	in->ops->timer_stop(in);
	in->retries = 0;
	log_info("success: %s entered RUNNING state (pid %d)", in->cfg->fullname, (int)in->pid);
	set_state(in, PS_RUNNING);
}

/* ---- actions ------------------------------------------------------------- */

typedef int action_fn(struct inst *in, const struct exit_info *ex);

static int a_nop(struct inst *in, const struct exit_info *ex)
{
	(void)in;
	(void)ex;
	return 0;
}

static int a_bail(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	log_warn("%s: event not expected in state %s; ignored", in->cfg->fullname,
		 pstate_name(in->state));
	return -EINVAL;
}

static int a_already_started(struct inst *in, const struct exit_info *ex)
{
	(void)in;
	(void)ex;
	return -EALREADY;
}

static int a_not_running(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	in->pending_start = false;
	return -EALREADY;
}

/* START from STOPPED, EXITED or FATAL: a fresh start, counters reset. */
static int a_start(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	in->retries = 0;
	in->crashes = 0;
	in->pending_start = false;
	return do_spawn(in);
}

/* START in BACKOFF: do not wait out the backoff. */
static int a_start_now(struct inst *in, const struct exit_info *ex)
{
	in->ops->timer_stop(in);
	return a_start(in, ex);
}

/* START while STOPPING: start again once the process is gone (restart). */
static int a_start_after_stop(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	in->start_after_stop = true;
	return 0;
}

static int a_stop(struct inst *in, const struct exit_info *ex)
{
	const struct prog_config *pc = in->cfg;

	(void)ex;
	in->pending_start = false;
	in->start_after_stop = false;
	in->ops->kill(in, pc->stopsignal, pc->stopasgroup);
	if (pc->stopsignal != SIGKILL && pc->stopsignal != SIGCONT)
		in->ops->kill(in, SIGCONT, pc->stopasgroup); /* a stopped process must see it */
	in->ops->timer_start(in, pc->stopwait_ns);
	set_state(in, PS_STOPPING);
	return 0;
}

static int a_stop_again(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	in->start_after_stop = false;
	return 0;
}

static int a_stop_backoff(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	in->ops->timer_stop(in);
	in->pending_start = false;
	set_state(in, PS_STOPPED);
	return 0;
}

/* RUNNING takes all three: exec confirmed, startsecs elapsed, ready (when ready= is set). */
static int a_exec_ok(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	in->exec_ok = true;
	if (in->startsecs_done && in->ready_ok)
		enter_running(in);
	return 0;
}

static int a_startsecs(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	if (in->startsecs_done) {
		/* the second firing: ready_timeout is over and no probe succeeded */
		in->ready_late = true;
		log_warn("not ready: %s within %.1fs; killing it (a failed start)", in->cfg->fullname,
			 (double)in->cfg->ready_timeout_ns / 1e9);
		in->ops->kill(in, SIGKILL, in->cfg->killasgroup);
		return 0;
	}
	in->startsecs_done = true;
	if (!in->ready_ok) {
		int64_t left = in->cfg->ready_timeout_ns - in->cfg->startsecs_ns;

		in->ops->timer_start(in, left > 0 ? left : 1);
		return 0;
	}
	if (in->exec_ok)
		enter_running(in);
	return 0;
}

static int a_ready(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	in->ready_ok = true;
	if (in->exec_ok && in->startsecs_done)
		enter_running(in);
	return 0;
}

static int a_exit_starting(struct inst *in, const struct exit_info *ex)
{
	in->ops->timer_stop(in);
	record_exit(in, ex, false);
	if (in->ready_late)
		set_reason(in, "not ready within %.1fs (%s)",
			 (double)in->cfg->ready_timeout_ns / 1e9, in->cfg->ready);
	clear_process(in);
	log_info("exited: %s (%s; not expected, before startsecs)", in->cfg->fullname,
		 inst_reason(in));
	return fail_start(in, inst_reason(in), true);
}

static int a_exit_running(struct inst *in, const struct exit_info *ex)
{
	const struct prog_config *pc = in->cfg;
	bool expected = !ex->sig && prog_config_expected_exit(pc, ex->code);
	bool again = !in->hold && (pc->autorestart == AUTORESTART_TRUE ||
				   (pc->autorestart == AUTORESTART_UNEXPECTED && !expected));

	record_exit(in, ex, false);
	if (in->ops->now() - in->start_ns >= pc->backoff_reset_after_ns)
		in->crashes = 0;
	clear_process(in);
	log_info("exited: %s (%s; %s)", pc->fullname, inst_reason(in),
		 expected ? "expected" : "not expected");
	set_state(in, PS_EXITED);
	if (!again)
		return 0;
	return restart_later(in, true, false);
}

static int a_backoff_over(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	if (in->hold) {
		set_state(in, PS_EXITED);
		return 0;
	}
	return do_spawn(in);
}

static int a_kill(struct inst *in, const struct exit_info *ex)
{
	(void)ex;
	log_warn("killing %s (pid %d) with SIGKILL: still running %.0f s after the stop signal",
		 in->cfg->fullname, (int)in->pid, (double)in->cfg->stopwait_ns / 1e9);
	in->killed = true;
	in->ops->kill(in, SIGKILL, in->cfg->killasgroup);
	return 0;
}

static int a_exit_stopping(struct inst *in, const struct exit_info *ex)
{
	bool again = in->start_after_stop && !in->hold;

	in->ops->timer_stop(in);
	record_exit(in, ex, true);
	if (ex->sig)
		log_info("stopped: %s (terminated by SIG%s%s)", in->cfg->fullname,
			 sig_name(ex->sig) ? sig_name(ex->sig) : "?", in->killed ? " after stopwaitsecs" : "");
	else
		log_info("stopped: %s (exit status %d)", in->cfg->fullname, ex->code);
	clear_process(in);
	in->start_after_stop = false;
	set_state(in, PS_STOPPED);
	if (again)
		return a_start(in, ex);
	return 0;
}

/*
 * The table.  Rows: states; columns: events.  bail marks an event that the
 * state cannot receive (no process, no timer); it is logged and ignored.
 */
static action_fn *const table[S_COUNT][EV_COUNT] = {
	/*                 EV_START            EV_STOP          EV_EXEC_OK  EV_EXIT          EV_TIMER        EV_READY */
	[S_STOPPED]  = { a_start,            a_not_running,   a_bail,     a_bail,          a_nop,          a_nop },
	[S_STARTING] = { a_already_started,  a_stop,          a_exec_ok,  a_exit_starting, a_startsecs,    a_ready },
	[S_RUNNING]  = { a_already_started,  a_stop,          a_nop,      a_exit_running,  a_nop,          a_nop },
	[S_BACKOFF]  = { a_start_now,        a_stop_backoff,  a_bail,     a_bail,          a_backoff_over, a_nop },
	[S_STOPPING] = { a_start_after_stop, a_stop_again,    a_nop,      a_exit_stopping, a_kill,         a_nop },
	[S_EXITED]   = { a_start,            a_not_running,   a_bail,     a_bail,          a_nop,          a_nop },
	[S_FATAL]    = { a_start,            a_not_running,   a_bail,     a_bail,          a_nop,          a_nop },
};

int inst_event(struct inst *in, enum pevent ev, const struct exit_info *ex)
{
	static const struct exit_info none = { 0 };

	if ((unsigned)ev >= EV_COUNT)
		return -EINVAL;
	return table[state_index(in->state)][ev](in, ex ? ex : &none);
}

int inst_signal(struct inst *in, int sig)
{
	if (in->state != PS_STARTING && in->state != PS_RUNNING && in->state != PS_STOPPING)
		return -ESRCH;
	if (!in->pid)
		return -ESRCH;
	return in->ops->kill(in, sig, false);
}

const char *inst_log_path(const struct inst *in, bool err)
{
	const struct log_dest *d = err ? &in->cfg->err : &in->cfg->out;

	if (err && in->cfg->redirect_stderr)
		return NULL;
	return d->kind == LOGDEST_FILE ? d->path : d->kind == LOGDEST_AUTO ? (err ? in->auto_err : in->auto_out)
									      : NULL;
}

/* Append s at *at in buf of n bytes (cut to fit, always terminated). */
static void put(char *buf, size_t n, size_t *at, const char *s)
{
	size_t len = strlen(s);

	if (*at + 1 >= n)
		return;
	len = MIN(len, n - 1 - *at);
	memcpy(buf + *at, s, len);
	*at += len;
	buf[*at] = '\0';
}

/* "pid N, uptime H:MM:SS" by hand: status lists every running instance's (10,000 snprintf) */
static void describe_running(char *buf, size_t n, pid_t pid, const char *up)
{
	char digits[24], *d = digits + sizeof(digits);
	unsigned long v = pid > 0 ? (unsigned long)pid : 0;
	size_t at = 0;

	*--d = '\0';
	do
		*--d = (char)('0' + v % 10);
	while (v /= 10);
	if (n)
		buf[0] = '\0';
	put(buf, n, &at, "pid ");
	put(buf, n, &at, d);
	put(buf, n, &at, ", uptime ");
	put(buf, n, &at, up);
}

void inst_describe(const struct inst *in, char *buf, size_t n)
{
	int64_t now = in->ops->now();
	char up[48];

	switch (in->state) {
	case PS_RUNNING:
	case PS_STARTING:
	case PS_STOPPING:
		format_uptime(up, sizeof(up), (now - in->start_ns) / NSEC_PER_SEC);
		if (in->draining && in->state == PS_RUNNING)
			snprintf(buf, n, "pid %d, uptime %s; draining, stop in %.1fs", (int)in->pid, up,
				 (double)MAX(in->drain_end - now, 0) / 1e9);
		else if (in->state == PS_STARTING && in->exec_ok && in->startsecs_done && !in->ready_ok)
			snprintf(buf, n, "pid %d, uptime %s; waiting for ready (%s)", (int)in->pid, up, in->cfg->ready);
		else
			describe_running(buf, n, in->pid, up);
		break;
	case PS_BACKOFF: {
		int64_t left = in->delay_ns - (now - in->state_ns);

		snprintf(buf, n, "%s; restart %u in %.1fs", in->last_reason ? in->last_reason : "exited",
			 in->crashes, (double)(left > 0 ? left : 0) / 1e9);
		break;
	}
	case PS_FATAL:
		snprintf(buf, n, "gave up: %s", inst_reason(in));
		break;
	default:
		if (in->pending_start)
			snprintf(buf, n, "waiting for dependencies");
		else if (in->last_kind == EXIT_NONE)
			snprintf(buf, n, "Not started");
		else
			snprintf(buf, n, "%s", inst_reason(in));
		break;
	}
}
