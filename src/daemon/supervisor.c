#include "daemon/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common/signames.h"
#include "common/util.h"
#include "daemon/cgroup.h"
#include "daemon/control.h"
#include "daemon/log.h"
#include "daemon/logs.h"
#include "daemon/ready.h"
#include "daemon/scale.h"
#include "daemon/spawn.h"

/* Spawns per pass, so that starting 1000 programs never holds the loop for long. */
#define SPAWNS_PER_PASS 64
/* How long leftover processes get between SIGTERM and SIGKILL at shutdown. */
#define ORPHAN_GRACE_NS (2 * NSEC_PER_SEC)

struct supervisor *sv;
extern char **environ;

/* An instance plus what the supervisor knows about its neighbours. */
struct slot {
	struct inst in;
	struct inst **deps;   /* instances of the programs it depends on */
	size_t ndeps;
	struct inst **rdeps;  /* instances that depend on it */
	size_t nrdeps;
	int stop_prio;        /* its group's priority */
	bool restart_requested;
	struct logstream *out; /* log pipes, made at the first start, kept across restarts */
	struct logstream *err;
	struct config *owner;  /* the config its proc_config belongs to (a reference) */
	bool retiring;         /* removed or replaced by a reload: stops, then goes */
	struct slot *successor;   /* the instance replacing it */
	struct slot *predecessor; /* the instance it replaces: start only once that one is gone */
	struct cg_leaf cg;       /* its cgroup leaf, made at the first start */
	bool cg_made;
	struct io_watch oomw;    /* OOM events of the leaf */
	bool mem_killed;         /* killed for its memory limit; the exit says so */
	bool recycling;          /* stopped for max_lifetime; the exit says so */
	struct timer life;       /* max_lifetime */
	struct probe *probe;     /* ready=: the current process's readiness probe */
	struct timer drain;      /* drain_secs: the stop goes out when it fires */
	bool drained;            /* drain_secs over: stop now */
	unsigned gen;            /* replacements made by rolling restarts (its cgroup leaf's name) */
};

/* an autoscaled program */
struct pool_stat {
	struct pool_stat *next;
	char *program;
	int64_t last_tick;   /* when the CPU was last read */
	uint64_t last_cpu;   /* the pool's CPU time then (us) */
	bool have_cpu;
	int64_t last_change;
};

static void scale_arm(struct supervisor *s);

static struct slot *slot_of(struct inst *in)
{
	return container_of(in, struct slot, in);
}

/* ---- inst_ops: the real spawn, signal and timers ------------------------- */

/* Create an AUTO log file the first time an instance starts (supervisord's naming). */
static const char *auto_log(struct inst *in, char **slot_path, const char *stream)
{
	char *tmpl;
	int fd;

	if (*slot_path)
		return *slot_path;
	tmpl = xasprintf("%s/%s-%s---%s-XXXXXX.log", sv->cfg->childlogdir, in->cfg->fullname, stream,
			 sv->cfg->identifier);
	for (char *p = tmpl + strlen(sv->cfg->childlogdir) + 1; *p; p++)
		if (*p == '/')
			*p = '_';
	fd = mkostemps(tmpl, 4, O_CLOEXEC | O_APPEND);
	if (fd < 0) {
		log_warn("%s: cannot create %s log in %s: %s", in->cfg->fullname, stream,
			 sv->cfg->childlogdir, strerror(errno));
		free(tmpl);
		return NULL;
	}
	close(fd);
	*slot_path = tmpl;
	return tmpl;
}

static bool env_has(char **env, size_t n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], kv, klen + 1) == 0)
			return true;
	return false;
}

/*
 * The child's environment: tend's own (minus variables that describe tend's
 * own socket activation), then HOME/USER/LOGNAME for user=, supervisord's
 * SUPERVISOR_* and tend's TEND_* names, then [supervisord] and program
 * environment= (which win), except LISTEN_* and NOTIFY_SOCKET, which are
 * always tend's.
 */
static char **build_env(struct inst *in, const char *home, const char *notify)
{
	static const char *const drop[] = { "NOTIFY_SOCKET=", "LISTEN_FDS=", "LISTEN_PID=",
					    "LISTEN_FDNAMES=" };
	const struct proc_config *pc = in->cfg;
	size_t n = 0, cap = strv_len(environ) + strv_len(pc->env) + 16;
	char **env = xcalloc(cap, sizeof(*env)), **extra;
	char *own[10];
	size_t nown = 0;

	own[nown++] = xasprintf("SUPERVISOR_ENABLED=1");
	own[nown++] = xasprintf("SUPERVISOR_PROCESS_NAME=%s", pc->name);
	own[nown++] = xasprintf("SUPERVISOR_GROUP_NAME=%s", pc->group);
	own[nown++] = xasprintf("TEND_PROCESS_NAME=%s", pc->fullname);
	own[nown++] = xasprintf("TEND_PROCESS_NUM=%d", pc->num);
	if (pc->listen) {
		/* systemd's socket activation, ahead of everything (no environment= can
		 * override it); the child writes its pid over the blanks */
		env[n++] = xasprintf("LISTEN_FDS=1");
		env[n++] = xasprintf("LISTEN_PID=%-10s", "");
		env[n++] = xasprintf("LISTEN_FDNAMES=%s", pc->program);
	}
	if (notify) /* like LISTEN_*: tend's, whatever environment= says */
		env[n++] = xasprintf("NOTIFY_SOCKET=%s", notify);
	if (pc->user) {
		own[nown++] = xasprintf("HOME=%s", home ? home : "/");
		own[nown++] = xasprintf("USER=%s", pc->user);
		own[nown++] = xasprintf("LOGNAME=%s", pc->user);
	}
	/* later entries override earlier ones: walk from the most specific */
	for (size_t i = strv_len(pc->env); i-- > 0;) {
		extra = pc->env;
		if (!env_has(env, n, extra[i]))
			env[n++] = xstrdup(extra[i]);
	}
	for (size_t i = 0; i < nown; i++) {
		if (!env_has(env, n, own[i]))
			env[n++] = own[i];
		else
			free(own[i]);
	}
	for (char **e = environ; *e; e++) {
		bool skip = env_has(env, n, *e);

		for (size_t i = 0; i < ARRAY_SIZE(drop) && !skip; i++)
			skip = strncmp(*e, drop[i], strlen(drop[i])) == 0;
		if (!skip)
			env[n++] = xstrdup(*e);
	}
	env[n] = NULL;
	return env;
}

static void on_exec_ok(struct loop *l, struct deferred *d);

/*
 * The log pipe of one stream, made the first time the program starts.  A
 * destination that cannot be opened is logged; the program still runs.
 * Returns 0, or -1 (errno set) when no pipe could be made.
 */
static int open_stream(struct inst *in, struct logstream **slot, const struct log_dest *d,
		       const char *stream)
{
	struct logstream_cfg cfg = {
		.name = in->cfg->fullname,
		.maxbytes = d->maxbytes,
		.backups = d->backups,
		.period = (enum log_period)d->rotate,
	};
	char *err = NULL;

	if (*slot)
		return 0;
	switch (d->kind) {
	case LOGDEST_FILE:
		cfg.path = d->path;
		break;
	case LOGDEST_AUTO:
		cfg.path = auto_log(in, strcmp(stream, "stdout") == 0 ? &in->auto_out : &in->auto_err,
				    stream);
		if (!cfg.path)
			return 0; /* no AUTO file (logged): /dev/null */
		break;
	case LOGDEST_PREFIX:
		cfg.path = NULL;
		break;
	default:
		return 0; /* NONE, tend's own streams: no pipe */
	}
	*slot = logstream_new(&sv->loop, &cfg, &err);
	if (!*slot) {
		log_warn("%s: cannot make a %s pipe: %s", in->cfg->fullname, stream, strerror(errno));
		return -1;
	}
	if (err) {
		log_warn("%s: %s_logfile %s; the program runs, its %s is dropped", in->cfg->fullname,
			 stream, err, stream);
		free(err);
	}
	return 0;
}

