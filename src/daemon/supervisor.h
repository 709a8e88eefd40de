/*
 * The supervisor: the table of program instances and what moves them.
 *
 *  - start pass: instances with pending_start start in priority order once
 *    every program they depend on is RUNNING;
 *  - stop pass: instances with pending_stop stop by priority batch (highest
 *    group priority first; groups of equal priority together), each batch
 *    waiting until all its members have exited, and never before the
 *    programs that depend on them;
 *  - reaping: every child, known or not, is collected; a program's process
 *    group is emptied (SIGKILL) before its main process is reaped;
 *  - waiters: requests that answer once their instances settle;
 *  - observers: whoever wants to hear of state changes and pool resizes
 *    (the events stream).
 *
 * Its rooms, one file each: supervisor.c (the table, the passes, waiters,
 * requests), slot.c (an instance's real spawn, signals, timers, log pipes),
 * reap.c (exits and leftovers), limits.c (cgroup leaves, OOM, RSS polling,
 * usage), reload.c (moving to a new config), rollout.c (rolling restarts),
 * autoscale.c (pools sized on CPU load).  Their shared internals are in
 * supervisor-internal.h.  Nothing here speaks JSON or XML: the front-ends
 * (api.c, rpc.c, tendd.c's signals) go through cmd.c.
 */
#ifndef TEND_SUPERVISOR_H
#define TEND_SUPERVISOR_H

#include <stdbool.h>
#include <sys/resource.h>

#include "daemon/cgroup.h"
#include "config/config.h"
#include "daemon/loop.h"
#include "daemon/inst.h"

struct control;

enum wait_kind {
	WAIT_START, /* until RUNNING, or a failure (BACKOFF, FATAL, EXITED) */
	WAIT_STOP,  /* until STOPPED, EXITED or FATAL */
};

struct waiter;
typedef void waiter_cb(struct waiter *w, void *ctx);

struct waiter {
	struct waiter *next;
	struct supervisor *sv;
	enum wait_kind kind;
	struct inst **targets;
	size_t ntargets;
	waiter_cb *cb;
	void *ctx;
	struct timer timeout;
};

/*
 * Told of what happens (each callback may be NULL): every state change of a
 * visible instance (from == in->state: its draining flag changed), every
 * pool resize, output of a program with stdout/stderr_events_enabled (comm:
 * a message of capture mode), a group added to or removed from the running
 * config, the daemon running or beginning to stop, and a client's remote
 * communication.  The event bus (events.c) is one; it feeds the listener
 * pools and /v1/events.
 */
struct sv_observer {
	struct sv_observer *next;
	void (*changed)(struct sv_observer *o, const struct inst *in, enum pstate from);
	void (*scaled)(struct sv_observer *o, const char *program, int from, int to, const char *reason);
	void (*output)(struct sv_observer *o, const struct inst *in, bool err, bool comm, const char *data,
		       size_t len);
	void (*group)(struct sv_observer *o, const char *group, bool added);
	void (*daemon)(struct sv_observer *o, bool stopping);
	void (*remote)(struct sv_observer *o, const char *type, const char *data, size_t len);
};

/* How an instance's process is made and signalled: the real one is slot.c's;
 * unit tests give fakes.  Both as in struct inst_ops. */
struct sv_backend {
	int (*spawn)(struct inst *in);
	int (*kill)(struct inst *in, int sig, bool group);
};

struct pool_stat;
struct event_bus;
struct listeners;
struct slot;

struct sv_pid {
	pid_t pid;       /* 0: empty */
	struct inst *in;
};

