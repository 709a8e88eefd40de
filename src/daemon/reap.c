/*
 * Exits: every child of tend is collected here, known or not (tend is a
 * subreaper, and PID 1 in a container), and an instance's exit is turned
 * into EV_EXIT with what is known of it (signal, code, exec failure, memory
 * limit, recycling).  Also the last phase of a shutdown: the leftovers the
 * programs left behind get SIGTERM, then SIGKILL.
 */
#include "daemon/supervisor-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/logstream.h"
#include "daemon/pidrec.h"
#include "daemon/ready.h"

/* How long leftover processes get between SIGTERM and SIGKILL at shutdown. */
#define ORPHAN_GRACE_NS (2 * NSEC_PER_SEC)

struct reaped {
	struct inst *in;
	siginfo_t si;
};

static void dispatch_exit(struct supervisor *s, struct inst *in, const siginfo_t *si)
{
	struct slot *sl = slot_of(in);
	struct exit_info ex = { 0 };

	pidrec_reaped(s->pidrec, si->si_pid);
	/* what the program wrote before it died, up to a last partial line */
	if (sl->out)
		logstream_drain(sl->out);
	if (sl->err)
		logstream_drain(sl->err);
	/* its stdin closes; a listener's last words are read, its unfinished event goes back */
	tap_exited(sl);
	lproc_exited(sl);
	loop_undefer(&s->loop, &in->exec_ok_later);
	if (si->si_code == CLD_EXITED) {
		ex.code = si->si_status;
	} else {
		ex.sig = si->si_status;
		ex.core = si->si_code == CLD_DUMPED;
	}
	if (in->exec_errno) {
		ex.exec_errno = in->exec_errno;
		ex.exec_what = in->exec_what;
	}
	if (sl->cg_made) {
		uint64_t n = cg_leaf_oom_kills(&sl->cg);

		if (n > sl->cg.oom_kills)
			sl->mem_killed = true;
		sl->cg.oom_kills = n;
	}
	if (sl->mem_killed)
		ex.cause = CAUSE_MEMORY;
	else if (sl->recycling)
		ex.cause = CAUSE_RECYCLED;
	sl->mem_killed = false;
	sl->recycling = false;
	loop_timer_stop(&s->loop, &sl->life);
	if (s->cfg->exit_with && strcmp(in->cfg->program, s->cfg->exit_with) == 0 && !s->shutting_down &&
	    sv_visible(in)) {
		/* the container's main program: tend ends with it, with its status */
		s->exit_status = ex.sig ? 128 + ex.sig : ex.code;
		log_info("%s (exit_with) exited: shutting down with status %d", in->cfg->fullname, s->exit_status);
		sv_shutdown(s, "exit_with program exited");
	}
	inst_event(in, EV_EXIT, &ex);
	sv_history_exit(in);
}

/*
 * An orphan a program left (tend is their subreaper) was reaped: at debug
 * level each, and at info level a count at most once a minute, so a
 * container whose programs leave many orphans keeps a readable log.
 */
