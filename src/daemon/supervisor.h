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
 *  - waiters: API requests that answer once their instances settle.
 *
 * One global supervisor per daemon process, driven by its loop.
 */
#ifndef TEND_SUPERVISOR_H
#define TEND_SUPERVISOR_H

#include <stdbool.h>
#include <sys/resource.h>

#include <jansson.h>

#include "daemon/cgroup.h"
#include "config/config.h"
#include "daemon/loop.h"
#include "daemon/program.h"

struct control;

enum wait_kind {
	WAIT_START, /* until RUNNING, or a failure (BACKOFF, FATAL, EXITED) */
	WAIT_STOP,  /* until STOPPED, EXITED or FATAL */
};

struct waiter;
typedef void waiter_cb(struct waiter *w, void *ctx);

struct waiter {
	struct waiter *next;
	enum wait_kind kind;
	struct inst **targets;
	size_t ntargets;
	waiter_cb *cb;
	void *ctx;
	struct timer timeout;
};

struct supervisor {
	struct loop loop;
	struct config *cfg;
	struct inst **insts;    /* config order */
	size_t ninst;
	struct inst **by_start; /* priority ascending, then config order */
	struct inst **by_stop;  /* group priority descending, then reverse config order */
	struct deferred pass;
	struct waiter *waiters;
	struct control *ctl;
	bool shutting_down;
	int shutdown_requests;
	int exit_status;
	bool orphans_signalled;
	struct timer orphan_timer;
	struct rlimit child_nofile;
	int64_t start_ns;
	bool foreground;
	struct cg_root cg;       /* tend's cgroup tree (kind CG_OFF: none) */
	/* called after every state change of a visible instance (the events stream) */
	void (*on_change)(const struct inst *in, enum pstate from);
	struct timer rss_timer;  /* RSS polling for memory_limit without a memory cgroup */
	struct config *staged;   /* read by XML-RPC reloadConfig, not applied yet (add/remove group) */
	struct timer scale_timer; /* the autoscaler's tick, armed while a pool exists */
	struct pool_stat *pools;  /* per autoscaled program: CPU last seen, last change */
	/* called for every pool size change (the events stream) */
	void (*on_scale)(const char *program, int from, int to, const char *reason);
};

/* The daemon's supervisor (one per process). */
extern struct supervisor *sv;

/* Create the instances of cfg (taking ownership of it), all STOPPED. */
void sv_init(struct supervisor *s, struct config *cfg);
void sv_done(struct supervisor *s);

/* Mark every autostart instance to start and run the passes. */
void sv_autostart(struct supervisor *s);

/*
 * Resolve a name: "all", "GROUP:*", "GROUP:NAME", a process name, a program
 * name or a group name.  Appends matches to *list (caller frees the array).
 * Returns the number added, or -ENOENT.
 */
int sv_resolve(struct supervisor *s, const char *spec, struct inst ***list, size_t *n);

/* Ask for a start (dependencies first) / stop (ordered) / restart. */
void sv_start(struct supervisor *s, struct inst *in);
void sv_stop(struct supervisor *s, struct inst *in);
void sv_restart(struct supervisor *s, struct inst *in);

/*
 * Move to a new config.  Instances are matched by
 * program name and process_num: one that runs the same process (command,
 * environment, directory, umask, user, logs) keeps running and takes the new
 * settings; a changed one is stopped and its replacement started once it is
 * gone; a removed one is stopped and dropped; a new one starts if autostart.
 * With apply the supervisor takes nc; with apply false nothing changes and
 * the caller keeps nc.  *ret_plan (may be NULL) gets
 * {"added", "changed", "removed", "updated": [names], "unchanged": n}.
 * Returns 0, or -ESHUTDOWN during shutdown (nc is then not taken).
 */
int sv_reload(struct supervisor *s, struct config *nc, bool apply, json_t **ret_plan);

/*
 * Re-read the config file (tend reload, SIGHUP).  A config with errors
 * changes nothing; its errors are logged and returned in *ret
 * ({"ok": false, "errors": [...]}) with -EINVAL.  Otherwise *ret is the plan
 * with "ok": true (and "dry_run").
 */
int sv_reload_file(struct supervisor *s, bool apply, json_t **ret);

/* False for an instance a reload removed or replaced (it is still stopping). */
bool sv_visible(const struct inst *in);

/* Begin the ordered shutdown; the loop stops once everything has exited. */
void sv_shutdown(struct supervisor *s, const char *why);

/*
 * Call cb(ctx) once every target settled for kind, or after timeout_ns.
 * The waiter copies targets.  Returns it, for sv_wait_cancel().
 */
struct waiter *sv_wait(struct supervisor *s, enum wait_kind kind, struct inst **targets,
		       size_t n, int64_t timeout_ns, waiter_cb *cb, void *ctx);
void sv_wait_cancel(struct supervisor *s, struct waiter *w);

/* True when in is settled for kind. */
bool sv_settled(const struct inst *in, enum wait_kind kind);

/*
 * Rolling restart (tend restart --rolling): for each RUNNING target in turn,
 * start a replacement beside it, wait until the replacement is RUNNING (which
 * with ready= means ready), then drain and stop the old one; never fewer
 * ready instances than before.  A replacement that fails stops the rollout
 * (the old instance keeps serving).  cb(ctx, ok, results) runs once at the
 * end, results a JSON array (the callee keeps no reference).
 */
typedef void rolling_cb(void *ctx, bool ok, json_t *results); /* takes results */
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
/* Memory and CPU use of an instance, read when asked (never polled). */
void sv_usage(struct inst *in, struct sv_usage *ret);

/* Create the loop with the daemon's signals (CHLD, TERM, INT, QUIT, HUP, USR1, USR2). */
int sv_loop_init(struct supervisor *s);

/* Run the daemon: the loop until shutdown completes.  Returns the exit status. */
int sv_run(struct supervisor *s);

#endif
