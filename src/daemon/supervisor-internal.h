/*
 * What the supervisor's rooms share (see supervisor.h for the list): the
 * slot, which is an instance plus what the supervisor knows about it, and
 * the functions one room calls in another.  Not for the front-ends.
 */
#ifndef TEND_SUPERVISOR_INTERNAL_H
#define TEND_SUPERVISOR_INTERNAL_H

#include <signal.h>

#include "common/util.h"
#include "daemon/supervisor.h"

struct probe;
struct tap;
struct lproc;

/* An instance plus what the supervisor knows about its neighbours. */
struct slot {
	struct inst in;
	/* pointers and 64-bit fields first, then the narrow ones: no holes
	 * (10,000 slots, issue 18) */
	struct supervisor *sv;
	struct inst **deps;   /* instances of the programs it depends on */
	struct inst **rdeps;  /* instances that depend on it */
	struct logstream *out; /* log pipes, made at the first start, kept across restarts */
	struct logstream *err;
	struct config *owner;  /* the config its prog_config belongs to (a reference) */
	struct slot *successor;   /* the instance replacing it */
	struct slot *predecessor; /* the instance it replaces: start only once that one is gone */
	struct cg_leaf cg;       /* its cgroup leaf, made at the first start, kept across restarts */
	struct io_watch oomw;    /* OOM events of the leaf */
	struct timer life;       /* max_lifetime */
	struct probe *probe;     /* ready=: the current process's readiness probe */
	struct timer drain;      /* drain_secs: the stop goes out when it fires */
	struct tap *tap;         /* what is waiting for stdin, output taps (tap.c); NULL: none yet */
	struct lproc *lp;        /* an event listener's protocol state (listener.c) */
	struct history *hist;    /* CPU/memory samples and exits for the dashboard (history.c) */
	struct sv_usage usage;   /* the last figures sv_usage read (limits.c) */
	int64_t usage_ns;        /* when (0: never) */
	char **env_own;          /* the child's own environment entries, built at the first
				    spawn (slot.c); tend's environment follows them */
	size_t *env_skip;        /* the entries of tend's environment they override (ascending) */
	char *listen_pid;        /* in env_own: LISTEN_PID's digits, which each child writes */
	uint32_t ndeps;
	uint32_t nrdeps;
	uint32_t env_nskip;
	uint32_t listen_pid_len;
	uint32_t start_pos;      /* its position in by_start */
	int stop_prio;           /* its group's priority */
	unsigned gen;            /* replacements made by rolling restarts (its cgroup leaf's name) */
	int stdin_fd;            /* write end of the current process's stdin pipe (tap.c); -1: none */
	pid_t usage_pid;         /* for which process usage was read */
	pid_t pid_key;           /* the pid its entry in the pid table was put under (0: none) */
	unsigned env_common;     /* bit i: sv->env_common[i] follows env_own (not overridden) */
	bool restart_requested;
	bool retiring;           /* removed or replaced by a reload: stops, then goes */
	bool cg_made;
	bool mem_killed;         /* killed for its memory limit; the exit says so */
	bool recycling;          /* stopped for max_lifetime; the exit says so */
	bool drained;            /* drain_secs over: stop now */
	bool on_agenda;          /* in the supervisor's agenda */
};

static inline struct slot *slot_of(const struct inst *in)
{
	return container_of((struct inst *)in, struct slot, in);
}

static inline struct supervisor *sv_of(const struct inst *in)
{
	return slot_of(in)->sv;
}

/* ---- pids.c ---------------------------------------------------------------- */

/* Enter sl's new process (sl->in.pid) in the pid table, dropping its last entry. */
void sv_pid_put(struct slot *sl);
/* Drop sl's entry, if the table still holds it (it is going away). */
void sv_pid_forget(struct slot *sl);

/* ---- supervisor.c ---------------------------------------------------------- */

/* A NULL-terminated copy of n instance pointers (caller frees). */
struct inst **insts_copy(struct inst *const *v, size_t n);

/* Run the passes (stop, bury, start, waiters) in this loop iteration's deferred phase. */
void sv_kick(struct supervisor *s);
/*
 * Put sl on the passes' agenda: call after setting pending_start,
 * pending_stop, restart_requested or retiring.  The passes look only at the
 * agenda (and walk the whole table only when a stop is pending), so that a
 * restart costs the same with 10 or 10,000 programs.
 */
