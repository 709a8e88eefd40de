/*
 * One program instance at run time: supervisord's states and codes, and an
 * explicit state x event table of small actions (s6-supervise style).  Every
 * event is legal in every state: the cells that cannot happen are written out
 * as bail (logged, no change) and tested.
 *
 * The instance does not fork or signal by itself; it calls its inst_ops, so
 * the table can be tested with fakes (tests/unit/test_inst.c) and driven
 * by the real spawn/reap code in the daemon.
 */
#ifndef TEND_INST_H
#define TEND_INST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "daemon/loop.h"

enum pstate {
	PS_STOPPED = 0,
	PS_STARTING = 10,
	PS_RUNNING = 20,
	PS_BACKOFF = 30,
	PS_STOPPING = 40,
	PS_EXITED = 100,
	PS_FATAL = 200,
	PS_UNKNOWN = 1000,
};

enum pevent {
	EV_START,   /* start asked (autostart, scheduler, CLI) */
	EV_STOP,    /* stop asked */
	EV_EXEC_OK, /* the child reached execve() of the program */
	EV_EXIT,    /* the main process exited (reaped) */
	EV_TIMER,   /* the instance's timer fired: startsecs, backoff, stopwaitsecs or ready_timeout */
	EV_READY,   /* the ready= probe succeeded */
	EV_COUNT,
};

/* Why the last run ended. */
enum exit_kind {
	EXIT_NONE,    /* never ran */
	EXIT_CODE,    /* exited with a status */
	EXIT_SIGNAL,  /* killed by a signal it did not ask for */
	EXIT_EXEC,    /* could not be started: spawn or exec error */
	EXIT_STOPPED, /* stopped on request (stop signal or SIGKILL after stopwaitsecs) */
	EXIT_MEMORY,  /* killed for going over memory_limit */
	EXIT_RECYCLED, /* restarted after max_lifetime */
};

enum exit_cause {
	CAUSE_NONE,
	CAUSE_MEMORY,   /* the memory limit was crossed (cgroup OOM kill or RSS poll) */
	CAUSE_RECYCLED, /* max_lifetime */
};

struct exit_info {
	int code;        /* exit status, when !sig */
	int sig;         /* terminating signal, or 0 */
	bool core;
	int exec_errno;  /* set when the child reported a spawn/exec failure */
	const char *exec_what; /* what failed: "exec", "chdir", "stdout_logfile"... */
	enum exit_cause cause;
};

struct inst;

struct inst_ops {
	/* fork and exec the program; sets in->pid.  0, or -errno when no child was made. */
	int (*spawn)(struct inst *in);
	/* send sig to the main process, or to its process group when group. */
	int (*kill)(struct inst *in, int sig, bool group);
	void (*timer_start)(struct inst *in, int64_t delay_ns);
	void (*timer_stop)(struct inst *in);
	/* called after every state change */
	void (*changed)(struct inst *in, enum pstate from);
	int64_t (*now)(void);
};

struct inst {
	const struct inst_ops *ops;
	struct prog_config *cfg;
	enum pstate state;

	pid_t pid;           /* 0 when no process */
	pid_t last_pid;      /* the process that ran last (supervisord's EXITED and STOPPED events) */
	bool reaped;         /* pid exited and was reaped, not dispatched yet: never signal it */
	struct deferred exec_ok_later; /* EV_EXEC_OK, raised after the spawn action */
	struct timer timer;
	bool exec_ok;        /* EV_EXEC_OK seen for the current process */
	bool startsecs_done; /* startsecs elapsed for the current process */
	bool ready_ok;       /* the ready= probe succeeded (true when there is none) */
	bool ready_late;     /* killed for not being ready within ready_timeout */
	int exec_errno;      /* failure the child reported before exec */
	char exec_what[32];

	int64_t start_ns;    /* monotonic, when spawned */
	int64_t start_wall;  /* wall clock ns, for display */
	int64_t state_ns;    /* monotonic, when the current state began */
	int64_t delay_ns;    /* current backoff wait */

	unsigned crashes;    /* automatic restarts since the last backoff reset (k) */
	unsigned retries;    /* failed starts in a row (startretries) */
	unsigned restarts;   /* automatic restarts since tend started (display) */
	bool pending_start;  /* wanted: start once its dependencies are RUNNING */
	bool pending_stop;   /* part of an ordered stop not issued yet */
	bool start_after_stop; /* restart: start again once stopped */
	bool killed;         /* SIGKILL sent after stopwaitsecs */
	bool hold;           /* no automatic restart (tend is shutting down) */
	bool draining;       /* drain_secs: not ready (503) while its stop waits */
	int64_t drain_end;   /* monotonic, when the stop signal goes out */

	unsigned exits[EXIT_RECYCLED + 1]; /* exits by kind, for tend_program_exits_total */
	enum exit_kind last_kind;
	int last_code;
	int last_sig;
	int64_t last_wall;
	char *last_reason;   /* why it last exited (NULL until then; inst_reason) */

	char *auto_out;      /* AUTO log files: named at the first start, made at the first output */
	char *auto_err;
	size_t index;        /* position in the supervisor's table */
	void *owner;
};

/* Prepare an instance in STOPPED; pid/fds empty. */
void inst_init(struct inst *in, struct prog_config *cfg, const struct inst_ops *ops);
/* What inst_init and the exits allocated (the last reason). */
void inst_done(struct inst *in);
/* Why the instance last exited or failed, "" before its first exit. */
static inline const char *inst_reason(const struct inst *in)
{
	return in->last_reason ? in->last_reason : "";
}

/*
 * Feed one event through the state x event table.  For EV_EXIT, ex describes
 * the exit.  Returns 0 when the event was acted on, -EALREADY for a start of
 * a running instance or a stop of a stopped one, -EINVAL for a cell that
 * cannot happen (logged).
 */
int inst_event(struct inst *in, enum pevent ev, const struct exit_info *ex);

/* Deliver a signal on request.  0, -ESRCH when no process runs, or -errno. */
int inst_signal(struct inst *in, int sig);

/* Name of a state, "RUNNING"... */
const char *pstate_name(enum pstate s);

/* Name of an exit kind as the API shows it: "exit", "signal", "spawn-error"...; NULL for EXIT_NONE. */
const char *exit_kind_name(enum exit_kind k);

/* STOPPED, EXITED, FATAL (and UNKNOWN): no process and none coming. */
bool pstate_is_stopped(enum pstate s);

/*
 * Is the instance where its user asked it to be?  Running, starting or
 * stopping; stopped with no start pending; exited because it was stopped.
 * Not: BACKOFF, FATAL, an exit nobody asked for.  `tend status` exits
 * non-zero when an instance is not.
 */
bool inst_wanted(const struct inst *in);

/*
 * Wait before automatic restart k (counted from 0 since the last reset):
 * 0 for k = 0, then restart_delay * backoff_factor^(k-1), capped at
 * max_backoff.  Pure.
 */
int64_t backoff_delay_ns(const struct prog_config *pc, unsigned k);

/* The file its stdout (err: stderr) goes to, or NULL: NONE, tend's own streams,
 * stderr redirected, or an AUTO file not made yet. */
const char *inst_log_path(const struct inst *in, bool err);

/* Describe the instance like supervisorctl's status column ("pid 12, uptime 0:01:02"). */
void inst_describe(const struct inst *in, char *buf, size_t n);

#endif
