/*
 * Configuration: supervisord's INI (read with libinih) -> a validated
 * struct config.  Pure: reads files and the environment, starts nothing, and
 * reports every problem as "file:line: message".
 *
 * A [program:x] section becomes numprocs entries of struct prog_config, one
 * per instance, each with every %(...) expansion already applied, so the
 * rest of tend never sees a template.
 */
#ifndef TEND_CONFIG_H
#define TEND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct name_index; /* config-internal.h */

enum autorestart {
	AUTORESTART_FALSE,
	AUTORESTART_UNEXPECTED,
	AUTORESTART_TRUE,
};

enum log_kind {
	LOGDEST_AUTO, /* a file in childlogdir, created when the program first starts */
	LOGDEST_NONE, /* /dev/null */
	LOGDEST_FILE, /* append to a path */
	LOGDEST_STDOUT, /* tend's own stdout, as is: /dev/stdout, /dev/fd/1 (never seeked) */
	LOGDEST_STDERR, /* tend's own stderr, as is: /dev/stderr, /dev/fd/2 */
	LOGDEST_PREFIX, /* "-": tend's own stdout, each line prefixed with "name | " */
};

struct log_dest {
	enum log_kind kind;
	char *path;        /* LOGDEST_FILE only */
	uint64_t maxbytes; /* *_logfile_maxbytes: rotate at this size; 0 never (50MB) */
	int backups;       /* *_logfile_backups (10) */
	int rotate;        /* *_logfile_rotate: 0 none, 1 hourly, 2 daily */
};

enum listen_kind { LISTEN_NONE, LISTEN_TCP, LISTEN_UNIX };

/* What a listener's result means (result_handler=): supervisord's two known handlers. */
enum result_handler {
	RESULT_HANDLER_DEFAULT, /* supervisor.dispatchers:default_handler: OK, or the event is sent again */
	RESULT_HANDLER_STDOUT,  /* supervisor_stdout:event_handler: the echoed event printed on tend's stdout */
};

/* The section an instance comes from. */
enum proc_kind {
	PROC_PROGRAM,  /* [program:x] */
	PROC_LISTENER, /* [eventlistener:x]: supervisord's event protocol on its stdin and stdout */
	PROC_FCGI,     /* [fcgi-program:x]: socket= is the listening socket on fd 0 */
};
/* One shared map of maps= (libtend's tend_map, made by tend before the program starts). */
struct map_spec {
	char *name;         /* [a-z][a-z0-9_]*, at most MAP_NAME_MAX bytes; TEND_MAP_<NAME> */
	uint64_t size;      /* bytes of the item arena (64K..64G) */
	uint64_t items;     /* items the index is sized for (default size / 128) */
	uint64_t max_value; /* largest value (default 4K, at most 16M) */
	bool noevict;       /* a full map refuses writes instead of evicting */
	unsigned mode;      /* 0600 (default), 0640 or 0660 */
};
#define MAP_NAME_MAX 24
enum ready_kind { READY_NONE, READY_TCP, READY_HTTP, READY_EXEC, READY_NOTIFY };

/* The [program:x] keys that decide which instances exist ("auto" resolved). */
struct proc_shape {
	int numprocs;       /* 1 */
	int numprocs_start; /* 0 */
	int numprocs_min;   /* 1; a pool's lower bound */
	int numprocs_max;   /* 0: not a pool */
};

/*
 * One program instance, fully expanded.  Each field set from a key is a row
 * of the program table in src/config/keys.c (type, default, bounds, reload
 * semantics); the rest are identity (name...) or derived (fullname, pool_*).
 */
struct prog_config {
	char *name;      /* process name, e.g. "web_00" */
	char *program;   /* [program:NAME] */
	char *group;     /* [group:NAME] it belongs to, else the program name */
	char *fullname;  /* "group:name", or "name" when group == name */
	int num;         /* %(process_num) */
	char *file;      /* where the [program:x] section is */
	int line;
	enum proc_kind kind;