static void on_oom(struct loop *l, struct io_watch *w, uint32_t revents);
static int op_kill(struct inst *in, int sig, bool group);

/* Without a memory cgroup, memory_limit is checked by polling RSS, only while it matters. */
#define RSS_POLL_NS (1 * NSEC_PER_SEC)

static bool rss_poll_needed(const struct supervisor *s)
{
	if (cg_root_has_memory(&s->cg))
		return false;
	for (size_t i = 0; i < s->ninst; i++)
		if (s->insts[i]->cfg->memory_limit && s->insts[i]->pid)
			return true;
	return false;
}

/*
 * Sum the resident memory of every process in each limited instance's session
 * (a program starts its own; what stays in it is its tree) and kill the
 * instances over their limit, as the seeds' supervisor did.
 */
static void on_rss_poll(struct loop *l, struct timer *t)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t *sum = xcalloc(sv->ninst + 1, sizeof(*sum));
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		char path[300], *data = NULL, *p;
		long sid, rss;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_file(path, 4096, &data, NULL) < 0)
			continue;
		p = strrchr(data, ')');
		/* after the name: state ppid pgrp session ... rss is the 22nd field */
		if (p && sscanf(p + 2, "%*c %*d %*d %ld %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
				       "%*d %*d %*u %*u %ld", &sid, &rss) == 2) {
			for (size_t i = 0; i < sv->ninst; i++)
				if (sv->insts[i]->pid == (pid_t)sid && sv->insts[i]->cfg->memory_limit)
					sum[i] += (uint64_t)rss * (uint64_t)page;
		}
		free(data);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < sv->ninst; i++) {
		struct inst *in = sv->insts[i];

		if (!in->pid || !in->cfg->memory_limit || sum[i] <= in->cfg->memory_limit ||
		    slot_of(in)->mem_killed)
			continue;
		log_warn("%s: %llu bytes resident, over its memory_limit of %llu: killing it",
			 in->cfg->fullname, (unsigned long long)sum[i], (unsigned long long)in->cfg->memory_limit);
		slot_of(in)->mem_killed = true;
		op_kill(in, SIGKILL, true);
	}
	free(sum);
	if (rss_poll_needed(sv))
		loop_timer_start(l, t, RSS_POLL_NS, on_rss_poll);
}

/* The instance's cgroup leaf, made (with its limits) at the first start. */
static int ensure_leaf(struct slot *sl)
{
	const struct proc_config *pc = sl->in.cfg;
	struct cg_limits lim = {
		.memory = pc->memory_limit,
		.cpu_percent = pc->cpu_quota,
		.tasks = pc->tasks_max,
	};
	int r;

	if (sl->cg_made || sv->cg.kind == CG_OFF)
		return 0;
	if (sl->gen) {
		/* a rolling replacement runs beside its predecessor: a leaf of its own */
		char name[300];

		snprintf(name, sizeof(name), "%s~%u", pc->fullname, sl->gen);
		r = cg_leaf_create(&sv->cg, &sl->cg, name, &lim);
	} else {
		r = cg_leaf_create(&sv->cg, &sl->cg, pc->fullname, &lim);
	}
	if (r < 0) {
		log_warn("%s: cgroup limits not applied: %s", pc->fullname, strerror(-r));
	}
	sl->cg_made = true;
	if (sl->cg.oom_fd >= 0)
		loop_io_add(&sv->loop, &sl->oomw, sl->cg.oom_fd,
			    sv->cg.kind == CG_V2 ? EPOLLPRI : EPOLLIN, on_oom);
	return r;
}

/*
 * The leaf's OOM count went up: the kernel killed something over the limit.
 * Whatever it left of the program goes too (memory.oom.group does this on
 * v2 already); the exit then reads "memory-limit".
 */
static void on_oom(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct slot *sl = container_of(w, struct slot, oomw);
	char buf[512];
	uint64_t n;

	(void)l;
	(void)revents;
	/* v1: drain the eventfd; v2: reading memory.events again re-arms EPOLLPRI */
	if (sv->cg.kind == CG_V1)
		(void)!read(w->fd, buf, sizeof(buf));
	else
		(void)!pread(w->fd, buf, sizeof(buf), 0);
	n = cg_leaf_oom_kills(&sl->cg);
	if (n <= sl->cg.oom_kills)
		return;
	log_warn("%s: over its memory limit (%llu OOM kill%s): killing it", sl->in.cfg->fullname,
		 (unsigned long long)(n - sl->cg.oom_kills), n - sl->cg.oom_kills == 1 ? "" : "s");
	sl->cg.oom_kills = n;
	sl->mem_killed = true;
	if (sl->in.pid)
		cg_leaf_kill(&sl->cg, 0);
}

static int op_spawn(struct inst *in)
{
	const struct proc_config *pc = in->cfg;
	struct spawn_req req = {
		.argv = pc->argv,
		.directory = pc->directory,
		.umask = pc->umask >= 0 ? pc->umask : sv->cfg->umask,
		.redirect_stderr = pc->redirect_stderr,
		.nofile = &sv->child_nofile,
		.listen_fd = -1,
	};
	struct slot *sl = slot_of(in);
	gid_t groups[256];
	int ngroups = ARRAY_SIZE(groups);
	const char *home = NULL;
	struct passwd *pw = NULL;
	char **env;
	struct spawn_report rep;
	struct rlimit own_nofile;
	int cg_fds[CG_MAX_PROCS_FDS];
	pid_t pid;
	int pidfd, r;

	/* a new process is not draining, whatever became of the last one's drain */
	loop_timer_stop(&sv->loop, &sl->drain);
	in->draining = false;
	sl->drained = false;
	if (open_stream(in, &slot_of(in)->out, &pc->out, "stdout") < 0 ||
	    (!pc->redirect_stderr && open_stream(in, &slot_of(in)->err, &pc->err, "stderr") < 0))
		return -errno;
	if (ensure_leaf(slot_of(in)) == 0 && slot_of(in)->cg_made) {
		req.cgroup_fds = cg_fds;
		req.ncgroup_fds = cg_leaf_procs_fds(&slot_of(in)->cg, cg_fds);
	}
	if (pc->nofile > 0) {
		own_nofile.rlim_cur = own_nofile.rlim_max = (rlim_t)pc->nofile;
		req.nofile = &own_nofile;
	}
	req.core = pc->core;
	req.nice = pc->nice;
	req.oom_score_adj = pc->oom_score_adj;
	req.no_new_privs = pc->no_new_privs;
	req.out.kind = pc->out.kind;
	req.out.fd = slot_of(in)->out ? logstream_child_fd(slot_of(in)->out) : -1;
	req.err.kind = pc->err.kind;
	req.err.fd = slot_of(in)->err ? logstream_child_fd(slot_of(in)->err) : -1;

	if (pc->user) {
		if (geteuid() != 0 && geteuid() != pc->uid)
			return -EPERM;
		pw = getpwuid(pc->uid);
		home = pw ? pw->pw_dir : NULL;
		if (geteuid() == 0) {
			if (getgrouplist(pc->user, pc->gid, groups, &ngroups) < 0)
				ngroups = 1, groups[0] = pc->gid;
			req.switch_user = true;
			req.uid = pc->uid;
			req.gid = pc->gid;
			req.groups = groups;
			req.ngroups = ngroups;
		}
	}
	if (pc->listen) {
		req.listen_fd = listener_get(pc);
		if (req.listen_fd < 0) {
			log_warn("spawnerr: %s: cannot listen on %s: %s", pc->fullname, pc->listen,
				 strerror(-req.listen_fd));
			return req.listen_fd;
		}
	}
	probe_free(sl->probe);
	sl->probe = pc->ready_kind != READY_NONE ? probe_new(&sv->loop, in) : NULL;
	env = build_env(in, home, probe_notify_path(sl->probe));
	for (char **e = env; pc->listen && *e; e++) {
		if (strncmp(*e, "LISTEN_PID=", 11) == 0) {
			req.listen_pid = *e + 11;
			req.listen_pid_len = strlen(*e + 11);
		}
	}
	req.envp = env;
	r = spawn_process(&req, &pid, &pidfd, &rep);
	strv_free(env);
	for (int i = 0; i < req.ncgroup_fds; i++)
		close(cg_fds[i]);
	if (r < 0) {
		log_warn("spawnerr: %s: %s", pc->fullname, strerror(-r));
		return r;
	}
	in->pid = pid;
	in->pidfd = pidfd;
	log_info("spawned: %s with pid %d", pc->fullname, (int)pid);
	if (sl->probe && !rep.err)
		probe_arm(sl->probe, pid);
	if (pc->memory_limit && !timer_armed(&sv->rss_timer) && rss_poll_needed(sv))
		loop_timer_start(&sv->loop, &sv->rss_timer, RSS_POLL_NS, on_rss_poll);
	if (rep.err) {
		/* the child exits 127; its exit carries this reason */
		in->exec_errno = rep.err;
		snprintf(in->exec_what, sizeof(in->exec_what), "%s", rep.what);
		log_warn("spawnerr: %s: %s failed: %s", pc->fullname,
			 strcmp(rep.what, "exec") == 0 ? pc->argv[0] : rep.what, strerror(rep.err));
	} else {
		loop_defer(&sv->loop, &in->exec_ok_later, on_exec_ok);
	}
	return 0;
}

