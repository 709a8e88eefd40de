/*
 * One table per section, one row per key (the shape of redis's
 * static_configs[]): name, type, field, default, bounds, what a reload does
 * with a change, and a valid and an invalid example.  Everything else is
 * derived from the rows: parsing and defaults (cfg_keys_defaults/apply),
 * the accepted-keys check with "did you mean" (cfg_keys_check), equality
 * for reload (prog_config_same_process/equal, config_restart_key), copying
 * (config_compose) and freeing.  tests/unit/test_config.c walks every row.
 *
 * Adding a key: docs/config.md, "Adding a config key".
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "common/util.h"
#include "config/config-internal.h"

#define FIELD(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define PROC(f) FIELD(struct prog_config, f)
#define CONF(f) FIELD(struct config, f)
#define GROUP(f) FIELD(struct group_config, f)
/* supervisord's key, accepted with a warning unless it says what tend does anyway (quiet) */
#define UNUSED(n, quiet) { .name = n, .type = &kt_unused, .def = quiet, .reload = RELOAD_NONE, \
			   .flags = KEY_UNUSED, .example = "1" }

static const struct key_word autorestart_words[] = {
	{ "true", AUTORESTART_TRUE },   { "false", AUTORESTART_FALSE }, { "unexpected", AUTORESTART_UNEXPECTED },
	{ "yes", AUTORESTART_TRUE },    { "on", AUTORESTART_TRUE },     { "1", AUTORESTART_TRUE },
	{ "no", AUTORESTART_FALSE },    { "off", AUTORESTART_FALSE },   { "0", AUTORESTART_FALSE },
	{ NULL, 0 },
};

static const struct key_word rotate_words[] = {
	{ "hourly", 1 }, { "daily", 2 }, { "none", 0 }, { "false", 0 }, { "", 0 }, { NULL, 0 },
};

static const struct key_word loglevel_words[] = {
	{ "critical", LOG_CRIT }, { "error", LOG_ERR },   { "warn", LOG_WARNING }, { "info", LOG_INFO },
	{ "debug", LOG_DEBUG },   { "warning", LOG_WARNING }, { "trace", LOG_DEBUG }, { "blather", LOG_DEBUG },
	{ NULL, 0 },
};

static const struct key_word result_handler_words[] = {
	{ "supervisor.dispatchers:default_handler", RESULT_HANDLER_DEFAULT },
	{ "supervisor_stdout:event_handler", RESULT_HANDLER_STDOUT },
	{ NULL, 0 },
};

static const struct key_word cgroups_words[] = {
	{ "auto", 0 }, { "v2", 1 }, { "v1", 2 }, { "off", 3 }, { NULL, 0 },
};

