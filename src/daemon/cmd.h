/*
 * The command layer: what the front-ends ask of the supervisor, as plain C
 * requests and results.  api.c (JSON), rpc.c (supervisord's XML-RPC) and the
 * daemon's signals (tendd.c) only decode a request, call here, and encode
 * the result; none of them reads the supervisor's fields.  So a name, a
 * missing binary or a reload is answered the same way whichever protocol
 * asked.
 *
 *   names     cmd_resolve: tend's names (all, GROUP:*, NAME...) or
 *             supervisord's namespecs (group:name, group:*, name)
 *   start...  cmd_run: start, stop or restart targets, wait until they
 *             settle, one outcome per target with its reason
 *   config    cmd_reload_file (tend reload, SIGHUP), cmd_reread /
 *             cmd_add_group / cmd_remove_group (supervisorctl update),
 *             cmd_restart_all (supervisorctl reload)
 *   state     cmd_info, cmd_ready (/readyz), cmd_event_bus
 */
#ifndef TEND_CMD_H
#define TEND_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon/supervisor.h"

/* ---- names ------------------------------------------------------------------ */

enum name_style {
	NAMES_TEND,        /* "all", "GROUP:*", "GROUP:NAME", a process, program or group name */
	NAMES_SUPERVISORD, /* "group:name", "group:*" / "group:" (the group), "name" (= "name:name") */
};

struct targets {
	struct inst **v;  /* visible instances, in start (priority) order for a group */
	size_t n, cap;
	char *group;      /* NAMES_SUPERVISORD: the group spec named, when it named one */
};

/*
 * Resolve spec into ret (append to what is there with NAMES_TEND, so that
 * several names make one list without duplicates).  Returns the number of
 * instances added (0 is possible: a name already listed), or -ENOENT when
 * nothing has that name.  Release with targets_done().
 */
int cmd_resolve(struct supervisor *s, const char *spec, enum name_style style, struct targets *ret);
void targets_done(struct targets *t);

/* Every visible instance of group g (g NULL: of every group), in start order. */
void cmd_group_members(struct supervisor *s, const char *g, struct targets *ret);

/* True when group g has instances in the running table (supervisord's "in use"). */
bool cmd_group_in_use(const struct supervisor *s, const char *g);

/* ---- start, stop, restart ------------------------------------------------------- */

enum cmd_kind { CMD_START, CMD_STOP, CMD_RESTART };

enum cmd_result {
	CMD_OK,             /* started (RUNNING), stopped, or asked for (no wait) */
	CMD_ALREADY,        /* was running already (start) / not running (stop) */
	CMD_NO_FILE,        /* the command is not there: nothing was done */
	CMD_NOT_EXECUTABLE, /* the command is not executable: nothing was done */
	CMD_RETRYING,       /* exited too quickly (or could not be spawned): BACKOFF */
	CMD_FATAL,          /* gave up */
	CMD_STARTING,       /* still starting when the wait ended */
	CMD_WAITING_DEPS,   /* waiting for the programs it depends on */
	CMD_NOT_RUNNING,    /* ended up stopped or exited */
	CMD_STOPPING,       /* still stopping when the wait ended */
};

struct cmd_outcome {
	struct inst *in;
	enum cmd_result result;
	bool ok;           /* CMD_OK or CMD_ALREADY */
	bool spawn_error;  /* the last start failed before the program ran (spawn or exec) */
	const char *reason; /* why it is not what was asked ("exit status 1", "can't find
			       command 'x'"...), or NULL; valid during the callback */
};

/* What a result says, for people: "started", "gave up (FATAL)"... */
const char *cmd_result_text(enum cmd_kind kind, enum cmd_result r);

struct cmd_op;
struct event_bus;
typedef void cmd_done_cb(void *ctx, const struct cmd_outcome *v, size_t n);

/*
 * Start, stop or restart the targets.  A start (or restart) whose command
 * cannot be executed is not attempted (CMD_NO_FILE / CMD_NOT_EXECUTABLE);
 * a restart of such a program leaves it running.  With wait, cb runs once
 * every target settled (or after timeout_ns) with one outcome per target,
 * in order; without, it runs in this loop iteration's deferred phase with
 * what was asked.  cb never runs before cmd_run returns.  Returns the
 * operation, for cmd_cancel() while it has not answered.
 */
struct cmd_op *cmd_run(struct supervisor *s, enum cmd_kind kind, struct inst **targets, size_t n, bool wait,
		       int64_t timeout_ns, cmd_done_cb *cb, void *ctx);