static int op_kill(struct inst *in, int sig, bool group)
{
	if (!in->pid)
		return -ESRCH;
	/* the leader is not reaped yet, so its pid (and group id) cannot be reused */
	if (group && slot_of(in)->cg_made) {
		/* its cgroup holds every process it made, escapees included */
		kill(-in->pid, sig);
		if (sig == SIGKILL)
			cg_leaf_kill(&slot_of(in)->cg, 0);
		else
			cg_leaf_signal(&slot_of(in)->cg, sig);
		return 0;
	}
	if (group && kill(-in->pid, sig) == 0)
		return 0;
	if (in->pidfd >= 0)
		return pidfd_kill(in->pidfd, sig);
	return kill(in->pid, sig) < 0 ? -errno : 0;
}

static void on_inst_timer(struct loop *l, struct timer *t)
{
	struct inst *in = container_of(t, struct inst, timer);

	(void)l;
	inst_event(in, EV_TIMER, NULL);
}

static void op_timer_start(struct inst *in, int64_t delay_ns)
{
	loop_timer_start(&sv->loop, &in->timer, delay_ns, on_inst_timer);
}

static void op_timer_stop(struct inst *in)
{
	loop_timer_stop(&sv->loop, &in->timer);
}

static void run_passes(struct loop *l, struct deferred *d);

static void on_lifetime(struct loop *l, struct timer *t);

static void op_changed(struct inst *in, enum pstate from)
{
	if (sv->on_change && sv_visible(in))
		sv->on_change(in, from);
	if (in->state == PS_RUNNING && in->cfg->max_lifetime_ns > 0)
		loop_timer_start(&sv->loop, &slot_of(in)->life,
				 in->cfg->max_lifetime_ns - (mono_ns() - in->start_ns), on_lifetime);
	else if (in->state != PS_RUNNING)
		loop_timer_stop(&sv->loop, &slot_of(in)->life);
	loop_defer(&sv->loop, &sv->pass, run_passes);
}

/*
 * max_lifetime: restart the instance (against slow leaks).  Instances of one
 * program take turns: while another one is being recycled, wait a second.
 */
static void on_lifetime(struct loop *l, struct timer *t)
{
	struct slot *sl = container_of(t, struct slot, life);

	for (size_t i = 0; i < sv->ninst; i++) {
		struct slot *o = slot_of(sv->insts[i]);

		if (o != sl && strcmp(o->in.cfg->program, sl->in.cfg->program) == 0 &&
		    (o->recycling || o->in.state == PS_STARTING || o->in.state == PS_STOPPING)) {
			loop_timer_start(l, t, 1 * NSEC_PER_SEC, on_lifetime);
			return;
		}
	}
	if (sl->in.state != PS_RUNNING || sv->shutting_down)
		return;
	log_info("recycling %s: it ran for max_lifetime", sl->in.cfg->fullname);
	sl->recycling = true;
	sv_restart(sv, &sl->in);
}

static const struct inst_ops real_ops = {
	.spawn = op_spawn,
	.kill = op_kill,
	.timer_start = op_timer_start,
	.timer_stop = op_timer_stop,
	.changed = op_changed,
	.now = mono_ns,
};

/* The child reached execve(): raised after the spawn action that made it. */
static void on_exec_ok(struct loop *l, struct deferred *d)
{
	struct inst *in = container_of(d, struct inst, exec_ok_later);

	(void)l;
	if (in->pid && in->state == PS_STARTING)
		inst_event(in, EV_EXEC_OK, NULL);
}

/* ---- reaping ------------------------------------------------------------- */

static void kick(struct supervisor *s);

struct reaped {
	struct inst *in;
	siginfo_t si;
};

static struct inst *find_pid(pid_t pid)
{
	for (size_t i = 0; i < sv->ninst; i++)
		if (sv->insts[i]->pid == pid)
			return sv->insts[i];
	return NULL;
}

static void dispatch_exit(struct inst *in, const siginfo_t *si)
{
	struct exit_info ex = { 0 };

	/* what the program wrote before it died, up to a last partial line */
	if (slot_of(in)->out)
		logstream_drain(slot_of(in)->out);
	if (slot_of(in)->err)
		logstream_drain(slot_of(in)->err);
	loop_undefer(&sv->loop, &in->exec_ok_later);
	if (in->pidfd >= 0)
		close(in->pidfd);
	in->pidfd = -1;
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
	if (slot_of(in)->cg_made) {
		uint64_t n = cg_leaf_oom_kills(&slot_of(in)->cg);

		if (n > slot_of(in)->cg.oom_kills)
			slot_of(in)->mem_killed = true;
		slot_of(in)->cg.oom_kills = n;
	}
	if (slot_of(in)->mem_killed)
		ex.cause = CAUSE_MEMORY;
	else if (slot_of(in)->recycling)
		ex.cause = CAUSE_RECYCLED;
	slot_of(in)->mem_killed = false;
	slot_of(in)->recycling = false;
	loop_timer_stop(&sv->loop, &slot_of(in)->life);
	if (sv->cfg->exit_with && strcmp(in->cfg->program, sv->cfg->exit_with) == 0 &&
	    !sv->shutting_down && sv_visible(in)) {
		/* the container's main program: tend ends with it, with its status */
		sv->exit_status = ex.sig ? 128 + ex.sig : ex.code;
		log_info("%s (exit_with) exited: shutting down with status %d", in->cfg->fullname,
			 sv->exit_status);
		sv_shutdown(sv, "exit_with program exited");
	}
	inst_event(in, EV_EXIT, &ex);
}

/*
 * Drain every exited child (signals coalesce: one SIGCHLD may stand for many
 * exits), then dispatch, so state changes never run inside the wait loop.
 */
static void on_reap(struct loop *l)
{
	struct reaped *batch = NULL;
	size_t n = 0, cap = 0;

	(void)l;
	for (;;) {
		siginfo_t si = { 0 }, done = { 0 };
		struct inst *in;

		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			break;
		in = find_pid(si.si_pid);
		/* the unreaped leader pins its group id: safe to empty the group now */
		if (in && in->cfg->killasgroup) {
			kill(-si.si_pid, SIGKILL);
			/* and its cgroup: what it left there dies before the restart */
			if (slot_of(in)->cg_made && cg_leaf_kill(&slot_of(in)->cg, 200) == -EBUSY)
				log_warn("%s: processes left in its cgroup did not die within 200 ms",
					 in->cfg->fullname);
		}
		if (waitid(P_PID, (id_t)si.si_pid, &done, WEXITED | WNOHANG) < 0)
			continue;
		if (!in) {
			if (!probe_reaped(si.si_pid, &done))
				log_info("reaped unknown pid %d (%s %d)", (int)si.si_pid,
					 si.si_code == CLD_EXITED ? "exit status" : "signal", si.si_status);
			/* shutdown waits for the last of these (a ready= probe too) */
			if (sv->shutting_down)
				kick(sv);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			batch = xrealloc(batch, cap * sizeof(*batch));
		}
		batch[n++] = (struct reaped){ in, done };
	}
	for (size_t i = 0; i < n; i++)
		dispatch_exit(batch[i].in, &batch[i].si);
	free(batch);
}