/* [program:NAME] -> struct prog_config, one per instance.  Order matters: env_file before environment. */
const struct key_def cfg_program_keys[] = {
	{ .name = "numprocs", .type = &kt_numprocs, PROC(shape.numprocs), .def = "1", .min = 1,
	  .max = MAX_NUMPROCS, .reload = RELOAD_INSTANCES, .flags = KEY_ONCE, .example = "2", .invalid = "0" },
	{ .name = "numprocs_start", .type = &kt_int, PROC(shape.numprocs_start), .def = "0", .min = 0,
	  .max = INT_MAX - MAX_NUMPROCS, .reload = RELOAD_INSTANCES, .flags = KEY_ONCE, .example = "5",
	  .invalid = "-1" },
	{ .name = "numprocs_min", .type = &kt_int, PROC(shape.numprocs_min), .def = "1", .min = 1,
	  .max = MAX_NUMPROCS, .reload = RELOAD_IN_PLACE, .flags = KEY_ONCE, .needs = "numprocs_max",
	  .example = "2", .invalid = "0" },
	{ .name = "numprocs_max", .type = &kt_int, PROC(shape.numprocs_max), .min = 1, .max = MAX_NUMPROCS,
	  .reload = RELOAD_INSTANCES, .flags = KEY_ONCE, .example = "4", .invalid = "0" },
	{ .name = "process_name", .type = &kt_procname, PROC(name), .def = "%(program_name)s",
	  .reload = RELOAD_IN_PLACE, .example = "web_%(process_num)d", .invalid = "a:b" },
	{ .name = "command", .type = &kt_command, PROC(command), .reload = RELOAD_RESTART,
	  .flags = KEY_REQUIRED, .example = "/bin/sleep 2", .invalid = "'unterminated" },
	{ .name = "priority", .type = &kt_int, PROC(priority), .def = "999", .min = INT_MIN, .max = INT_MAX,
	  .reload = RELOAD_IN_PLACE, .example = "5", .invalid = "high" },
	{ .name = "autostart", .type = &kt_bool, PROC(autostart), .def = "true", .reload = RELOAD_IN_PLACE,
	  .example = "false", .invalid = "maybe" },
	{ .name = "autorestart", .type = &kt_enum, PROC(autorestart), .def = "unexpected",
	  .words = autorestart_words, .reload = RELOAD_IN_PLACE, .example = "false", .invalid = "sometimes" },
	{ .name = "startsecs", .type = &kt_duration, PROC(startsecs_ns), .def = "1", .reload = RELOAD_IN_PLACE,
	  .example = "0", .invalid = "soon" },
	{ .name = "startretries", .type = &kt_int, PROC(startretries), .def = "3", .min = -1, .max = INT_MAX,
	  .reload = RELOAD_IN_PLACE, .example = "-1", .invalid = "many" },
	{ .name = "exitcodes", .type = &kt_exitcodes, PROC(exitcodes), .def = "0", .reload = RELOAD_IN_PLACE,
	  .example = "0,2", .invalid = "256" },
	{ .name = "stopsignal", .type = &kt_signal, PROC(stopsignal), .def = "TERM", .reload = RELOAD_IN_PLACE,
	  .example = "INT", .invalid = "SIGNOPE" },
	{ .name = "stopwaitsecs", .type = &kt_duration, PROC(stopwait_ns), .def = "10",
	  .reload = RELOAD_IN_PLACE, .example = "2.5", .invalid = "soon" },
	/* supervisord's defaults: the stop signal goes to the main process only, so a
	 * master can drain its workers (stopasgroup = true implies killasgroup, build.c) */
	{ .name = "stopasgroup", .type = &kt_bool, PROC(stopasgroup), .def = "false", .reload = RELOAD_IN_PLACE,
	  .example = "true", .invalid = "maybe" },
	{ .name = "killasgroup", .type = &kt_bool, PROC(killasgroup), .def = "false", .reload = RELOAD_IN_PLACE,
	  .example = "true", .invalid = "maybe" },
	/* once the main process is gone, what it left in its cgroup / process group is
	 * killed (systemd's KillMode=mixed); read by reap.c at each exit */
	{ .name = "kill_leftovers", .type = &kt_bool, PROC(kill_leftovers), .def = "true",
	  .reload = RELOAD_IN_PLACE, .example = "false", .invalid = "maybe" },
	{ .name = "user", .type = &kt_user, PROC(user), .reload = RELOAD_RESTART, .example = "root",
	  .invalid = "no-such-user-tend" },
	{ .name = "directory", .type = &kt_abspath, PROC(directory), .reload = RELOAD_RESTART,
	  .example = "/tmp", .invalid = "relative/dir" },
	{ .name = "umask", .type = &kt_octal, PROC(umask), .unset = -1, .max = 0777, .reload = RELOAD_RESTART,
	  .example = "077", .invalid = "9" },
	{ .name = "env_file", .type = &kt_env_file, PROC(env), .reload = RELOAD_RESTART, .example = "app.env",
	  .invalid = "missing.env" },
	{ .name = "environment", .type = &kt_env, PROC(env), .reload = RELOAD_RESTART, .example = "A=1",
	  .invalid = "NOEQUALS" },
	{ .name = "redirect_stderr", .type = &kt_bool, PROC(redirect_stderr), .def = "false",
	  .reload = RELOAD_RESTART, .example = "true", .invalid = "maybe" },
	{ .name = "stdout_logfile", .type = &kt_logdest, PROC(out), .def = "AUTO", .reload = RELOAD_RESTART,
	  .example = "app.log", .invalid = "/nonexistent/dir/x.log" },
	{ .name = "stderr_logfile", .type = &kt_logdest, PROC(err), .def = "AUTO", .reload = RELOAD_RESTART,
	  .example = "app.err", .invalid = "/nonexistent/dir/x.log" },
	{ .name = "stdout_logfile_maxbytes", .type = &kt_size, PROC(out.maxbytes), .def = "50MB",
	  .reload = RELOAD_RESTART, .example = "1MB", .invalid = "lots" },
	{ .name = "stderr_logfile_maxbytes", .type = &kt_size, PROC(err.maxbytes), .def = "50MB",
	  .reload = RELOAD_RESTART, .example = "1MB", .invalid = "lots" },
	{ .name = "stdout_logfile_backups", .type = &kt_int, PROC(out.backups), .def = "10", .min = 0,
	  .max = 1000, .reload = RELOAD_RESTART, .example = "3", .invalid = "-1" },
	{ .name = "stderr_logfile_backups", .type = &kt_int, PROC(err.backups), .def = "10", .min = 0,
	  .max = 1000, .reload = RELOAD_RESTART, .example = "3", .invalid = "-1" },
	{ .name = "stdout_logfile_rotate", .type = &kt_enum, PROC(out.rotate), .def = "none",
	  .words = rotate_words, .reload = RELOAD_RESTART, .example = "daily", .invalid = "weekly" },
	{ .name = "stderr_logfile_rotate", .type = &kt_enum, PROC(err.rotate), .def = "none",
	  .words = rotate_words, .reload = RELOAD_RESTART, .example = "hourly", .invalid = "weekly" },
	{ .name = "restart_delay", .type = &kt_duration, PROC(restart_delay_ns), .def = "1s",
	  .reload = RELOAD_IN_PLACE, .example = "250ms", .invalid = "soon" },
	{ .name = "backoff_factor", .type = &kt_double, PROC(backoff_factor), .def = "2.0", .min = 1,
	  .max = 100, .reload = RELOAD_IN_PLACE, .example = "1.5", .invalid = "0.5" },
	{ .name = "max_backoff", .type = &kt_duration, PROC(max_backoff_ns), .def = "60s",
	  .reload = RELOAD_IN_PLACE, .example = "2m", .invalid = "soon" },
	{ .name = "backoff_reset_after", .type = &kt_duration, PROC(backoff_reset_after_ns), .def = "60s",
	  .reload = RELOAD_IN_PLACE, .example = "10", .invalid = "soon" },
	{ .name = "depends_on", .type = &kt_names, PROC(depends_on), .reload = RELOAD_IN_PLACE,
	  .example = "q" },
	{ .name = "memory_limit", .type = &kt_size, PROC(memory_limit), .min = 1 << 20,
	  .reload = RELOAD_RESTART, .example = "256M", .invalid = "1K" },
	{ .name = "cpu_quota", .type = &kt_cpu_quota, PROC(cpu_quota), .reload = RELOAD_RESTART,
	  .example = "50%", .invalid = "0" },
	{ .name = "tasks_max", .type = &kt_int, PROC(tasks_max), .min = 1, .max = 1 << 22,
	  .reload = RELOAD_RESTART, .example = "100", .invalid = "0" },
	{ .name = "nofile", .type = &kt_int, PROC(nofile), .unset = -1, .min = 1, .max = 1 << 30,
	  .reload = RELOAD_RESTART, .example = "1024", .invalid = "0" },
	{ .name = "core", .type = &kt_core, PROC(core), .unset = -1, .reload = RELOAD_RESTART,
	  .example = "unlimited", .invalid = "lots" },
	{ .name = "nice", .type = &kt_int, PROC(nice), .unset = NICE_UNSET, .min = -20, .max = 19,
	  .reload = RELOAD_RESTART, .example = "5", .invalid = "20" },
	{ .name = "oom_score_adj", .type = &kt_int, PROC(oom_score_adj), .def = "0", .min = -1000,
	  .max = 1000, .reload = RELOAD_RESTART, .example = "100", .invalid = "1001" },
	{ .name = "max_lifetime", .type = &kt_duration, PROC(max_lifetime_ns), .reload = RELOAD_IN_PLACE,
	  .example = "6h", .invalid = "soon" },
	{ .name = "no_new_privs", .type = &kt_bool, PROC(no_new_privs), .def = "false",
	  .reload = RELOAD_RESTART, .example = "true", .invalid = "maybe" },
	{ .name = "listen", .type = &kt_listen, PROC(listen), .reload = RELOAD_RESTART,
	  .example = "tcp://127.0.0.1:8000", .invalid = "udp://1.2.3.4:5" },
	/* how readiness is told is part of the start (NOTIFY_SOCKET, and a probe in
	 * flight follows the config it was made from) */
	{ .name = "ready", .type = &kt_ready, PROC(ready), .reload = RELOAD_RESTART, .example = "notify",
	  .invalid = "sometimes" },
	{ .name = "ready_timeout", .type = &kt_duration, PROC(ready_timeout_ns), .def = "60s",
	  .reload = RELOAD_IN_PLACE, .example = "9", .invalid = "soon" },
	/* the map's name and geometry reach the process (TEND_MAP_<NAME>); tend keeps
	 * a map whose spec is unchanged across the restart (src/daemon/maps.c) */
	{ .name = "maps", .type = &kt_maps, PROC(maps), .reload = RELOAD_RESTART,
	  .example = "sessions:64M, flags:1M:value=256:noevict", .invalid = "sessions:lots" },
	{ .name = "drain_secs", .type = &kt_duration, PROC(drain_ns), .def = "0", .reload = RELOAD_IN_PLACE,
	  .example = "1.5", .invalid = "soon" },
	{ .name = "scale_cpu_target", .type = &kt_int, PROC(scale_target), .def = "70", .min = 1,
	  .max = 1000, .reload = RELOAD_IN_PLACE, .needs = "numprocs_max", .example = "50", .invalid = "0" },
	{ .name = "scale_interval", .type = &kt_duration, PROC(scale_interval_ns), .def = "5s",
	  .min = NSEC_PER_SEC / 10, .reload = RELOAD_IN_PLACE, .needs = "numprocs_max", .example = "2s",
	  .invalid = "0.05" },
	/* unset: 3 x scale_interval (build.c) */
	{ .name = "scale_cooldown", .type = &kt_duration, PROC(scale_cooldown_ns), .unset = -1,
	  .reload = RELOAD_IN_PLACE, .needs = "numprocs_max", .example = "30s", .invalid = "soon" },
	/* events: the output goes through tend (no splice) for the PROCESS_LOG_* and
	 * PROCESS_COMMUNICATION_* events (slot.c) */
	{ .name = "stdout_events_enabled", .type = &kt_bool, PROC(stdout_events), .def = "false",
	  .reload = RELOAD_RESTART, .example = "true", .invalid = "maybe" },
	{ .name = "stderr_events_enabled", .type = &kt_bool, PROC(stderr_events), .def = "false",
	  .reload = RELOAD_RESTART, .example = "true", .invalid = "maybe" },
	{ .name = "stdout_capture_maxbytes", .type = &kt_size, PROC(stdout_capture), .def = "0",
	  .reload = RELOAD_RESTART, .example = "1MB", .invalid = "lots" },
	{ .name = "stderr_capture_maxbytes", .type = &kt_size, PROC(stderr_capture), .def = "0",
	  .reload = RELOAD_RESTART, .example = "1MB", .invalid = "lots" },
	/* each line of output also to syslog, "NAME line" (tap.c) */
	{ .name = "stdout_syslog", .type = &kt_bool, PROC(stdout_syslog), .def = "false",
	  .reload = RELOAD_RESTART, .example = "true", .invalid = "maybe" },
	{ .name = "stderr_syslog", .type = &kt_bool, PROC(stderr_syslog), .def = "false",
	  .reload = RELOAD_RESTART, .example = "true", .invalid = "maybe" },
	/* SUPERVISOR_SERVER_URL in the program's environment (AUTO: tend's socket) */
	{ .name = "serverurl", .type = &kt_serverurl, PROC(serverurl), .reload = RELOAD_RESTART,
	  .example = "unix:///run/other.sock" },
	/* [eventlistener:x] */
	{ .name = "events", .type = &kt_events, PROC(events), .reload = RELOAD_IN_PLACE,
	  .flags = KEY_REQUIRED, .example = "PROCESS_STATE_EXITED,TICK_60", .invalid = "PROCESS_DANCING",
	  .only = SEC_LISTENER },
	{ .name = "buffer_size", .type = &kt_int, PROC(buffer_size), .def = "10", .min = 1, .max = 1 << 20,
	  .reload = RELOAD_IN_PLACE, .example = "100", .invalid = "0", .only = SEC_LISTENER },
	/* supervisord's default handler, or supervisor_stdout's (listener.c) */
	{ .name = "result_handler", .type = &kt_result_handler, PROC(result_handler),
	  .def = "supervisor.dispatchers:default_handler", .words = result_handler_words, .reload = RELOAD_IN_PLACE,
	  .example = "supervisor_stdout:event_handler", .invalid = "superlance.x:handler", .only = SEC_LISTENER },
	/* [fcgi-program:x]: the listen block, on fd 0 (ready.c binds it once, slot.c passes it) */
	{ .name = "socket", .type = &kt_fcgi_socket, PROC(listen), .reload = RELOAD_RESTART,
	  .flags = KEY_REQUIRED, .example = "unix:///tmp/%(program_name)s.sock", .invalid = "tcp://:9000",
	  .only = SEC_FCGI },
	{ .name = "socket_owner", .type = &kt_owner, PROC(socket_uid), .reload = RELOAD_RESTART,
	  .example = "root:root", .invalid = "no-such-user-tend", .only = SEC_FCGI },
	{ .name = "socket_mode", .type = &kt_octal, PROC(socket_mode), .unset = -1, .max = 0777,
	  .reload = RELOAD_RESTART, .example = "0770", .invalid = "9", .only = SEC_FCGI },
	{ .name = "socket_backlog", .type = &kt_int, PROC(socket_backlog), .min = 1, .max = 65535,
	  .reload = RELOAD_RESTART, .example = "128", .invalid = "0", .only = SEC_FCGI },
	{ .name = NULL },
};