	char *command;   /* as written, expanded (for display) */
	char **argv;     /* split like a shell */
	char **env;      /* extra KEY=VALUE ([supervisord] environment, then program's) */
	char *directory; /* NULL: inherit */
	int umask;       /* -1: inherit */
	char *user;      /* NULL: do not switch */
	uid_t uid;
	gid_t gid;

	int priority;
	bool autostart;
	enum autorestart autorestart;
	int64_t startsecs_ns;
	int startretries; /* -1: forever */
	uint64_t exitcodes[4]; /* bitmap over 0..255 */
	int stopsignal;
	int64_t stopwait_ns;
	bool stopasgroup;    /* the stop signal goes to the process group (false: the main process) */
	bool killasgroup;    /* SIGKILL after stopwaitsecs goes to the process group / cgroup */
	bool kill_leftovers; /* once the main process exited, SIGKILL what it left behind (true) */
	bool redirect_stderr;
	struct log_dest out;
	struct log_dest err;
	bool stdout_events;      /* stdout_events_enabled: PROCESS_LOG_STDOUT per chunk of output */
	bool stderr_events;      /* stderr_events_enabled */
	bool stdout_syslog;      /* each line of output also to syslog */
	bool stderr_syslog;
	uint64_t stdout_capture; /* stdout_capture_maxbytes: 0 no capture mode (PROCESS_COMMUNICATION) */
	uint64_t stderr_capture;
	char *serverurl;         /* SUPERVISOR_SERVER_URL for this program; NULL: tend's own socket */

	/* [eventlistener:x] */
	uint32_t events;         /* events=: a mask of enum evtype (common/evtypes.h) */
	int buffer_size;         /* events held for the pool while no listener is ready (10) */
	int result_handler;      /* enum result_handler */

	int64_t restart_delay_ns;
	double backoff_factor;
	int64_t max_backoff_ns;
	int64_t backoff_reset_after_ns;
	char **depends_on; /* program names */

	/* limits (0 / -1: none) */
	uint64_t memory_limit;  /* bytes: cgroup memory limit, or RSS polling without one */
	unsigned cpu_quota;     /* percent of one CPU */
	unsigned tasks_max;     /* pids.max */
	long nofile;            /* RLIMIT_NOFILE (soft = hard); -1: tend's original soft limit */
	long long core;         /* RLIMIT_CORE bytes; -1: inherit; -2: unlimited */
	int nice;               /* -20..19; NICE_UNSET: inherit */
	int oom_score_adj;      /* -1000..1000; children get 0 unless set */
	int64_t max_lifetime_ns; /* recycle after this long; 0: never */
	bool no_new_privs;

	/* pools: a socket tend binds and passes as fd 3, readiness, draining
	 * (listen..listen_path and ready..ready_argv stay adjacent: types.c moves them whole) */
	char *listen;            /* as written; NULL: none */
	enum listen_kind listen_kind;
	char *listen_host;       /* LISTEN_TCP */
	int listen_port;
	char *listen_path;       /* LISTEN_UNIX */
	/* [fcgi-program:x] socket= fills the listen block (fd 0 instead of fd 3), plus: */
	int socket_uid, socket_gid; /* socket_owner: chown of a unix socket; -1: tend's (or user=) */
	int socket_mode;         /* socket_mode of a unix socket; -1: 0700 */
	int socket_backlog;      /* listen(2) backlog; 0: SOMAXCONN */
	char *ready;             /* as written; NULL: RUNNING after startsecs */
	enum ready_kind ready_kind;
	char *ready_host;        /* READY_TCP, READY_HTTP */
	int ready_port;
	char *ready_path;        /* READY_HTTP */
	char **ready_argv;       /* READY_EXEC */
	int64_t ready_timeout_ns; /* not ready by then: a failed start (60 s) */
	int64_t drain_ns;        /* drain_secs: not ready (503) this long before the stop signal */
	struct map_spec *maps;   /* maps=: ends with a NULL name; NULL: none */
	/* autoscaled pools (numprocs_min/max): every instance up to max exists */
	int pool_min, pool_max;  /* 0: not a pool */
	int scale_target;        /* percent of one CPU per instance (70) */
	int64_t scale_interval_ns; /* how often the pool's CPU is measured (5 s) */
	int64_t scale_cooldown_ns; /* no decision this soon after the last change (3 intervals) */
	bool pool_spare;         /* beyond the initial count: not autostarted */
	struct proc_shape shape; /* as the section wrote it; not compared on reload */