static void orphan_reaped(struct supervisor *s, const siginfo_t *si)
{
	int64_t now = mono_ns();

	log_debug("reaped orphan pid %d (%s %d)", (int)si->si_pid,
		  si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
	s->orphans_reaped++;
	if (s->orphans_logged_ns && now - s->orphans_logged_ns < 60 * NSEC_PER_SEC)
		return;
	log_info("reaped %u orphan%s left by programs%s", s->orphans_reaped, s->orphans_reaped == 1 ? "" : "s",
		 s->orphans_logged_ns ? " in the last minute" : " (each at debug level; a count at most once a minute)");
	s->orphans_reaped = 0;
	s->orphans_logged_ns = now;
}

struct reap_batch {
	struct reaped *v;
	size_t n, cap;
};

/* One exited child, found unreaped (si): reaped; an instance's exit goes in b. */
static void reap_found(struct supervisor *s, const siginfo_t *si, struct reap_batch *b)
{
	siginfo_t done = { 0 };
	struct inst *in = sv_pid_find(s, si->si_pid);

	/* the unreaped leader pins its group id: safe to empty the group now
	 * (kill_leftovers: systemd's KillMode=mixed, the stop signal went to
	 * the main process only and whatever outlived it goes now) */
	if (in && (in->cfg->kill_leftovers || in->cfg->killasgroup)) {
		kill(-si->si_pid, SIGKILL);
		/* and its cgroup: what it left there dies before the restart
		 * (shutting down there is none: removing the leaf at exit
		 * kills what is left, and an empty leaf costs no read here,
		 * 12% of tendd's CPU in a stop of 1000 programs) */
		if (slot_of(in)->cg_made && !s->shutting_down && cg_leaf_kill(&slot_of(in)->cg, 200) == -EBUSY)
			log_warn("%s: processes left in its cgroup did not die within 200 ms", in->cfg->fullname);
	}
	if (waitid(P_PID, (id_t)si->si_pid, &done, WEXITED | WNOHANG) < 0)
		return;
	if (!in) {
		if (!probe_reaped(si->si_pid, &done))
			orphan_reaped(s, si);
		/* shutdown waits for the last of these (a ready= probe too) */
		if (s->shutting_down)
			sv_kick(s);
		return;
	}
	/* reaped: the pid may be anyone's now (a spawn in an earlier dispatch
	 * of this batch may get it), so nothing signals it */
	sv_pid_del(s, si->si_pid);
	in->reaped = true;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	b->v[b->n++] = (struct reaped){ in, done };
}

/* The exits found so far, as state changes (restarts among them). */
static void dispatch_batch(struct supervisor *s, struct reap_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		dispatch_exit(s, b->v[i].in, &b->v[i].si);
	b->n = 0;
}

/*
 * Collect exited children, then dispatch, so state changes never run inside
 * a wait loop.  The pids the SIGCHLDs named (hint) are looked at first,
 * each alone, and dispatched: a program that died is restarted before the
 * rest.  Then waitid(P_ALL) until none is left (signals coalesce: one
 * SIGCHLD may stand for many exits), and those are dispatched.
 * waitid(P_ALL) walks all of tend's children (with 10,000 of them one walk
 * took 4-5 ms here): a restart pays one walk, after its spawn.
 */
void sv_reap(struct loop *l, const pid_t *hint, size_t nhint)
{
	struct supervisor *s = sv_of_loop(l);
	struct reap_batch b = { 0 };
	siginfo_t si;

	for (size_t i = 0; i < nhint; i++) {
		memset(&si, 0, sizeof(si));
		/* not a child (SIGCHLD sent by kill), or not exited: nothing */
		if (waitid(P_PID, (id_t)hint[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == hint[i])
			reap_found(s, &si, &b);
	}
	dispatch_batch(s, &b);
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			break;
		reap_found(s, &si, &b);
	}
	dispatch_batch(s, &b);
	free(b.v);
}

/*
 * Send sig to every child of tend: after the programs stopped, only orphans
 * their programs left behind are still here (tend is their subreaper).  The
 * children file lists each child once; a child that exited and is not reaped
 * yet cannot have its pid reused, so signalling it is safe.  Returns how many
 * children there are.
 */
static int signal_orphans(int sig)
{
	char path[64], *data = NULL, *p, *end;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	if (read_file(path, 1 << 20, &data, NULL) < 0)
		return 0;
	for (p = data;; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0) {
			n++;
			if (sig)
				kill((pid_t)pid, sig);
		}
	}
	free(data);
	return n;
}

static void on_orphan_timer(struct loop *l, struct timer *t)
{
	int n = signal_orphans(0);

	(void)l;
	(void)t;
	if (n > 0) {
		log_warn("killing %d leftover process%s with SIGKILL", n, n == 1 ? "" : "es");
		signal_orphans(SIGKILL);
	}
}

void sv_finish_shutdown(struct supervisor *s)
{
	int n = signal_orphans(0);

	if (n == 0) {
		log_info("all programs stopped; exiting");
		loop_stop(&s->loop);
		return;
	}
	if (!s->orphans_signalled) {
		s->orphans_signalled = true;
		log_info("all programs stopped; sending SIGTERM to %d leftover process%s", n, n == 1 ? "" : "es");
		signal_orphans(SIGTERM);
		loop_timer_start(&s->loop, &s->orphan_timer, ORPHAN_GRACE_NS, on_orphan_timer);
	}
}