/* [supervisord] or [tend] -> struct config */
const struct key_def cfg_daemon_keys[] = {
	{ .name = "logfile", .type = &kt_path, CONF(logfile), .reload = RELOAD_IN_PLACE, .example = "tend.log" },
	{ .name = "loglevel", .type = &kt_enum, CONF(loglevel), .def = "info", .words = loglevel_words,
	  .reload = RELOAD_IN_PLACE, .example = "debug", .invalid = "loud" },
	{ .name = "pidfile", .type = &kt_path, CONF(pidfile), .reload = RELOAD_TEND, .example = "tend.pid" },
	{ .name = "childlogdir", .type = &kt_dir, CONF(childlogdir), .reload = RELOAD_IN_PLACE,
	  .example = "/var/tmp", .invalid = "/nonexistent/dir" },
	{ .name = "identifier", .type = &kt_string, CONF(identifier), .def = "tend", .reload = RELOAD_IN_PLACE,
	  .example = "web1" },
	/* tend's own umask, and every program's that sets none (build.c), as supervisord's */
	{ .name = "umask", .type = &kt_octal, CONF(umask), .def = "022", .unset = -1, .max = 0777,
	  .reload = RELOAD_RESTART, .example = "027", .invalid = "9" },
	/* the start of every program's environment (build.c) */
	{ .name = "environment", .type = &kt_env, CONF(env), .reload = RELOAD_RESTART, .example = "G=1",
	  .invalid = "NOEQUALS" },
	/* raised at start (or tend refuses to start), as supervisord does (tendd.c) */
	{ .name = "minfds", .type = &kt_int, CONF(minfds), .def = "1024", .min = 0, .max = 1 << 30,
	  .reload = RELOAD_TEND, .example = "4096", .invalid = "lots" },
	{ .name = "minprocs", .type = &kt_int, CONF(minprocs), .def = "200", .min = 0, .max = 1 << 30,
	  .reload = RELOAD_TEND, .example = "400", .invalid = "lots" },
	/* tend drops to this user before anything else (tendd.c) */
	{ .name = "user", .type = &kt_daemon_user, CONF(daemon_user), .reload = RELOAD_TEND, .example = "root",
	  .invalid = "no-such-user-tend" },
	/* the daemon's log is not echoed to stderr in the foreground */
	{ .name = "silent", .type = &kt_bool, CONF(silent), .def = "false", .reload = RELOAD_IN_PLACE,
	  .example = "true", .invalid = "maybe" },
	/* each priority batch waits for the lower ones (supervisor.c's start pass, each pass) */
	{ .name = "priority_waits", .type = &kt_bool, CONF(priority_waits), .def = "false",
	  .reload = RELOAD_IN_PLACE, .example = "true", .invalid = "maybe" },
	/* ANSI escapes are removed from program output (logstream.c) */
	{ .name = "strip_ansi", .type = &kt_bool, CONF(strip_ansi), .def = "false", .reload = RELOAD_TEND,
	  .example = "true", .invalid = "maybe" },
	{ .name = "nocleanup", .type = &kt_bool, CONF(nocleanup), .def = "false", .reload = RELOAD_IN_PLACE,
	  .example = "true", .invalid = "maybe" },
	/* `tend up` runs in the foreground unless -d */
	{ .name = "nodaemon", .type = &kt_bool, .reload = RELOAD_NONE, .example = "true", .invalid = "maybe" },
	{ .name = "exit_with", .type = &kt_exit_with, CONF(exit_with), .reload = RELOAD_IN_PLACE,
	  .example = "p", .invalid = "ghost" },
	{ .name = "cgroups", .type = &kt_choice, CONF(cgroups), .def = "auto", .words = cgroups_words,
	  .reload = RELOAD_TEND, .example = "off", .invalid = "v3" },
	{ .name = "cgroup_root", .type = &kt_string, CONF(cgroup_root), .reload = RELOAD_TEND,
	  .example = "/sys/fs/cgroup/tend" },
	/* every warning of the load is an error (load.c); read by each load, nothing to apply */
	{ .name = "strict", .type = &kt_bool, CONF(strict), .def = "false", .reload = RELOAD_NONE,
	  .example = "true", .invalid = "maybe" },
	/* tend's own log rotates by size, as supervisord's (log.c) */
	{ .name = "logfile_maxbytes", .type = &kt_size, CONF(logfile_maxbytes), .def = "50MB",
	  .reload = RELOAD_IN_PLACE, .example = "1MB", .invalid = "lots" },
	{ .name = "logfile_backups", .type = &kt_int, CONF(logfile_backups), .def = "10", .min = 0, .max = 1000,
	  .reload = RELOAD_IN_PLACE, .example = "3", .invalid = "-1" },
	/* tend's working directory once started (tendd.c) */
	{ .name = "directory", .type = &kt_abspath, CONF(directory), .reload = RELOAD_TEND, .example = "/tmp",
	  .invalid = "relative/dir" },
	{ .name = NULL },
};