struct supervisor {
	struct loop loop;
	struct config *cfg;
	struct inst **insts;    /* config order */
	size_t ninst;
	struct inst **by_start; /* priority ascending, then config order */
	struct inst **by_stop;  /* group priority descending, then reverse config order */
	struct deferred pass;
	struct slot **agenda;   /* the slots the passes must look at (see supervisor.c) */
	size_t nagenda, capagenda;
	struct sv_pid *pids;    /* open-addressing map pid -> instance (reap.c's lookups) */
	size_t npids, cappids;
	struct waiter *waiters;
	struct sv_observer *observers;
	const struct sv_backend *backend;
	bool shutting_down;
	int shutdown_requests;
	int exit_status;
	bool orphans_signalled;
	struct timer orphan_timer;
	struct rlimit child_nofile; /* RLIMIT_NOFILE as tend was started with, for its programs */
	bool nofile_raised;         /* tend raised its own since: each child sets child_nofile back */
	struct pidrec *pidrec;  /* without cgroups: what tend started, on disk (pidrec.h); else NULL */
	int64_t start_ns;
	bool foreground;
	unsigned file_loads;     /* times the whole config file was put in force (reload, restart) */
	struct cg_root cg;       /* tend's cgroup tree (kind CG_OFF: none) */
	struct timer rss_timer;  /* RSS polling for memory_limit without a memory cgroup */
	struct timer usage_timer; /* keeps the listed usage figures fresh while they are asked for */
	int64_t usage_listed_ns;  /* when a list last asked for them (0: never) */
	size_t usage_next;        /* where the refresh goes on */
	int64_t usage_flush_ns;   /* the tree's CPU figures were last flushed (cg_root_flush_stats) */
	struct timer scale_timer; /* the autoscaler's tick, armed while a pool exists */
	struct pool_stat *pools;  /* per autoscaled program: CPU last seen, last change */
	unsigned rollouts;        /* rolling restarts in flight */
	struct event_bus *bus;    /* supervisord's events (events.c), one of the observers */
	struct listeners *listeners; /* the [eventlistener:x] pools (listener.c) */
	bool announced;           /* SUPERVISOR_STATE_CHANGE_RUNNING and the groups told once */
	const char *socket_path;  /* where the control socket is (tendd's; NULL: the config's) */
	unsigned orphans_reaped;  /* orphans reaped since the last count in the log (reap.c) */
	int64_t orphans_logged_ns; /* when that count was logged (0: never) */
	struct sv_maps *maps;     /* the shared maps of maps= (maps.c); NULL: none made yet */
	char *env_common[2];      /* "SUPERVISOR_ENABLED=1" and "SUPERVISOR_SERVER_URL=<tend's
				   * socket>": one copy for every instance that has them
				   * (slot.c; made at the first spawn, NULL before) */
};

/*
 * Create the instances of cfg (taking a reference to it), all STOPPED.
 * backend NULL: the real spawn and kill (slot.c).  The loop must be
 * initialised before anything is started (sv_loop_init).
 */
void sv_init(struct supervisor *s, struct config *cfg, const struct sv_backend *backend);
void sv_done(struct supervisor *s);

/* Mark every autostart instance to start and run the passes. */
void sv_autostart(struct supervisor *s);

/*
 * Resolve a name as tend's CLI takes it: "all", "GROUP:*", "GROUP:NAME", a
 * process name, a program name or a group name.  Appends matches to *list
 * (caller frees the array).  Returns the number added, or -ENOENT.
 */
int sv_resolve(struct supervisor *s, const char *spec, struct inst ***list, size_t *n);

/* Ask for a start (dependencies first) / stop (ordered) / restart. */
void sv_start(struct supervisor *s, struct inst *in);
void sv_stop(struct supervisor *s, struct inst *in);
void sv_restart(struct supervisor *s, struct inst *in);

/* What a reload does to each instance. */
enum plan_action {
	PLAN_ADD,    /* new: starts if autostart */
	PLAN_CHANGE, /* runs another process: stopped, then its replacement starts */
	PLAN_UPDATE, /* same process, other settings: applied in place */
	PLAN_REMOVE, /* gone from the config: stopped and dropped */
	PLAN_KEEP,   /* unchanged */
	PLAN_NACTIONS,
};

struct plan_entry {
	enum plan_action action;
	char *name;      /* full name (the new one, or the removed one's) */
	char *group;     /* its group in the new config (removed: in the old one) */
	char *old_group; /* its group in the running config (added: NULL) */
};

struct reload_plan {
	struct plan_entry *v;
	size_t n;
	size_t count[PLAN_NACTIONS];
};

/* Name of an action as the API shows it: "added", "changed"... */
const char *plan_action_name(enum plan_action a);
void reload_plan_done(struct reload_plan *p);

/*
 * Move to a new config.  Instances are matched by program name and
 * process_num: one that runs the same process (prog_config_same_process)
 * keeps running and takes the new settings; a changed one is stopped and its
 * replacement started once it is gone; a removed one is stopped and dropped;
 * a new one starts if autostart.  With apply the supervisor takes a
 * reference to nc; with apply false nothing changes.  *ret_plan (may be
 * NULL) gets what happens to each instance (release with reload_plan_done).
 * Returns 0, or -ESHUTDOWN during shutdown (nothing planned or changed).
 */
int sv_reload(struct supervisor *s, struct config *nc, bool apply, struct reload_plan *ret_plan);

/* False for an instance a reload removed or replaced (it is still stopping). */
bool sv_visible(const struct inst *in);

/* Begin the ordered shutdown; the loop stops once everything has exited. */
void sv_shutdown(struct supervisor *s, const char *why);

/*
 * Call cb(w, ctx) once every target settled for kind, or after timeout_ns.
 * The waiter copies targets.  Returns it, for sv_wait_cancel().
 */