/* ---- passes -------------------------------------------------------------- */

static bool deps_running(struct slot *s)
{
	for (size_t i = 0; i < s->ndeps; i++)
		if (s->deps[i]->state != PS_RUNNING)
			return false;
	return true;
}

static void start_pass(struct supervisor *s)
{
	int spawned = 0;

	if (s->shutting_down)
		return;
	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->by_start[i];

		if (!in->pending_start || !pstate_is_stopped(in->state))
			continue;
		if (!deps_running(slot_of(in)) || slot_of(in)->predecessor)
			continue;
		if (spawned == SPAWNS_PER_PASS) {
			loop_defer(&s->loop, &s->pass, run_passes);
			return;
		}
		inst_event(in, EV_START, NULL);
		spawned++;
	}
}

static void on_drained(struct loop *l, struct timer *t)
{
	struct slot *sl = container_of(t, struct slot, drain);

	(void)l;
	sl->drained = true;
	kick(sv);
}

static void issue_stop(struct inst *in)
{
	struct slot *sl = slot_of(in);

	if (in->cfg->drain_ns > 0 && in->state == PS_RUNNING && !sl->drained) {
		/* drain first: /readyz says 503 for it, the load balancer moves away, then the signal */
		if (!in->draining) {
			in->draining = true;
			in->drain_end = mono_ns() + in->cfg->drain_ns;
			log_info("draining: %s for %.1fs before it stops", in->cfg->fullname,
				 (double)in->cfg->drain_ns / 1e9);
			loop_timer_start(&sv->loop, &sl->drain, in->cfg->drain_ns, on_drained);
			if (sv->on_change)
				sv->on_change(in, in->state);
		}
		return;
	}
	loop_timer_stop(&sv->loop, &sl->drain);
	in->draining = false;
	sl->drained = false;
	in->pending_stop = false;
	inst_event(in, EV_STOP, NULL);
	if (sl->restart_requested) {
		sl->restart_requested = false;
		in->pending_start = true;
	}
}

static bool dependents_hold(struct slot *sl)
{
	for (size_t i = 0; i < sl->nrdeps; i++) {
		struct inst *d = sl->rdeps[i];

		if (d->state == PS_STOPPING || (d->pending_stop && !pstate_is_stopped(d->state)))
			return true;
	}
	return false;
}

static void stop_pass(struct supervisor *s)
{
	size_t i = 0;

	while (i < s->ninst) {
		int prio = slot_of(s->by_stop[i])->stop_prio;
		bool busy = false;
		size_t j;

		for (j = i; j < s->ninst && slot_of(s->by_stop[j])->stop_prio == prio; j++) {
			struct inst *in = s->by_stop[j];

			if (in->state == PS_STOPPING)
				busy = true;
			if (!in->pending_stop)
				continue;
			if (pstate_is_stopped(in->state) || in->state == PS_STOPPING) {
				in->pending_stop = false;
				continue;
			}
			if (dependents_hold(slot_of(in)))
				continue;
			issue_stop(in);
			if (in->state == PS_STOPPING || in->draining)
				busy = true;
		}
		/* a batch finishes before the next (lower priority) one starts */
		if (busy)
			return;
		i = j;
	}
}

/* fire_waiter: unlink the waiter *PW, answer it and free it */
static void fire_waiter(struct supervisor *s, struct waiter **pw)
{
	struct waiter *w = *pw;

	*pw = w->next;
	loop_timer_stop(&s->loop, &w->timeout);
	w->cb(w, w->ctx);
	free(w->targets);
	free(w);
}

static void check_waiters(struct supervisor *s)
{
	struct waiter **pw = &s->waiters;

	while (*pw) {
		struct waiter *w = *pw;
		bool settled = true;

		for (size_t i = 0; i < w->ntargets && settled; i++)
			settled = sv_settled(w->targets[i], w->kind);
		if (!settled && !s->shutting_down) {
			pw = &w->next;
			continue;
		}
		fire_waiter(s, pw);
	}
}

static bool all_stopped(struct supervisor *s)
{
	for (size_t i = 0; i < s->ninst; i++)
		if (!pstate_is_stopped(s->insts[i]->state))
			return false;
	return true;
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
	(void)l;
	(void)t;
	if (signal_orphans(0) > 0) {
		log_warn("killing %d leftover process%s with SIGKILL", signal_orphans(0),
			 signal_orphans(0) == 1 ? "" : "es");
		signal_orphans(SIGKILL);
	}
}

/* Shutdown's last phase: once every program stopped, end what they left behind. */
static void finish_shutdown(struct supervisor *s)
{
	int n = signal_orphans(0);

	if (n == 0) {
		log_info("all programs stopped; exiting");
		loop_stop(&s->loop);
		return;
	}
	if (!s->orphans_signalled) {
		s->orphans_signalled = true;
		log_info("all programs stopped; sending SIGTERM to %d leftover process%s", n,
			 n == 1 ? "" : "es");
		signal_orphans(SIGTERM);
		s->orphan_timer = (struct timer)TIMER_INIT;
		loop_timer_start(&s->loop, &s->orphan_timer, ORPHAN_GRACE_NS, on_orphan_timer);
	}
}

static void bury_retired(struct supervisor *s);

static void run_passes(struct loop *l, struct deferred *d)
{
	(void)l;
	(void)d;
	stop_pass(sv);
	bury_retired(sv);
	start_pass(sv);
	check_waiters(sv);
	if (sv->shutting_down && all_stopped(sv))
		finish_shutdown(sv);
}

/* ---- public -------------------------------------------------------------- */

bool sv_settled(const struct inst *in, enum wait_kind kind)
{
	if (kind == WAIT_STOP)
		return pstate_is_stopped(in->state) && !in->pending_start && !in->pending_stop;
	if (in->pending_stop || slot_of((struct inst *)in)->restart_requested)
		return false;
	switch (in->state) {
	case PS_RUNNING:
	case PS_BACKOFF:
	case PS_FATAL:
		return true;
	case PS_STOPPED:
	case PS_EXITED:
		return !in->pending_start;
	default:
		return false;
	}
}

static int cmp_start(const void *a, const void *b)
{
	const struct inst *x = *(struct inst *const *)a, *y = *(struct inst *const *)b;

	if (x->cfg->priority != y->cfg->priority)
		return x->cfg->priority < y->cfg->priority ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_stop(const void *a, const void *b)
{
	const struct inst *x = *(struct inst *const *)a, *y = *(struct inst *const *)b;
	int px = container_of(x, struct slot, in)->stop_prio;
	int py = container_of(y, struct slot, in)->stop_prio;

	if (px != py)
		return px > py ? -1 : 1;
	return x->index > y->index ? -1 : x->index < y->index;
}

static void add_ref(struct inst ***v, size_t *n, struct inst *in)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = in;
}

static struct config *cfg_ref(struct config *c)
{
	c->refs++;
	return c;
}

static void cfg_unref(struct config *c)
{
	if (c && --c->refs == 0)
		config_free(c);
}

static struct slot *slot_new(struct supervisor *s, struct config *owner, struct proc_config *pc)
{
	struct slot *sl = xcalloc(1, sizeof(*sl));

	inst_init(&sl->in, pc, &real_ops);
	sl->in.owner = s;
	cg_leaf_init(&sl->cg);
	sl->oomw = (struct io_watch)IO_WATCH_INIT;
	sl->life = (struct timer)TIMER_INIT;
	sl->drain = (struct timer)TIMER_INIT;
	sl->owner = cfg_ref(owner);
	return sl;
}