/* [group:NAME] -> struct group_config */
const struct key_def cfg_group_keys[] = {
	{ .name = "programs", .type = &kt_names, GROUP(programs), .reload = RELOAD_IN_PLACE,
	  .flags = KEY_REQUIRED, .example = "p,q" },
	{ .name = "priority", .type = &kt_int, GROUP(priority), .def = "999", .min = INT_MIN, .max = INT_MAX,
	  .reload = RELOAD_IN_PLACE, .example = "5", .invalid = "high" },
	{ .name = NULL },
};

const struct key_def cfg_unix_http_keys[] = {
	{ .name = "file", .type = &kt_path, CONF(socket_path), .reload = RELOAD_TEND, .example = "tend.sock" },
	{ .name = "chmod", .type = &kt_octal, CONF(socket_mode), .def = "0600", .max = 07777,
	  .reload = RELOAD_TEND, .example = "0660", .invalid = "9" },
	/* the socket's owner; its group may do everything too (control.c), as under supervisord */
	{ .name = "chown", .type = &kt_chown, CONF(socket_uid), .reload = RELOAD_TEND, .example = "root:root",
	  .invalid = "no-such-user-tend" },
	UNUSED("username", NULL),
	UNUSED("password", NULL),
	{ .name = NULL },
};

/* [inet_http_server]: the TCP listener for the dashboard, XML-RPC, the API and /metrics */
const struct key_def cfg_inet_keys[] = {
	{ .name = "port", .type = &kt_inet_port, CONF(inet_host), .reload = RELOAD_TEND, .flags = KEY_REQUIRED,
	  .example = "9002", .invalid = "http" },
	{ .name = "username", .type = &kt_string, CONF(inet_username), .reload = RELOAD_TEND,
	  .needs = "password", .example = "admin" },
	{ .name = "password", .type = &kt_password, CONF(inet_password), .reload = RELOAD_TEND,
	  .needs = "username", .example = "secret", .invalid = "{SHA}abc" },
	/* without credentials TCP serves status only (control.c), unless this says so */
	{ .name = "anonymous_read", .type = &kt_bool, CONF(inet_anonymous_read), .def = "false",
	  .reload = RELOAD_TEND, .example = "true", .invalid = "maybe" },
	{ .name = NULL },
};