struct waiter *sv_wait(struct supervisor *s, enum wait_kind kind, struct inst **targets,
		       size_t n, int64_t timeout_ns, waiter_cb *cb, void *ctx);
void sv_wait_cancel(struct supervisor *s, struct waiter *w);

/* True when in is settled for kind. */
bool sv_settled(const struct inst *in, enum wait_kind kind);

/* Add / remove an observer (the caller owns it; remove before freeing it). */
void sv_observe(struct supervisor *s, struct sv_observer *o);
void sv_unobserve(struct supervisor *s, struct sv_observer *o);

/* Write to an instance's stdin pipe (tap.c): 0, -EPIPE, -ENOBUFS (see tap_write_stdin). */
int sv_send_stdin(struct inst *in, const char *data, size_t len);

/* A client's sendRemoteCommEvent: tell the observers (REMOTE_COMMUNICATION). */
void sv_remote_event(struct supervisor *s, const char *type, const char *data, size_t len);

/* One instance replaced in a rolling restart, or the one where it stopped. */
struct rollout_step {
	char *name;
	bool ok;
	pid_t old_pid, pid;  /* ok: the process replaced and its replacement */
	char *message;       /* "replaced pid 12 by 34", or why the replacement failed */
};

/*
 * Rolling restart (tend restart --rolling): for each RUNNING target in turn,
 * start a replacement beside it, wait until the replacement is RUNNING (which
 * with ready= means ready), then drain and stop the old one; never fewer
 * ready instances than before.  A replacement that fails stops the rollout
 * (the old instance keeps serving).  cb(ctx, ok, steps, n) runs once at the
 * end; the steps are freed when it returns.
 */
typedef void rolling_cb(void *ctx, bool ok, const struct rollout_step *steps, size_t n);
struct rolling;
/* *ret is set before anything can finish: with no RUNNING target, cb runs
 * (and the rollout is freed) before this returns. */
void sv_rolling_restart(struct supervisor *s, struct inst **targets, size_t n, rolling_cb *cb, void *ctx,
			struct rolling **ret);
/* The client went away: the rollout continues, cb is not called. */
void sv_rolling_cancel(struct rolling *r);

/*
 * Run n instances of program (tend scale, the autoscaler): start the
 * lowest-numbered stopped ones or stop the highest-numbered running ones.
 * Returns the count before, -ENOENT (no such program) or -ERANGE (n outside
 * 0..instances, or outside numprocs_min..numprocs_max for a pool).
 */
int sv_scale(struct supervisor *s, const char *program, int n, const char *reason);

struct logstream;

/* The log stream of an instance (NULL when its output is not relayed). */
struct logstream *sv_logstream(struct inst *in, bool stderr_stream);

/* Reopen every log file (SIGUSR2, after an external logrotate). */
void sv_reopen_logs(struct supervisor *s);

struct sv_usage {
	uint64_t mem_current; /* bytes: the cgroup's, else the main process's RSS */
	uint64_t mem_peak;    /* 0 when unknown */
	uint64_t cpu_usec;    /* the cgroup's CPU time, else the main process's */
	const char *source;   /* "cgroup" or "proc" */
};
/*
 * Memory and CPU use of an instance: figures read less than max_age_ns ago
 * for the same process are given again instead of read again (0: read now).
 * SV_USAGE_LISTED is for the answers that list every instance (status
 * --json, /metrics, the dashboard): they get the figures as last read, and
 * a refresh in the background reads them again once they are
 * SV_USAGE_MAX_AGE_NS old, a slice at a time, for as long as lists are
 * asked for (limits.c): with 10,000 programs a request reads no cgroup
 * file, only the first one for a process does.
 */
#define SV_USAGE_MAX_AGE_NS NSEC_PER_SEC
#define SV_USAGE_LISTED (-1)
void sv_usage(struct inst *in, int64_t max_age_ns, struct sv_usage *ret);

struct history;
/*
 * The instance's history (history.h), with u as a new sample when the last
 * one is older than HIST_INTERVAL_NS: what the dashboard draws.  This
 * function can't fail.
 */
const struct history *sv_history(struct inst *in, const struct sv_usage *u);
/* Record the exit that just ended in's process in its history (reap.c). */
void sv_history_exit(struct inst *in);

/*
 * Create the loop with the daemon's signals (CHLD, TERM, INT, QUIT, HUP,
 * USR1, USR2): SIGCHLD reaps, the others go to on_signal.  0 or -errno.
 */
int sv_loop_init(struct supervisor *s, signal_cb *on_signal);

/* The supervisor whose loop l is (for a signal handler). */
struct supervisor *sv_of_loop(struct loop *l);

/* Run the daemon: the loop until shutdown completes.  Returns the exit status. */
int sv_run(struct supervisor *s);

#endif