/* Forget an instance: answer the waiters that name it, close its logs, free it. */
static void slot_free(struct supervisor *s, struct slot *sl)
{
	struct waiter **pw = &s->waiters;

	while (*pw) {
		struct waiter *w = *pw;
		bool names = false;

		for (size_t i = 0; i < w->ntargets; i++)
			names |= w->targets[i] == &sl->in;
		if (!names) {
			pw = &w->next;
			continue;
		}
		fire_waiter(s, pw);
	}
	loop_undefer(&s->loop, &sl->in.exec_ok_later);
	loop_timer_stop(&s->loop, &sl->in.timer);
	loop_timer_stop(&s->loop, &sl->life);
	probe_free(sl->probe);
	sl->probe = NULL;
	loop_timer_stop(&s->loop, &sl->drain);
	if (sl->cg_made) {
		loop_io_del(&s->loop, &sl->oomw);
		cg_leaf_kill(&sl->cg, 500);
		cg_leaf_remove(&sl->cg);
	}
	logstream_free(sl->out);
	logstream_free(sl->err);
	if (sl->in.pidfd >= 0)
		close(sl->in.pidfd);
	if (sl->successor)
		sl->successor->predecessor = NULL;
	if (sl->in.auto_out && !s->cfg->nocleanup)
		unlink(sl->in.auto_out);
	if (sl->in.auto_err && !s->cfg->nocleanup)
		unlink(sl->in.auto_err);
	free(sl->in.auto_out);
	free(sl->in.auto_err);
	free(sl->deps);
	free(sl->rdeps);
	cfg_unref(sl->owner);
	free(sl);
}

/*
 * After the table changed: positions, group priorities, dependency links
 * (retiring instances have none: they stop at once) and both orders.
 */
static void relink(struct supervisor *s)
{
	const struct config *cfg = s->cfg;

	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);

		sl->in.index = i;
		sl->ndeps = sl->nrdeps = 0;
		sl->stop_prio = sl->in.cfg->priority;
		for (size_t g = 0; g < cfg->ngroups && !sl->retiring; g++)
			if (strcmp(cfg->groups[g]->name, sl->in.cfg->group) == 0)
				sl->stop_prio = cfg->groups[g]->priority;
	}
	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);

		if (sl->retiring)
			continue;
		for (char **d = sl->in.cfg->depends_on; *d; d++) {
			for (size_t j = 0; j < s->ninst; j++) {
				struct slot *dep = slot_of(s->insts[j]);

				if (dep->retiring || strcmp(dep->in.cfg->program, *d) != 0)
					continue;
				add_ref(&sl->deps, &sl->ndeps, &dep->in);
				add_ref(&dep->rdeps, &dep->nrdeps, &sl->in);
			}
		}
	}
	s->by_start = xrealloc(s->by_start, (s->ninst + 1) * sizeof(*s->by_start));
	s->by_stop = xrealloc(s->by_stop, (s->ninst + 1) * sizeof(*s->by_stop));
	memcpy(s->by_start, s->insts, s->ninst * sizeof(*s->insts));
	memcpy(s->by_stop, s->insts, s->ninst * sizeof(*s->insts));
	qsort(s->by_start, s->ninst, sizeof(*s->by_start), cmp_start);
	qsort(s->by_stop, s->ninst, sizeof(*s->by_stop), cmp_stop);
}

void sv_init(struct supervisor *s, struct config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg_ref(cfg);
	s->pass = (struct deferred)DEFERRED_INIT;
	s->start_ns = mono_ns();
	s->ninst = cfg->nprocs;
	s->insts = xcalloc(s->ninst + 1, sizeof(*s->insts));
	for (size_t i = 0; i < s->ninst; i++)
		s->insts[i] = &slot_new(s, cfg, cfg->procs[i])->in;
	relink(s);
}

void sv_done(struct supervisor *s)
{
	struct config *cfg = s->cfg;

	/* the last instance may hold the last reference: keep the config till the end */
	cfg_ref(cfg);
	while (s->waiters) {
		struct waiter *w = s->waiters;

		s->waiters = w->next;
		free(w->targets);
		free(w);
	}
	for (size_t i = 0; i < s->ninst; i++)
		slot_free(s, slot_of(s->insts[i]));
	free(s->insts);
	free(s->by_start);
	free(s->by_stop);
	s->cfg = NULL;
	s->staged = config_free(s->staged);
	listener_sweep(NULL);
	while (s->pools) {
		struct pool_stat *p = s->pools;

		s->pools = p->next;
		free(p->program);
		free(p);
	}
	cfg_unref(cfg);
	cfg_unref(cfg);
}

bool sv_visible(const struct inst *in)
{
	return !container_of(in, struct slot, in)->retiring;
}

static bool active(const struct inst *in)
{
	return !pstate_is_stopped(in->state) || in->pending_start;
}

static void plan_add(json_t *plan, const char *what, const char *name)
{
	json_array_append_new(json_object_get(plan, what), json_string(name));
}

int sv_reload(struct supervisor *s, struct config *nc, bool apply, json_t **ret_plan)
{
	size_t nold = s->ninst, nnew = nc->nprocs, n = 0, kept = 0;
	struct slot **match = xcalloc(nnew + 1, sizeof(*match));
	bool *used = xcalloc(nold + 1, sizeof(*used));
	struct inst **insts;
	json_t *plan = json_pack("{s:[],s:[],s:[],s:[],s:i}", "added", "changed", "removed", "updated",
				 "unchanged", 0);
	int unchanged = 0;

	if (s->shutting_down) {
		free(match);
		free(used);
		json_decref(plan);
		return -ESHUTDOWN;
	}
	/* an instance is the same instance when program name and process_num match */
	for (size_t i = 0; i < nnew; i++) {
		for (size_t j = 0; j < nold; j++) {
			struct slot *sl = slot_of(s->insts[j]);

			if (used[j] || sl->retiring || sl->in.cfg->num != nc->procs[i]->num ||
			    strcmp(sl->in.cfg->program, nc->procs[i]->program) != 0)
				continue;
			used[j] = true;
			match[i] = sl;
			break;
		}
		if (!match[i])
			plan_add(plan, "added", nc->procs[i]->fullname);
		else if (!proc_config_same_process(match[i]->in.cfg, nc->procs[i]))
			plan_add(plan, "changed", nc->procs[i]->fullname);
		else if (!proc_config_equal(match[i]->in.cfg, nc->procs[i]))
			plan_add(plan, "updated", nc->procs[i]->fullname);
		else
			unchanged++;
	}
	for (size_t j = 0; j < nold; j++)
		if (!used[j] && !slot_of(s->insts[j])->retiring)
			plan_add(plan, "removed", s->insts[j]->cfg->fullname);
	json_object_set_new(plan, "unchanged", json_integer(unchanged));
	if (!apply)
		goto out;

	insts = xcalloc(nnew + nold + 1, sizeof(*insts));
	for (size_t i = 0; i < nnew; i++) {
		struct proc_config *pc = nc->procs[i];
		struct slot *old = match[i], *sl;

		if (old && proc_config_same_process(old->in.cfg, pc)) {
			/* the same process: keep it running, take the new settings */
			if (strcmp(old->in.cfg->fullname, pc->fullname) != 0) {
				if (old->out)
					logstream_set_name(old->out, pc->fullname);
				if (old->err)
					logstream_set_name(old->err, pc->fullname);
			}
			cfg_unref(old->owner);
			old->owner = cfg_ref(nc);
			old->in.cfg = pc;
			insts[n++] = &old->in;
			kept++;
			continue;
		}
		sl = slot_new(s, nc, pc);
		insts[n++] = &sl->in;
		if (!old) {
			sl->in.pending_start = pc->autostart;
			continue;
		}
		/* changed: the old one stops first, then the new one starts */
		sl->in.pending_start = pc->autostart || active(&old->in);
		old->retiring = true;
		old->successor = sl;
		sl->predecessor = old;
	}
	for (size_t j = 0; j < nold; j++) {
		struct slot *sl = slot_of(s->insts[j]);

		if (!used[j] || sl->successor) {
			sl->retiring = true;
			sl->in.pending_start = false;
			sl->restart_requested = false;
			sl->in.pending_stop = !pstate_is_stopped(sl->in.state);
			if (sl->in.state == PS_STOPPING)
				inst_event(&sl->in, EV_STOP, NULL); /* cancels a queued restart */
			insts[n++] = &sl->in;
		}
	}
	free(s->insts);
	s->insts = insts;
	s->ninst = n;
	cfg_unref(s->cfg);
	s->cfg = cfg_ref(nc);
	listener_sweep(nc); /* a program gone, or its address changed: its socket closes */
	relink(s);
	scale_arm(s);
	kick(s);
	log_info("reloaded %s: %zu added, %zu changed, %zu removed, %zu kept running",
		 nc->path, json_array_size(json_object_get(plan, "added")),
		 json_array_size(json_object_get(plan, "changed")),
		 json_array_size(json_object_get(plan, "removed")), kept);
out:
	free(match);
	free(used);
	if (ret_plan)
		*ret_plan = plan;
	else
		json_decref(plan);
	return 0;
}