/* [supervisorctl]: read by the CLI (and the daemon, for its socket) */
const struct key_def cfg_ctl_keys[] = {
	{ .name = "serverurl", .type = &kt_string, CONF(ctl_serverurl), .reload = RELOAD_TEND,
	  .example = "unix:///tmp/x.sock" },
	UNUSED("username", NULL),
	UNUSED("password", NULL),
	UNUSED("prompt", NULL),
	UNUSED("history_file", NULL),
	{ .name = NULL },
};

const struct key_def cfg_include_keys[] = {
	{ .name = "files", .type = &kt_include, .reload = RELOAD_NONE, .example = "conf.d/*.conf",
	  .invalid = "missing.conf" },
	{ .name = NULL },
};

const struct section_def cfg_sections[] = {
	{ "supervisord", "tend", cfg_daemon_keys, TARGET_CONFIG, 0, "supervisord" },
	{ "program:", NULL, cfg_program_keys, TARGET_PROC, SEC_PROGRAM, "program" },
	{ "eventlistener:", NULL, cfg_program_keys, TARGET_PROC, SEC_LISTENER, "eventlistener" },
	{ "fcgi-program:", NULL, cfg_program_keys, TARGET_PROC, SEC_FCGI, "fcgi-program" },
	{ "group:", NULL, cfg_group_keys, TARGET_GROUP, 0, "group" },
	{ "unix_http_server", NULL, cfg_unix_http_keys, TARGET_CONFIG, 0, "unix_http_server" },
	{ "inet_http_server", NULL, cfg_inet_keys, TARGET_CONFIG, 0, "inet_http_server" },
	{ "supervisorctl", NULL, cfg_ctl_keys, TARGET_CONFIG, 0, "supervisorctl" },
	{ "include", NULL, cfg_include_keys, TARGET_NONE, 0, "include" },
	{ NULL, NULL, NULL, TARGET_NONE, 0, NULL },
};