	unsigned refs;          /* configs sharing this one beyond the first (config_compose) */
};

#define NICE_UNSET 100

struct group_config {
	char *name;
	int priority;
	bool explicit_group; /* from a [group:x] section (else one program's own group) */
	char **programs;
	char *file;
	int line;
	unsigned refs;       /* configs sharing this one beyond the first (config_compose) */
};

struct config {
	char *path; /* the main file, absolute */
	char *here; /* its directory */

	/* [unix_http_server] */
	char *socket_path; /* NULL: the default (see config_default_socket) */
	mode_t socket_mode;
	int socket_uid;    /* chown=: the socket's owner; -1: tend's */
	int socket_gid;    /* and group (who may do everything, as under supervisord); -1: tend's */

	/* [supervisord] / [tend] */
	char *logfile;     /* NULL: stderr only */
	uint64_t logfile_maxbytes; /* rotate tend's own log at this size; 0 never (50MB) */
	int logfile_backups;       /* rotated files kept (10); 0: truncated instead */
	char *directory;   /* tend's working directory; NULL: stay */
	char *pidfile;     /* NULL: none (tend up -d writes one next to the socket) */
	char *childlogdir;
	char *identifier;
	int loglevel;      /* LOG_* from syslog.h */
	int umask;         /* tend's own and the programs' default (022) */
	long minfds;       /* RLIMIT_NOFILE raised to this at start, or tend refuses to start (1024) */
	long minprocs;     /* RLIMIT_NPROC likewise (200) */
	char *daemon_user; /* [supervisord] user=: tend drops to it first; NULL: stay */
	uid_t daemon_uid;
	gid_t daemon_gid;
	bool silent;       /* no echo of the log to stderr in the foreground */
	bool strip_ansi;   /* ANSI escapes removed from program output */
	bool priority_waits; /* a priority batch starts once the lower ones are RUNNING (or failed) */
	bool nocleanup;
	char **env;        /* [supervisord] environment=, applied to every program */
	char *exit_with;   /* program whose exit ends tend, with its status (containers) */
	bool strict;       /* every warning of the load is an error */
	char *cgroups;     /* auto, v2, v1, off */
	char *cgroup_root; /* NULL: tend's own cgroup */
	const char *exit_with_file; /* where it was set (valid while loading) */
	int exit_with_line;

	/* [inet_http_server]: the TCP listener for /metrics, /healthz, /readyz */
	char *inet_host;   /* NULL: no listener */
	int inet_port;
	char *inet_username; /* both NULL: no authentication (read-only API over TCP) */
	char *inet_password; /* plain, or "{SHA}" and the hex SHA-1 of the password */
	bool inet_anonymous_read; /* without credentials configured, TCP clients may read logs and paths */

	/* [supervisorctl] */
	char *ctl_serverurl;

	struct prog_config **procs; /* in file order */
	size_t nprocs;
	struct group_config **groups;
	size_t ngroups;
	struct name_index *group_index; /* name -> groups[] (config_group), NULL: search */

	unsigned refs; /* the daemon's: the config and every instance using it hold one */
};

/* Problems found while loading: errors make the load fail, warnings do not. */
struct config_diag {
	char **errors;   /* "file:line: message" */
	size_t nerrors;
	char **warnings; /* "file:line: warning: message" */
	size_t nwarnings;
};

/*
 * Load and validate the config at path (and the files it includes).
 * On success (0) *ret_config is set and diag may still hold warnings (an
 * unknown key or section, a key tend accepts and does not use); on a config
 * error -EINVAL with every error in diag; -errno when the main file cannot
 * be read (also described in diag).  diag is always filled and must be
 * released with config_diag_done().  With strict = true in [supervisord] /
 * [tend], every warning is an error ("file:line: strict: message").
 */