int sv_reload_file(struct supervisor *s, bool apply, json_t **ret)
{
	struct config *nc = NULL;
	struct config_diag diag;
	char *old_sock, *new_sock;
	json_t *plan = NULL;
	int r;

	r = config_load(s->cfg->path, &nc, &diag);
	if (r < 0) {
		json_t *errs = json_array();

		log_error("reload of %s refused; the running config stays:", s->cfg->path);
		for (size_t i = 0; i < diag.nerrors; i++) {
			log_error("%s", diag.errors[i]);
			json_array_append_new(errs, json_string(diag.errors[i]));
		}
		*ret = json_pack("{s:b,s:o}", "ok", 0, "errors", errs);
		config_diag_done(&diag);
		return -EINVAL;
	}
	for (size_t i = 0; i < diag.nwarnings && apply; i++)
		log_warn("%s", diag.warnings[i]);
	config_diag_done(&diag);
	old_sock = config_socket_path(s->cfg);
	new_sock = config_socket_path(nc);
	if (apply) {
		if (strcmp(old_sock, new_sock) != 0 || s->cfg->socket_mode != nc->socket_mode)
			log_warn("reload: the control socket stays %s until tend restarts", old_sock);
		if (!nc->logfile || !s->cfg->logfile || strcmp(nc->logfile, s->cfg->logfile) != 0)
			log_open(nc->logfile, s->foreground, nc->loglevel);
		log_set_level(nc->loglevel);
	}
	free(old_sock);
	free(new_sock);
	r = sv_reload(s, nc, apply, &plan);
	if (r < 0 || !apply)
		config_free(nc);
	else
		s->staged = config_free(s->staged); /* the whole file is in force now */
	if (r < 0) {
		*ret = json_pack("{s:b,s:s}", "ok", 0, "error", "tend is shutting down");
		return r;
	}
	json_object_set_new(plan, "ok", json_true());
	json_object_set_new(plan, "dry_run", json_boolean(!apply));
	*ret = plan;
	return 0;
}

/* Drop the retiring instances that have stopped; their successors may start. */
static void bury_retired(struct supervisor *s)
{
	size_t n = 0;
	bool changed = false;

	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);

		if (sl->retiring && pstate_is_stopped(sl->in.state) && !sl->in.pending_stop) {
			log_info("removed: %s", sl->in.cfg->fullname);
			slot_free(s, sl);
			changed = true;
			continue;
		}
		s->insts[n++] = s->insts[i];
	}
	s->ninst = n;
	if (changed)
		relink(s);
}

static void kick(struct supervisor *s)
{
	loop_defer(&s->loop, &s->pass, run_passes);
}

void sv_autostart(struct supervisor *s)
{
	for (size_t i = 0; i < s->ninst; i++)
		if (s->insts[i]->cfg->autostart)
			s->insts[i]->pending_start = true;
	scale_arm(s);
	kick(s);
}

static void want_start(struct inst *in)
{
	struct slot *sl = slot_of(in);

	if (in->pending_start)
		return;
	in->pending_start = true;
	/* a program's dependencies are started with it */
	for (size_t i = 0; i < sl->ndeps; i++) {
		struct inst *d = sl->deps[i];

		if (d->state != PS_RUNNING && d->state != PS_STARTING)
			want_start(d);
	}
}

void sv_start(struct supervisor *s, struct inst *in)
{
	in->pending_stop = false;
	if (in->draining) { /* a start cancels a drain in progress: ready again */
		loop_timer_stop(&s->loop, &slot_of(in)->drain);
		in->draining = false;
		slot_of(in)->drained = false;
		if (s->on_change)
			s->on_change(in, in->state);
	}
	if (in->state == PS_BACKOFF) {
		inst_event(in, EV_START, NULL); /* no need to wait out the backoff */
	} else if (in->state == PS_STOPPING) {
		inst_event(in, EV_START, NULL); /* starts again once stopped */
	} else if (pstate_is_stopped(in->state)) {
		want_start(in);
	}
	kick(s);
}

void sv_stop(struct supervisor *s, struct inst *in)
{
	in->pending_start = false;
	slot_of(in)->restart_requested = false;
	if (!pstate_is_stopped(in->state) && in->state != PS_STOPPING)
		in->pending_stop = true;
	else if (in->state == PS_STOPPING)
		inst_event(in, EV_STOP, NULL); /* cancels a queued restart */
	kick(s);
}

void sv_restart(struct supervisor *s, struct inst *in)
{
	if (pstate_is_stopped(in->state)) {
		sv_start(s, in);
		return;
	}
	if (in->state == PS_STOPPING) {
		inst_event(in, EV_START, NULL);
	} else {
		in->pending_stop = true;
		slot_of(in)->restart_requested = true;
	}
	kick(s);
}

void sv_shutdown(struct supervisor *s, const char *why)
{
	s->shutdown_requests++;
	if (s->shutting_down) {
		if (s->shutdown_requests >= 2) {
			log_warn("second shutdown request: killing every program now");
			for (size_t i = 0; i < s->ninst; i++) {
				struct inst *in = s->insts[i];

				in->pending_stop = false;
				if (in->pid)
					op_kill(in, SIGKILL, in->cfg->killasgroup);
				else if (in->state == PS_BACKOFF)
					inst_event(in, EV_STOP, NULL);
			}
		}
		kick(s);
		return;
	}
	log_info("shutting down (%s)", why);
	s->shutting_down = true;
	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->insts[i];

		in->hold = true;
		in->pending_start = false;
		slot_of(in)->restart_requested = false;
		if (!pstate_is_stopped(in->state))
			in->pending_stop = true;
	}
	kick(s);
}

int sv_resolve(struct supervisor *s, const char *spec, struct inst ***list, size_t *n)
{
	size_t before = *n;
	const char *colon = strchr(spec, ':');

	for (size_t i = 0; i < s->ninst; i++) {
		const struct proc_config *pc = s->insts[i]->cfg;
		bool match;

		if (!sv_visible(s->insts[i]))
			continue;
		if (strcmp(spec, "all") == 0)
			match = true;
		else if (colon && strcmp(colon + 1, "*") == 0)
			match = strncmp(spec, pc->group, (size_t)(colon - spec)) == 0 &&
				pc->group[colon - spec] == '\0';
		else if (colon)
			match = strcmp(spec, pc->fullname) == 0 ||
				(strncmp(spec, pc->group, (size_t)(colon - spec)) == 0 &&
				 pc->group[colon - spec] == '\0' && strcmp(colon + 1, pc->name) == 0);
		else
			match = strcmp(spec, pc->fullname) == 0 || strcmp(spec, pc->name) == 0 ||
				strcmp(spec, pc->program) == 0 || strcmp(spec, pc->group) == 0;
		if (!match)
			continue;
		/* the same instance named twice is listed once */
		for (size_t j = 0; j < *n && match; j++)
			match = (*list)[j] != s->insts[i];
		if (match) {
			*list = xrealloc(*list, (*n + 1) * sizeof(**list));
			(*list)[(*n)++] = s->insts[i];
		}
	}
	if (*n == before) {
		bool dup = false;

		/* a name that only matched instances already listed is not unknown */
		for (size_t i = 0; i < s->ninst && !dup; i++)
			dup = strcmp(spec, s->insts[i]->cfg->fullname) == 0 ||
			      strcmp(spec, s->insts[i]->cfg->program) == 0;
		return dup ? 0 : -ENOENT;
	}
	return (int)(*n - before);
}