const struct section_def *cfg_section_kind(const char *name)
{
	for (const struct section_def *d = cfg_sections; d->name; d++) {
		size_t n = strlen(d->name);

		if (d->name[n - 1] == ':' ? strncmp(name, d->name, n) == 0 : strcmp(name, d->name) == 0)
			return d;
		if (d->alias && strcmp(name, d->alias) == 0)
			return d;
	}
	return NULL;
}

bool cfg_key_applies(const struct key_def *k, const struct raw_section *s)
{
	const struct section_def *d;

	if (!k->only)
		return true;
	d = s ? s->kind : NULL;
	return d && (d->bit & k->only);
}

/* ---- what the rows derive ------------------------------------------------- */

static void *field_of(const struct key_def *k, void *target)
{
	return (char *)target + k->off;
}

static const void *cfield_of(const struct key_def *k, const void *target)
{
	return (const char *)target + k->off;
}

static bool covers(const struct key_def *k, enum key_rows rows, const struct raw_section *s)
{
	if ((k->flags & KEY_UNUSED) || !cfg_key_applies(k, s))
		return false;
	return rows == ROWS_ALL || (rows == ROWS_ONCE) == !!(k->flags & KEY_ONCE);
}

/* Parse value into k's field of target, or, for a row without one, only check it. */
static bool parse_into(const struct key_ctx *x, const struct key_def *k, const char *value, void *target)
{
	union {
		long long i;
		double d;
		void *p;
		char bytes[64];
	} scratch;
	void *field = k->size ? field_of(k, target) : memset(&scratch, 0, sizeof(scratch));
	bool ok = k->type->parse(x, k, value, field);

	if (!k->size && k->type->done)
		k->type->done(k, field);
	return ok;
}