void sv_agenda(struct slot *sl);
/* The instance whose main process is pid (NULL: none).  Spawns add, exits remove. */
struct inst *sv_pid_find(struct supervisor *s, pid_t pid);
void sv_pid_del(struct supervisor *s, pid_t pid);
/* A new slot for pc in config owner (a reference is taken), STOPPED. */
struct slot *slot_new(struct supervisor *s, struct config *owner, struct prog_config *pc);
/* Forget an instance: answer the waiters that name it, close its logs and leaf, free it. */
void slot_free(struct supervisor *s, struct slot *sl);
/* The slot's log streams go; an AUTO file its stream made is removed (unless nocleanup). */
void slot_logs_free(struct slot *sl);
/* After the table changed: positions, priorities, dependency links, both orders. */
void sv_relink(struct supervisor *s);
/* A retiring slot: no start any more, a stop if it runs. */
void slot_retire(struct slot *sl);
struct config *config_ref(struct config *c);
void config_unref(struct config *c);
/* Tell the observers that in changed state (or its draining flag). */
void sv_notify_change(struct supervisor *s, const struct inst *in, enum pstate from);
/* Tell the observers of output (tap.c), a group added or removed (reload.c), the daemon's state. */
void sv_notify_output(struct supervisor *s, const struct inst *in, bool err, bool comm, const char *data,
		      size_t len);
void sv_notify_group(struct supervisor *s, const char *group, bool added);
void sv_notify_daemon(struct supervisor *s, bool stopping);

/* ---- slot.c: the real struct sv_backend and the drain timer ------------------- */

extern const struct sv_backend slot_backend;
/* Begin draining a RUNNING instance (drain_secs); the stop pass stops it when over. */
void slot_drain(struct slot *sl);
/* A start or a new process ends any drain in progress.  True when one was. */
bool slot_undrain(struct slot *sl);
/* Arm or disarm the max_lifetime timer after a state change. */
void slot_lifetime_update(struct slot *sl);
/* Raise EV_EXEC_OK in the deferred phase (after the spawn action returned). */
void slot_exec_ok_later(struct slot *sl);
/* Forget the environment built for the last config (a reload gave the slot a new one). */
void slot_env_reset(struct slot *sl);

/* ---- tap.c: a process's stdin pipe, output taps -------------------------------- */

struct logstream;

/* What tend keeps of a program's stdin that it has not read yet (sendProcessStdin, events). */
#define TAP_STDIN_MAX (1 << 20)
/* A stdin pipe for the process about to start: *ret_child_fd is its read end (the caller closes it). */
int tap_stdin_pipe(struct slot *sl, int *ret_child_fd);
/* The process exited: its stdin closes, what it did not read is dropped. */
void tap_exited(struct slot *sl);
/* Write to the process's stdin without blocking: 0, -EPIPE (no process, or it closed stdin),
 * -ENOBUFS (more than TAP_STDIN_MAX bytes unread). */
int tap_write_stdin(struct slot *sl, const char *data, size_t len);
/* True when pc's stream needs its output seen by tend (events, capture mode). */
bool tap_wants_output(const struct prog_config *pc, bool err);
/* Follow the stream's output for events when pc asks for them. */
void tap_output_open(struct slot *sl, struct logstream *ls, bool err);
void tap_free(struct slot *sl);

/* ---- listener.c: an [eventlistener:x] instance's side of the protocol ----------------- */

/* The listener about to start: a pipe for its stdout (*ret_child_fd: the write end, the caller closes it). */
int lproc_stdout_pipe(struct slot *sl, int *ret_child_fd);
/* The listener exited: read what it wrote, send its unfinished event again to the pool. */
void lproc_exited(struct slot *sl);
void lproc_free(struct slot *sl);

/* ---- reap.c ------------------------------------------------------------------ */

/* Collect every exited child and feed the exits of instances to their tables. */
void sv_reap(struct loop *l, const pid_t *hint, size_t nhint);
/* Shutdown's last phase: once every program stopped, end what they left behind. */
void sv_finish_shutdown(struct supervisor *s);

/* ---- limits.c ----------------------------------------------------------------- */

/* The slot's cgroup leaf, made with its limits at the first start.  0 or -errno. */
int slot_ensure_leaf(struct slot *sl);
/* Remove the leaf (killing what is left in it). */
void slot_drop_leaf(struct slot *sl);
/* A process with a memory_limit started: poll RSS when no memory cgroup enforces it. */
void sv_rss_watch(struct supervisor *s);

/* ---- reload.c ----------------------------------------------------------------- */

/* Drop the retiring instances that have stopped; their successors may start. */
void sv_bury_retired(struct supervisor *s);

/* ---- autoscale.c -------------------------------------------------------------- */

/* Arm the tick at the shortest scale_interval of the config's pools (none: disarmed). */
void autoscale_arm(struct supervisor *s);
void autoscale_done(struct supervisor *s);

#endif