static void on_wait_timeout(struct loop *l, struct timer *t)
{
	struct waiter *w = container_of(t, struct waiter, timeout);

	(void)l;
	for (struct waiter **pw = &sv->waiters; *pw; pw = &(*pw)->next) {
		if (*pw == w) {
			*pw = w->next;
			break;
		}
	}
	w->cb(w, w->ctx);
	free(w->targets);
	free(w);
}

struct waiter *sv_wait(struct supervisor *s, enum wait_kind kind, struct inst **targets,
		       size_t n, int64_t timeout_ns, waiter_cb *cb, void *ctx)
{
	struct waiter *w = xcalloc(1, sizeof(*w));

	w->kind = kind;
	w->targets = xcalloc(n + 1, sizeof(*targets));
	memcpy(w->targets, targets, n * sizeof(*targets));
	w->ntargets = n;
	w->cb = cb;
	w->ctx = ctx;
	w->timeout = (struct timer)TIMER_INIT;
	w->next = s->waiters;
	s->waiters = w;
	loop_timer_start(&s->loop, &w->timeout, timeout_ns, on_wait_timeout);
	kick(s);
	return w;
}

void sv_wait_cancel(struct supervisor *s, struct waiter *w)
{
	for (struct waiter **pw = &s->waiters; *pw; pw = &(*pw)->next) {
		if (*pw == w) {
			*pw = w->next;
			loop_timer_stop(&s->loop, &w->timeout);
			free(w->targets);
			free(w);
			return;
		}
	}
}

/* ---- autoscaling ----------------------------------------------------------- */

static struct pool_stat *pool_stat_of(struct supervisor *s, const char *program)
{
	struct pool_stat *p;

	for (p = s->pools; p; p = p->next)
		if (strcmp(p->program, program) == 0)
			return p;
	p = xcalloc(1, sizeof(*p));
	p->program = xstrdup(program);
	p->last_change = mono_ns();
	p->next = s->pools;
	s->pools = p;
	return p;
}

/* counted as part of the pool's size: running, starting, or about to start */
static bool pool_active(const struct inst *in)
{
	return !in->pending_stop && (!pstate_is_stopped(in->state) || in->pending_start);
}

int sv_scale(struct supervisor *s, const char *program, int n, const char *reason)
{
	struct inst **v = xcalloc(s->ninst + 1, sizeof(*v));
	size_t nv = 0;
	int active = 0, lo = 0, hi;

	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->insts[i];

		if (sv_visible(in) && strcmp(in->cfg->program, program) == 0) {
			v[nv++] = in;
			active += pool_active(in);
		}
	}
	if (nv == 0) {
		free(v);
		return -ENOENT;
	}
	hi = (int)nv;
	if (v[0]->cfg->pool_max) {
		lo = v[0]->cfg->pool_min;
		hi = MIN(hi, v[0]->cfg->pool_max);
	}
	if (n < lo || n > hi) {
		free(v);
		return -ERANGE;
	}
	if (n != active) {
		log_info("scale: %s %d -> %d (%s)", program, active, n, reason);
		if (s->on_scale)
			s->on_scale(program, active, n, reason);
		pool_stat_of(s, program)->last_change = mono_ns();
	}
	/* instances are in process_num order: grow from the bottom, shrink from the top */
	for (size_t i = 0, k = (size_t)active; i < nv && (int)k < n; i++) {
		if (!pool_active(v[i])) {
			sv_start(s, v[i]);
			k++;
		}
	}
	for (size_t i = nv, k = (size_t)active; i-- > 0 && (int)k > n;) {
		if (pool_active(v[i])) {
			sv_stop(s, v[i]);
			k--;
		}
	}
	free(v);
	return active;
}

static void on_scale_tick(struct loop *l, struct timer *t);

/* Arm the tick at the shortest scale_interval of the config's pools (none: disarmed). */
static void scale_arm(struct supervisor *s)
{
	int64_t every = 0;

	for (size_t i = 0; i < s->cfg->nprocs; i++)
		if (s->cfg->procs[i]->pool_max && (!every || s->cfg->procs[i]->scale_interval_ns < every))
			every = s->cfg->procs[i]->scale_interval_ns;
	if (!every)
		loop_timer_stop(&s->loop, &s->scale_timer);
	else if (!timer_armed(&s->scale_timer))
		loop_timer_start(&s->loop, &s->scale_timer, every, on_scale_tick);
}

static unsigned rollouts_in_flight; /* rolling restarts not finished yet */

static void scale_pool(struct supervisor *s, const struct proc_config *pc, int64_t now)
{
	struct pool_stat *ps = pool_stat_of(s, pc->program);
	uint64_t cpu = 0;
	int active = 0, running = 0;
	struct scale_input in;
	char reason[160];
	double pct = 0;
	int want;

	if (ps->have_cpu && now - ps->last_tick < pc->scale_interval_ns - NSEC_PER_SEC / 100)
		return;
	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *x = s->insts[i];
		struct sv_usage u;

		if (strcmp(x->cfg->program, pc->program) != 0)
			continue;
		sv_usage(x, &u);
		cpu += u.cpu_usec;
		if (sv_visible(x)) {
			active += pool_active(x);
			running += x->state == PS_RUNNING;
		}
	}
	if (ps->have_cpu && (cpu < ps->last_cpu || rollouts_in_flight)) {
		/* a counter that went back (an instance gone with its usage) says
		 * nothing about the load, and a rolling restart's replacement is not
		 * one more instance: read again next time */
		ps->last_cpu = cpu;
		ps->last_tick = now;
		return;
	}
	if (ps->have_cpu && now > ps->last_tick)
		pct = (double)(cpu - ps->last_cpu) / 1e6 / ((double)(now - ps->last_tick) / 1e9) /
		      MAX(running, 1) * 100;
	in = (struct scale_input){ .min = pc->pool_min, .max = pc->pool_max, .current = active,
				   .cpu_percent = pct, .target = pc->scale_target,
				   .since_change_ns = now - ps->last_change, .cooldown_ns = pc->scale_cooldown_ns };
	if (!ps->have_cpu) /* the first reading has nothing to compare with */
		in.since_change_ns = 0, in.cooldown_ns = 1;
	ps->have_cpu = true;
	ps->last_cpu = cpu;
	ps->last_tick = now;
	want = scale_decide(&in, reason, sizeof(reason));
	if (want != active)
		sv_scale(s, pc->program, want, reason);
}

static void on_scale_tick(struct loop *l, struct timer *t)
{
	struct supervisor *s = container_of(t, struct supervisor, scale_timer);
	int64_t now = mono_ns();

	(void)l;
	if (s->shutting_down)
		return;
	for (size_t i = 0; i < s->cfg->nprocs; i++) {
		const struct proc_config *pc = s->cfg->procs[i];

		if (pc->pool_max && (i == 0 || strcmp(s->cfg->procs[i - 1]->program, pc->program) != 0))
			scale_pool(s, pc, now);
	}
	scale_arm(s);
}

/* ---- rolling restart -------------------------------------------------------- */

struct rolling {
	struct inst **targets;   /* the instances to replace, in order */
	size_t n, next;
	struct slot *old, *nw;   /* the pair in flight */
	pid_t old_pid, new_pid;  /* nw may be gone (a reload) by the time old has stopped */
	char *new_name;
	struct waiter *w;
	rolling_cb *cb;
	void *ctx;
	json_t *results;
};