/*
 * The memo of a default: rows of a plain value (the scalar types and
 * kt_double: a number, a duration, a signal; no '%' to expand) parse the
 * same text to the same bytes for every instance, so each is parsed once
 * per load (1000 programs: 27 M instructions of defaults -> 5 M).  NULL
 * when the row may not be memoized or its slot holds another row.
 */
static struct default_memo *default_memo(struct loader *L, const struct key_def *k)
{
	struct default_memo *m;

	if (!L || !k->def || (k->type->parse != cfg_scalar_parse && k->type != &kt_double) ||
	    k->size > sizeof(m->bytes) || strchr(k->def, '%'))
		return NULL;
	m = &L->defaults[((uintptr_t)k / sizeof(*k)) % ARRAY_SIZE(L->defaults)];
	return !m->row || m->row == k ? m : NULL;
}

static void apply_default(const struct key_ctx *x, const struct key_def *k, void *target)
{
	struct key_ctx d = *x;
	struct default_memo *m = default_memo(x->L, k);
	char *expanded = NULL, err[256];

	if (m && m->row == k) {
		if (m->ok)
			memcpy(field_of(k, target), m->bytes, k->size);
		else
			parse_into(x, k, k->def, target); /* reports the bad default again */
		return;
	}
	d.kv = NULL;
	if (m) {
		m->row = k;
		m->ok = parse_into(&d, k, k->def, target);
		if (m->ok)
			memcpy(m->bytes, field_of(k, target), k->size);
		return;
	}
	if (k->def && strchr(k->def, '%') && cfg_expand(k->def, x->v, &expanded, err, sizeof(err)) < 0) {
		cfg_key_error(&d, k, "default '%s': %s", k->def, err);
		return;
	}
	parse_into(&d, k, expanded ? expanded : k->def, target);
	free(expanded);
}

void cfg_keys_defaults(const struct key_def *keys, enum key_rows rows, const struct key_ctx *x,
		       void *target)
{
	for (const struct key_def *k = keys; k->name; k++)
		if (covers(k, rows, x->s) && k->size)
			apply_default(x, k, target);
}