/* The asker went away: cb is not called; the instances carry on. */
void cmd_cancel(struct cmd_op *op);

/*
 * Can the command of pc be executed (a PATH search for a bare name, with the
 * program's PATH= if it sets one)?  0, -ENOENT or -EACCES.
 */
int cmd_check_exec(const struct prog_config *pc);

/*
 * supervisord's sendProcessStdin: write data to the process's stdin pipe
 * (without blocking; tend keeps what it has not read yet, up to 1 MiB).
 * 0, -ESRCH when no process runs (or it is stopping), -EPIPE when its stdin
 * is closed (or it is an [fcgi-program], whose stdin is its socket),
 * -ENOBUFS when too much is still unread.
 */
int cmd_send_stdin(struct supervisor *s, struct inst *in, const char *data, size_t len);

/* supervisord's sendRemoteCommEvent: a REMOTE_COMMUNICATION event for the listeners. */
void cmd_remote_event(struct supervisor *s, const char *type, const char *data, size_t len);

/* ---- config ---------------------------------------------------------------------- */

struct cmd_reload {
	struct reload_plan plan;
	char **errors;       /* the config's errors ("file:line: message"), when it was refused */
	size_t nerrors;
	bool applied;
};

/*
 * Re-read the config file and move to it (apply), or only say what would
 * change.  A config with errors changes nothing: -EINVAL, with every error
 * in ret->errors (and logged).  -ESHUTDOWN during shutdown.  ret is always
 * filled; release it with cmd_reload_done().
 */
int cmd_reload_file(struct supervisor *s, bool apply, struct cmd_reload *ret);
void cmd_reload_done(struct cmd_reload *r);

/* Groups a reread would add, change and remove (supervisord's reloadConfig). */
struct group_changes {
	char **added, **changed, **removed; /* NULL-terminated */
};
void group_changes_done(struct group_changes *g);

/*
 * Read the config file again without applying it; *ret_cfg gets it (the
 * caller owns it: supervisord stages it for addProcessGroup), ret what
 * would change, group by group.  -EINVAL with the config's errors joined by
 * "; " in *ret_error (caller frees) when it does not load.
 */
int cmd_reread(struct supervisor *s, struct config **ret_cfg, struct group_changes *ret, char **ret_error);

/*
 * Add group g as from defines it (supervisorctl add / update): -EEXIST when
 * it is in use, -ENOENT when from has no such group, -ESHUTDOWN.
 */
int cmd_add_group(struct supervisor *s, const struct config *from, const char *g);

/* Drop group g (its instances must be stopped): -ENOENT, -EBUSY, -ESHUTDOWN. */
int cmd_remove_group(struct supervisor *s, const char *g);

/*
 * supervisorctl reload: stop every program, then start again from the config
 * file read now.  -EINVAL with the first error in *ret_error (caller frees)
 * when the file does not load (nothing is stopped).
 */
int cmd_restart_all(struct supervisor *s, char **ret_error);

/* ---- state ------------------------------------------------------------------------ */

struct cmd_info {
	pid_t pid;
	bool shutting_down;
	double uptime;          /* seconds */
	size_t ninst;           /* instances in the table (retiring ones included) */
	unsigned file_loads;    /* changes when the whole config file is put in force again */
	const struct config *cfg; /* the running config (valid until the next reload) */
};
void cmd_info(const struct supervisor *s, struct cmd_info *ret);

/* The supervisor's event bus (events.h), for the front-ends' subscriptions. */
struct event_bus *cmd_event_bus(struct supervisor *s);

/* One line of /readyz: a program (or, for a name, an instance) and how ready it is. */
struct ready_line {
	const char *name;
	size_t have, need;  /* ready instances, instances wanted (a name: 1 if ready) */
	const char *state;  /* an instance's state, "DRAINING" while it drains */
};

struct cmd_ready {
	bool ready;
	bool shutting_down;
	struct ready_line *v;  /* programs short of ready instances; for a name, its instances */
	size_t n;
};

/*
 * Readiness.  name NULL: every program has as many ready instances (RUNNING,
 * not draining) as its config starts (a pool: numprocs_min), and tend is not
 * shutting down.  A name: at least one of its instances is ready (-ENOENT
 * when it names nothing).  Release with cmd_ready_done().
 */
int cmd_ready(struct supervisor *s, const char *name, struct cmd_ready *ret);
void cmd_ready_done(struct cmd_ready *r);

#endif