static void rolling_step(struct rolling *r);

static void rolling_finish(struct rolling *r, bool ok)
{
	if (r->cb)
		r->cb(r->ctx, ok, r->results); /* takes the results */
	else
		json_decref(r->results);
	free(r->targets);
	free(r->new_name);
	free(r);
	rollouts_in_flight--;
}

/* Is t still one of ours (not removed by a reload meanwhile)? */
static bool alive_inst(struct supervisor *s, const struct inst *t)
{
	for (size_t i = 0; i < s->ninst; i++)
		if (s->insts[i] == t)
			return true;
	return false;
}

static void rolling_old_stopped(struct waiter *w, void *ctx)
{
	struct rolling *r = ctx;

	(void)w;
	r->w = NULL;
	{
		char msg[64];

		snprintf(msg, sizeof(msg), "replaced pid %d by %d", (int)r->old_pid, (int)r->new_pid);
		json_array_append_new(r->results,
				      json_pack("{s:s,s:b,s:s,s:i,s:i}", "name", r->new_name, "ok", 1, "message",
						msg, "old_pid", (int)r->old_pid, "pid", (int)r->new_pid));
	}
	rolling_step(r);
}

static void rolling_new_settled(struct waiter *w, void *ctx)
{
	struct rolling *r = ctx;
	struct slot *old = r->old, *nw = r->nw;

	(void)w;
	r->w = NULL;
	if (nw->in.state != PS_RUNNING || sv->shutting_down) {
		/* the replacement did not come up: it goes, the old one keeps serving */
		log_warn("rolling restart: %s: the replacement did not become ready (%s); stopping",
			 nw->in.cfg->fullname, pstate_name(nw->in.state));
		json_array_append_new(r->results,
				      json_pack("{s:s,s:b,s:s}", "name", nw->in.cfg->fullname, "ok", 0, "message",
						nw->in.last_reason[0] ? nw->in.last_reason : pstate_name(nw->in.state)));
		nw->retiring = true;
		nw->in.pending_start = false;
		nw->in.pending_stop = !pstate_is_stopped(nw->in.state);
		kick(sv);
		rolling_finish(r, false);
		return;
	}
	/* ready: now the old one drains and stops, and then goes */
	log_info("rolling restart: %s pid %d is ready; retiring pid %d", nw->in.cfg->fullname, (int)nw->in.pid,
		 (int)old->in.pid);
	r->old_pid = old->in.pid;
	r->new_pid = nw->in.pid;
	free(r->new_name);
	r->new_name = xstrdup(nw->in.cfg->fullname);
	old->retiring = true;
	old->in.pending_start = false;
	old->restart_requested = false;
	old->in.pending_stop = !pstate_is_stopped(old->in.state);
	{
		struct inst *t = &old->in;

		r->w = sv_wait(sv, WAIT_STOP, &t, 1, 300 * NSEC_PER_SEC, rolling_old_stopped, r);
	}
	relink(sv);
	kick(sv);
}

static void rolling_step(struct rolling *r)
{
	struct supervisor *s = sv;
	struct inst *t, **insts;
	struct slot *old, *nw;
	size_t k = 0;

	while (r->next < r->n) {
		t = r->targets[r->next++];
		if (!alive_inst(s, t) || !sv_visible(t) || t->state != PS_RUNNING)
			continue; /* gone meanwhile, or not running: nothing to keep serving */
		old = slot_of(t);
		nw = slot_new(s, old->owner, old->in.cfg);
		nw->gen = old->gen + 1;
		nw->in.pending_start = true;
		/* the replacement takes the old one's place in the table */
		insts = xcalloc(s->ninst + 2, sizeof(*insts));
		for (size_t i = 0; i < s->ninst; i++) {
			insts[k++] = s->insts[i];
			if (s->insts[i] == t)
				insts[k++] = &nw->in;
		}
		free(s->insts);
		s->insts = insts;
		s->ninst = k;
		relink(s);
		r->old = old;
		r->nw = nw;
		log_info("rolling restart: starting a replacement for %s (pid %d)", t->cfg->fullname, (int)t->pid);
		{
			struct inst *ni = &nw->in;

			r->w = sv_wait(s, WAIT_START, &ni, 1, t->cfg->ready_timeout_ns + t->cfg->startsecs_ns +
								      10 * NSEC_PER_SEC,
				       rolling_new_settled, r);
		}
		kick(s);
		return;
	}
	rolling_finish(r, true);
}

void sv_rolling_restart(struct supervisor *s, struct inst **targets, size_t n, rolling_cb *cb, void *ctx,
			struct rolling **ret)
{
	struct rolling *r = xcalloc(1, sizeof(*r));

	r->targets = xcalloc(n + 1, sizeof(*targets));
	memcpy(r->targets, targets, n * sizeof(*targets));
	r->n = n;
	r->cb = cb;
	r->ctx = ctx;
	r->results = json_array();
	(void)s;
	rollouts_in_flight++;
	*ret = r;
	rolling_step(r); /* last: it may finish and free r */
}

void sv_rolling_cancel(struct rolling *r)
{
	/* the restart goes on (a half-done one is worse); only its answer is dropped */
	r->cb = NULL;
}

void sv_usage(struct inst *in, struct sv_usage *u)
{
	struct slot *sl = slot_of(in);
	struct cg_stats st;

	memset(u, 0, sizeof(*u));
	u->source = "proc";
	if (sl->cg_made) {
		cg_leaf_stats(&sl->cg, &st);
		if (st.have_mem) {
			u->mem_current = st.mem_current;
			u->mem_peak = st.mem_peak;
			u->source = "cgroup";
		}
		if (st.have_cpu)
			u->cpu_usec = st.cpu_usec;
		if (st.have_mem && st.have_cpu)
			return;
	}
	if (in->pid) {
		char path[64], *data = NULL, *p;
		unsigned long long ut, stt;
		long rss;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)in->pid);
		if (read_file(path, 4096, &data, NULL) == 0 && (p = strrchr(data, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
				  "%*d %*d %*u %*u %ld", &ut, &stt, &rss) == 3) {
			if (!u->mem_current)
				u->mem_current = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
			if (!u->cpu_usec)
				u->cpu_usec = (ut + stt) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK);
		}
		free(data);
	}
}

struct logstream *sv_logstream(struct inst *in, bool stderr_stream)
{
	return stderr_stream ? slot_of(in)->err : slot_of(in)->out;
}

void sv_reopen_logs(struct supervisor *s)
{
	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);

		if (sl->out)
			logstream_reopen(sl->out);
		if (sl->err)
			logstream_reopen(sl->err);
	}
}

static void on_signal(struct loop *l, const struct signalfd_siginfo *si)
{
	const char *name = sig_name((int)si->ssi_signo);
	char why[32];

	(void)l;
	switch (si->ssi_signo) {
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		snprintf(why, sizeof(why), "SIG%s", name ? name : "?");
		sv_shutdown(sv, why);
		break;
	case SIGHUP: {
		json_t *res = NULL;

		log_info("received SIGHUP: reloading %s", sv->cfg->path);
		sv_reload_file(sv, true, &res);
		json_decref(res);
		break;
	}
	case SIGUSR2:
		log_info("received SIGUSR2: reopening log files");
		log_reopen();
		sv_reopen_logs(sv);
		break;
	default:
		log_info("received SIG%s; ignored", name ? name : "?");
		break;
	}
}

int sv_loop_init(struct supervisor *s)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	/* a parent that ignored one of these (nohup) must not hide it from the
	 * signalfd; blocked first, so the default action never runs */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&mask, sig) == 1)
			signal(sig, SIG_DFL);
	return loop_init(&s->loop, &mask, on_signal, on_reap);
}

int sv_run(struct supervisor *s)
{
	int r;

	sv = s;
	/* reap whatever exited before the loop started */
	on_reap(&s->loop);
	r = loop_run(&s->loop);
	if (r < 0) {
		log_crit("event loop failed: %s", strerror(-r));
		return 1;
	}
	return s->exit_status;
}