void cfg_keys_apply(const struct key_def *keys, enum key_rows rows, const struct key_ctx *x,
		    void *target)
{
	const struct raw_section *s = x->s;

	for (const struct key_def *k = keys; k->name; k++) {
		struct raw_kv *kv;
		struct key_ctx kx = *x;
		char *value = NULL, err[512];

		if (!covers(k, rows, s))
			continue;
		kv = cfg_section_kv(s, k->name);
		if (!kv) {
			if (k->flags & KEY_REQUIRED)
				ERR(x->L, s->file, s->line, "[%s] needs '%s ='", s->name, k->name);
			continue;
		}
		if (k->needs && !cfg_section_kv(s, k->needs))
			ERR(x->L, kv->file, kv->line, "%s needs %s", k->name, k->needs);
		kx.kv = kv;
		/* the value as written, or with its %(name)s expanded */
		if (strchr(kv->value, '%') && cfg_expand(kv->value, x->v, &value, err, sizeof(err)) < 0) {
			ERR(x->L, kv->file, kv->line, "%s: %s", k->name, err);
			continue;
		}
		parse_into(&kx, k, value ? value : kv->value, target); /* invalid: the field keeps its default */
		free(value);
	}
}

void cfg_keys_check(struct loader *L, const struct raw_section *s, const struct key_def *keys)
{
	for (size_t i = 0; i < s->nkv; i++) {
		const struct raw_kv *kv = &s->kv[i];
		const struct key_def *k = cfg_key_find(keys, kv->key), *best = NULL;
		size_t best_dist = 3;

		if (k && !cfg_key_applies(k, s)) {
			WARN(L, kv->file, kv->line, "unknown key '%s' in [%s] (it belongs in another kind of section)",
			     kv->key, s->name);
			continue;
		}
		if (k) {
			/* "no rotation", "no capture", "no events": what tend does anyway */
			if ((k->flags & KEY_UNUSED) && !(k->def && strcasecmp(kv->value, k->def) == 0))
				WARN(L, kv->file, kv->line,
				     "'%s' in [%s] is a supervisord setting tend accepts but does not use",
				     kv->key, s->name);
			continue;
		}
		for (k = keys; k->name; k++) {
			size_t dist = cfg_edit_distance(k->name, kv->key);

			if (!cfg_key_applies(k, s))
				continue;
			/* "username" for "user": a known key that starts the unknown one */
			if (strlen(k->name) >= 4 && strncmp(kv->key, k->name, strlen(k->name)) == 0 && !best)
				dist = 2;

			if (dist < best_dist) {
				best_dist = dist;
				best = k;
			}
		}
		/* supervisord ignores keys it does not know: a warning (an error with strict) */
		if (best)
			WARN(L, kv->file, kv->line, "unknown key '%s' in [%s] (did you mean '%s'?)", cfg_shown_name(kv->key),
			     s->name, best->name);
		else
			WARN(L, kv->file, kv->line, "unknown key '%s' in [%s]", cfg_shown_name(kv->key), s->name);
	}
}

static bool row_equal(const struct key_def *k, const void *a, const void *b)
{
	const void *fa = cfield_of(k, a), *fb = cfield_of(k, b);

	return k->type->eq ? k->type->eq(k, fa, fb) : memcmp(fa, fb, k->size) == 0;
}

const struct key_def *cfg_keys_differ(const struct key_def *keys, unsigned mask, const void *a,
				      const void *b)
{
	for (const struct key_def *k = keys; k->name; k++)
		if (k->size && (mask & RELOAD_MASK(k->reload)) && !row_equal(k, a, b))
			return k;
	return NULL;
}

bool cfg_keys_equal(const struct key_def *keys, unsigned mask, const void *a, const void *b)
{
	return !cfg_keys_differ(keys, mask, a, b);
}

void cfg_keys_copy(const struct key_def *keys, void *dst, const void *src)
{
	for (const struct key_def *k = keys; k->name; k++)
		if (k->size && k->type->copy)
			k->type->copy(k, field_of(k, dst), cfield_of(k, src));
}

void cfg_keys_done(const struct key_def *keys, void *target)
{
	for (const struct key_def *k = keys; k->name; k++)
		if (k->size && k->type->done)
			k->type->done(k, field_of(k, target));
}

const struct key_def *cfg_key_find(const struct key_def *keys, const char *name)
{
	for (const struct key_def *k = keys; k->name; k++)
		if (k->name[0] == name[0] && strcmp(k->name, name) == 0)
			return k;
	return NULL;
}