int config_load(const char *path, struct config **ret_config, struct config_diag *diag);

enum config_load_flag {
	CONFIG_STRICT = 1 << 0, /* every warning is an error, as with strict = true (tend check --strict) */
};

/* config_load with flags (enum config_load_flag). */
int config_load_flags(const char *path, unsigned flags, struct config **ret_config,
		      struct config_diag *diag);

/*
 * Read only what the CLI needs to find the daemon: [unix_http_server] file
 * and [supervisorctl] serverurl.  Cheap (no program is built).  Returns the
 * socket path in *ret_socket (caller frees), or -errno when the file cannot
 * be read.
 */
int config_load_socket(const char *path, char **ret_socket);
/* The same on text named name (the fuzz target's way in). */
int config_load_socket_string(const char *name, const char *text, char **ret_socket);

/* Same, from a string (for tests and the fuzzer); name is used in messages. */
int config_load_string(const char *name, const char *text, struct config **ret_config,
		       struct config_diag *diag);

/* The group called name, or NULL. */
const struct group_config *config_group(const struct config *c, const char *name);

/*
 * A new config: base's settings and every group of base except `group`, plus
 * `group` as defined in from (from NULL: without it).  Programs and groups
 * are shared with base and from, not copied (each is reference counted), so
 * the instances that keep running see no change.  supervisorctl's
 * add/remove/update work group by group through this.
 */
struct config *config_compose(const struct config *base, const struct config *from, const char *group);

/* Free a config; accepts NULL and returns NULL. */
struct config *config_free(struct config *c);
void config_diag_done(struct config_diag *d);

/*
 * True when a and b would run the same process: every key whose row in the
 * program table says "a change restarts" (command, environment, directory,
 * umask, user, limits, log destinations, listen=, ready=...) is equal.  What
 * else differs (priority, autorestart, backoff, stop signal...) can change
 * in place.
 */
bool prog_config_same_process(const struct prog_config *a, const struct prog_config *b);

/* True when every setting of a and b is equal (names included). */
bool prog_config_equal(const struct prog_config *a, const struct prog_config *b);

/* True when groups a and b have the same name and settings (priority, programs). */
bool group_config_equal(const struct group_config *a, const struct group_config *b);

/*
 * The first key outside the programs whose value differs between a and b
 * and that tend reads only when it starts (the socket, pidfile, cgroups,
 * [inet_http_server]...), or NULL when a reload can apply every change.
 */
const char *config_restart_key(const struct config *a, const struct config *b);

/* True when exit code is listed in the instance's exitcodes. */
bool prog_config_expected_exit(const struct prog_config *pc, int code);

/* Where tend and tendd look for a config without -c, in order; NULL-terminated. */
extern const char *const config_search_path[];

/* The first file of config_search_path that can be read, or NULL.  This function can't fail. */
const char *config_find(void);

/*
 * The socket path the daemon listens on and the CLI connects to when the
 * config names none: /run/tend/tend.sock for root, else
 * $XDG_RUNTIME_DIR/tend/tend.sock, else /tmp/tend-UID/tend.sock.  Caller frees.
 */
char *config_default_socket(void);

/* The socket path of a loaded config (its own or the default).  Caller frees. */
char *config_socket_path(const struct config *c);

/* Parsers shared with the CLI and unit tests.  Each returns 0 or -EINVAL. */
int parse_bool(const char *s, bool *ret);
int parse_duration_ns(const char *s, int64_t *ret);
int parse_size(const char *s, uint64_t *ret);
int parse_int(const char *s, long min, long max, long *ret);
/* Split a command line like POSIX sh (quotes, backslashes; no expansion). */
int split_command(const char *s, char ***ret_argv, const char **ret_err);
/* Parse KEY=VAL,KEY2="v, 2" into a NULL-terminated "KEY=VAL" vector. */
int parse_environment(const char *s, char ***ret_env, const char **ret_err);

#endif
