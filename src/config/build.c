/*
 * Pass 2 of loading: raw sections -> struct config.  Each raw section is
 * checked against the table of keys its type accepts, values are
 * %(...)-expanded per program instance and parsed, and cross-section rules
 * (groups, depends_on cycles, unique names) are checked.  Every problem is
 * recorded; nothing stops at the first.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <unistd.h>

#include "common/signames.h"
#include "common/util.h"
#include "config/config-internal.h"

static int parse_loglevel(const char *s, int *ret)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "critical", LOG_CRIT }, { "error", LOG_ERR },   { "warn", LOG_WARNING },
		{ "warning", LOG_WARNING }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
		{ "trace", LOG_DEBUG },   { "blather", LOG_DEBUG },
	};

	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		if (strcasecmp(s, levels[i].name) == 0) {
			*ret = levels[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

enum key_use {
	KEY_USED,
	KEY_UNUSED,  /* supervisord's key, accepted; tend does not act on it */
	KEY_LATER,   /* tend's own key (DESIGN §2) that this version does not act on */
};

struct key_def {
	const char *name;
	enum key_use use;
};

static const struct key_def tend_keys[] = {
	{ "logfile", KEY_USED },       { "loglevel", KEY_USED },      { "pidfile", KEY_USED },
	{ "umask", KEY_USED },         { "childlogdir", KEY_USED },   { "identifier", KEY_USED },
	{ "environment", KEY_USED },   { "minfds", KEY_USED },        { "nocleanup", KEY_USED },
	{ "nodaemon", KEY_USED },      { "exit_with", KEY_USED },     { "logfile_maxbytes", KEY_UNUSED },
	{ "logfile_backups", KEY_UNUSED }, { "silent", KEY_UNUSED },  { "minprocs", KEY_UNUSED },
	{ "user", KEY_UNUSED },        { "directory", KEY_UNUSED },   { "strip_ansi", KEY_UNUSED },
	{ "cgroups", KEY_USED },       { "cgroup_root", KEY_USED },
	{ NULL, 0 },
};

static const struct key_def program_keys[] = {
	{ "command", KEY_USED },        { "process_name", KEY_USED },    { "numprocs", KEY_USED },
	{ "numprocs_start", KEY_USED }, { "priority", KEY_USED },        { "autostart", KEY_USED },
	{ "startsecs", KEY_USED },      { "startretries", KEY_USED },    { "autorestart", KEY_USED },
	{ "exitcodes", KEY_USED },      { "stopsignal", KEY_USED },      { "stopwaitsecs", KEY_USED },
	{ "stopasgroup", KEY_USED },    { "killasgroup", KEY_USED },     { "user", KEY_USED },
	{ "redirect_stderr", KEY_USED }, { "stdout_logfile", KEY_USED }, { "stderr_logfile", KEY_USED },
	{ "environment", KEY_USED },    { "directory", KEY_USED },       { "umask", KEY_USED },
	{ "restart_delay", KEY_USED },  { "backoff_factor", KEY_USED },  { "max_backoff", KEY_USED },
	{ "backoff_reset_after", KEY_USED }, { "depends_on", KEY_USED },
	{ "stdout_logfile_maxbytes", KEY_USED }, { "stdout_logfile_backups", KEY_USED },
	{ "stdout_capture_maxbytes", KEY_UNUSED }, { "stdout_events_enabled", KEY_UNUSED },
	{ "stdout_syslog", KEY_UNUSED }, { "stderr_logfile_maxbytes", KEY_USED },
	{ "stderr_logfile_backups", KEY_USED }, { "stderr_capture_maxbytes", KEY_UNUSED },
	{ "stderr_events_enabled", KEY_UNUSED }, { "stderr_syslog", KEY_UNUSED },
	{ "serverurl", KEY_UNUSED },
	{ "memory_limit", KEY_USED },   { "cpu_quota", KEY_USED },       { "tasks_max", KEY_USED },
	{ "nofile", KEY_USED },         { "core", KEY_USED },            { "nice", KEY_USED },
	{ "oom_score_adj", KEY_USED },  { "max_lifetime", KEY_USED },    { "no_new_privs", KEY_USED },
	{ "numprocs_min", KEY_USED },   { "numprocs_max", KEY_USED },    { "scale_cpu_target", KEY_USED },
	{ "scale_interval", KEY_USED }, { "scale_cooldown", KEY_USED },  { "listen", KEY_USED },
	{ "ready", KEY_USED },          { "drain_secs", KEY_USED },      { "env_file", KEY_USED },
	{ "ready_timeout", KEY_USED },
	{ "stdout_logfile_rotate", KEY_USED }, { "stderr_logfile_rotate", KEY_USED },
	{ NULL, 0 },
};

static const struct key_def group_keys[] = {
	{ "programs", KEY_USED }, { "priority", KEY_USED }, { NULL, 0 },
};

static const struct key_def unix_http_keys[] = {
	{ "file", KEY_USED },       { "chmod", KEY_USED },       { "chown", KEY_UNUSED },
	{ "username", KEY_UNUSED }, { "password", KEY_UNUSED }, { NULL, 0 },
};

static const struct key_def inet_keys[] = {
	{ "port", KEY_USED }, { "username", KEY_USED }, { "password", KEY_USED }, { NULL, 0 },
};

static const struct key_def ctl_keys[] = {
	{ "serverurl", KEY_USED },  { "username", KEY_UNUSED }, { "password", KEY_UNUSED },
	{ "prompt", KEY_UNUSED },   { "history_file", KEY_UNUSED }, { NULL, 0 },
};

static const struct key_def include_keys[] = {
	{ "files", KEY_USED }, { NULL, 0 },
};

/* Check every key of a section against its table; mark the section's keys. */
static void check_keys(struct loader *L, struct raw_section *s, const struct key_def *defs)
{
	for (size_t i = 0; i < s->nkv; i++) {
		struct raw_kv *kv = &s->kv[i];
		const struct key_def *d, *best = NULL;
		size_t best_dist = 3;

		for (d = defs; d->name; d++)
			if (strcmp(d->name, kv->key) == 0)
				break;
		if (d->name) {
			/* "no rotation" and "no capture" are what tend does anyway */
			if (d->use == KEY_UNUSED && strcmp(kv->value, "0") == 0 &&
			    (strstr(kv->key, "maxbytes") || strstr(kv->key, "backups")))
				continue;
			if (d->use == KEY_UNUSED)
				WARN(L, kv->file, kv->line,
				     "'%s' in [%s] is a supervisord setting tend accepts but does not use",
				     kv->key, s->name);
			else if (d->use == KEY_LATER)
				WARN(L, kv->file, kv->line,
				     "'%s' in [%s] is not supported by this version of tend; ignored",
				     kv->key, s->name);
			continue;
		}
		for (d = defs; d->name; d++) {
			size_t dist = cfg_edit_distance(d->name, kv->key);

			if (dist < best_dist) {
				best_dist = dist;
				best = d;
			}
		}
		if (best)
			ERR(L, kv->file, kv->line, "unknown key '%s' in [%s] (did you mean '%s'?)", kv->key,
			    s->name, best->name);
		else
			ERR(L, kv->file, kv->line, "unknown key '%s' in [%s]", kv->key, s->name);
	}
}

/* Get a key's expanded value, or NULL (nothing recorded) when absent. */
static char *get_expanded(struct loader *L, struct raw_section *s, const char *key,
			  const struct xvars *v, struct raw_kv **ret_kv, bool *failed)
{
	struct raw_kv *kv = cfg_section_kv(s, key);
	char err[512], *out;

	if (ret_kv)
		*ret_kv = kv;
	if (!kv)
		return NULL;
	if (cfg_expand(kv->value, v, &out, err, sizeof(err)) < 0) {
		ERR(L, kv->file, kv->line, "%s: %s", key, err);
		*failed = true;
		return NULL;
	}
	return out;
}

/* Typed getters: each records its own error and leaves *out at the default. */
#define GETTER_PROLOGUE                                                            \
	struct raw_kv *kv;                                                         \
	bool failed = false;                                                       \
	char *val = get_expanded(L, s, key, v, &kv, &failed);                      \
	if (!val)                                                                  \
		return !failed;

static bool get_bool(struct loader *L, struct raw_section *s, const char *key,
		     const struct xvars *v, bool *out)
{
	GETTER_PROLOGUE
	if (parse_bool(val, out) < 0) {
		ERR(L, kv->file, kv->line, "%s: '%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
		    key, val);
		failed = true;
	}
	free(val);
	return !failed;
}

static bool get_long(struct loader *L, struct raw_section *s, const char *key,
		     const struct xvars *v, long min, long max, long *out)
{
	GETTER_PROLOGUE
	if (parse_int(val, min, max, out) < 0) {
		ERR(L, kv->file, kv->line, "%s: '%s' is not an integer between %ld and %ld", key, val, min,
		    max);
		failed = true;
	}
	free(val);
	return !failed;
}

static bool get_duration(struct loader *L, struct raw_section *s, const char *key,
			 const struct xvars *v, int64_t *out)
{
	GETTER_PROLOGUE
	if (parse_duration_ns(val, out) < 0) {
		ERR(L, kv->file, kv->line,
		    "%s: '%s' is not a duration (seconds, or a number with ms, s, m, h, d)", key, val);
		failed = true;
	}
	free(val);
	return !failed;
}

static bool get_string(struct loader *L, struct raw_section *s, const char *key,
		       const struct xvars *v, char **out)
{
	GETTER_PROLOGUE
	(void)kv;
	free(*out);
	*out = val;
	return true;
}

static bool get_signal(struct loader *L, struct raw_section *s, const char *key,
		       const struct xvars *v, int *out)
{
	int sig;

	GETTER_PROLOGUE
	sig = sig_from_name(val);
	if (sig < 0) {
		ERR(L, kv->file, kv->line, "%s: '%s' is not a signal name or number", key, val);
		failed = true;
	} else {
		*out = sig;
	}
	free(val);
	return !failed;
}

static bool get_umask(struct loader *L, struct raw_section *s, const char *key,
		      const struct xvars *v, int *out)
{
	long m;

	GETTER_PROLOGUE
	if (cfg_parse_octal(val, 0777, &m) < 0) {
		ERR(L, kv->file, kv->line, "%s: '%s' is not an octal mode such as 022", key, val);
		failed = true;
	} else {
		*out = (int)m;
	}
	free(val);
	return !failed;
}

static bool get_env(struct loader *L, struct raw_section *s, const char *key,
		    const struct xvars *v, char ***out)
{
	const char *why;
	char **env;

	GETTER_PROLOGUE
	if (parse_environment(val, &env, &why) < 0) {
		ERR(L, kv->file, kv->line, "%s: %s", key, why);
		failed = true;
	} else {
		strv_free(*out);
		*out = env;
	}
	free(val);
	return !failed;
}

static bool get_logdest(struct loader *L, struct raw_section *s, const char *key,
			const struct xvars *v, const char *here, struct log_dest *out)
{
	GETTER_PROLOGUE
	if (strcasecmp(val, "AUTO") == 0) {
		out->kind = LOGDEST_AUTO;
	} else if (strcasecmp(val, "NONE") == 0 || !*val) {
		out->kind = LOGDEST_NONE;
	} else if (strcmp(val, "-") == 0) {
		out->kind = LOGDEST_PREFIX;
	} else if (strcmp(val, "/dev/stdout") == 0 || strcmp(val, "/dev/fd/1") == 0 ||
		   strcmp(val, "/proc/self/fd/1") == 0) {
		out->kind = LOGDEST_STDOUT;
	} else if (strcmp(val, "/dev/stderr") == 0 || strcmp(val, "/dev/fd/2") == 0 ||
		   strcmp(val, "/proc/self/fd/2") == 0) {
		out->kind = LOGDEST_STDERR;
	} else {
		char *path = val[0] == '/' ? xstrdup(val) : xasprintf("%s/%s", here, val);
		char *dir = cfg_dir_of(path);
		struct stat st;

		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			ERR(L, kv->file, kv->line, "%s: the directory of '%s' does not exist", key, val);
			failed = true;
			free(path);
		} else {
			out->kind = LOGDEST_FILE;
			free(out->path);
			out->path = path;
		}
		free(dir);
	}
	free(val);
	return !failed;
}

static bool env_key_ok(const char *k, size_t n)
{
	if (n == 0 || isdigit((unsigned char)k[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '.' && k[i] != '-')
			return false;
	return true;
}

/*
 * env_file: KEY=VALUE lines as in a .env file: blank lines and # comments,
 * an optional "export ", "double quotes" (with \\ \" \n \t \$ escapes),
 * 'single quotes' (literal), unquoted values trimmed and ended by " #".
 * Errors are reported at the env file's own line.
 */
static void load_env_file(struct loader *L, const char *path, const char *kfile, int kline,
			  bool optional, char ***env)
{
	char *text = NULL, *save = NULL, *line;
	int r = read_file(path, MAX_CONFIG_BYTES, &text, NULL), lineno = 0;

	if (r < 0) {
		if (!(optional && r == -ENOENT))
			ERR(L, kfile, kline, "env_file: cannot read '%s': %s", path, strerror(-r));
		return;
	}
	for (line = text; line; line = save) {
		char *nl = strchr(line, '\n'), *p, *eq;
		struct sbuf kv = SBUF_INIT;
		size_t klen;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		p = line + strspn(line, " \t");
		cfg_rstrip(p);
		if (!*p || *p == '#')
			continue;
		if (strncmp(p, "export ", 7) == 0)
			p += 7 + strspn(p + 7, " \t");
		eq = strchr(p, '=');
		klen = eq ? (size_t)(eq - p) : 0;
		while (klen > 0 && isspace((unsigned char)p[klen - 1]))
			klen--;
		if (!eq || !env_key_ok(p, klen)) {
			ERR(L, path, lineno, "expected KEY=VALUE");
			continue;
		}
		sbuf_add(&kv, p, klen);
		sbuf_addc(&kv, '=');
		p = eq + 1 + strspn(eq + 1, " \t");
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1]) {
					p++;
					sbuf_addc(&kv, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
				} else {
					sbuf_addc(&kv, *p);
				}
			}
			if (*p != '"')
				ERR(L, path, lineno, "no closing quotation");
		} else if (*p == '\'') {
			char *end = strchr(p + 1, '\'');

			if (!end)
				ERR(L, path, lineno, "no closing quotation");
			else
				sbuf_add(&kv, p + 1, (size_t)(end - p - 1));
		} else {
			char *hash = strstr(p, " #");

			if (hash)
				*hash = '\0';
			cfg_rstrip(p);
			sbuf_adds(&kv, p);
		}
		cfg_env_set(env, kv.s);
		sbuf_done(&kv);
	}
	free(text);
}

/* memory_limit, cpu_quota, tasks_max, nofile, core, nice, oom_score_adj, max_lifetime, no_new_privs */
static void get_limits(struct loader *L, struct raw_section *s, const struct xvars *v,
		       struct proc_config *pc)
{
	struct raw_kv *kv;
	bool failed = false;
	char *val;
	long n;

	val = get_expanded(L, s, "memory_limit", v, &kv, &failed);
	if (val && (parse_size(val, &pc->memory_limit) < 0 || (pc->memory_limit && pc->memory_limit < 1 << 20)))
		ERR(L, kv->file, kv->line, "memory_limit: '%s' is not a size of at least 1M (e.g. 256M, 1G)", val);
	free(val);
	val = get_expanded(L, s, "cpu_quota", v, &kv, &failed);
	if (val) {
		char *end;
		double pct;

		errno = 0;
		pct = strtod(val, &end);
		if (*end == '%')
			end++;
		else
			pct *= 100; /* "1.5" = one and a half CPUs */
		if (errno || *end || end == val || !(pct >= 1 && pct <= 100000))
			ERR(L, kv->file, kv->line, "cpu_quota: '%s' is not a share of CPU such as 50%% or 1.5", val);
		else
			pc->cpu_quota = (unsigned)pct;
		free(val);
	}
	if (get_long(L, s, "tasks_max", v, 1, 1 << 22, &n) && cfg_section_kv(s, "tasks_max"))
		pc->tasks_max = (unsigned)n;
	if (get_long(L, s, "nofile", v, 1, 1 << 30, &n) && cfg_section_kv(s, "nofile"))
		pc->nofile = n;
	val = get_expanded(L, s, "core", v, &kv, &failed);
	if (val) {
		uint64_t bytes;

		if (strcasecmp(val, "unlimited") == 0 || strcasecmp(val, "infinity") == 0)
			pc->core = -2;
		else if (parse_size(val, &bytes) == 0 && bytes < (1ULL << 62))
			pc->core = (long long)bytes;
		else
			ERR(L, kv->file, kv->line, "core: '%s' is not a size or unlimited", val);
		free(val);
	}
	if (get_long(L, s, "nice", v, -20, 19, &n) && cfg_section_kv(s, "nice"))
		pc->nice = (int)n;
	if (get_long(L, s, "oom_score_adj", v, -1000, 1000, &n) && cfg_section_kv(s, "oom_score_adj"))
		pc->oom_score_adj = (int)n;
	get_duration(L, s, "max_lifetime", v, &pc->max_lifetime_ns);
	get_bool(L, s, "no_new_privs", v, &pc->no_new_privs);
}

/* listen, ready, ready_timeout, drain_secs: the pool keys */
static void get_pool(struct loader *L, struct raw_section *s, const struct xvars *v,
		     struct proc_config *pc)
{
	struct raw_kv *kv;
	bool failed = false;
	char *val;

	val = get_expanded(L, s, "listen", v, &kv, &failed);
	if (val) {
		if (strncmp(val, "tcp://", 6) == 0 && cfg_parse_hostport(val + 6, &pc->listen_host, &pc->listen_port) == 0)
			pc->listen_kind = LISTEN_TCP;
		else if (strncmp(val, "unix:", 5) == 0 && val[5] &&
			 strlen(val + 5 + (strncmp(val + 5, "//", 2) == 0 ? 2 : 0)) < 108) {
			pc->listen_kind = LISTEN_UNIX;
			pc->listen_path = xstrdup(val + 5 + (strncmp(val + 5, "//", 2) == 0 ? 2 : 0));
		} else
			ERR(L, kv->file, kv->line, "listen: '%s' is not tcp://[HOST:]PORT or unix:PATH", val);
		pc->listen = val;
	}
	val = get_expanded(L, s, "ready", v, &kv, &failed);
	if (val) {
		if (strncmp(val, "tcp:", 4) == 0 && cfg_parse_hostport(val + 4, &pc->ready_host, &pc->ready_port) == 0) {
			pc->ready_kind = READY_TCP;
		} else if (strncmp(val, "http://", 7) == 0) {
			char *slash = strchr(val + 7, '/'), *hp = xstrndup(val + 7, slash ? (size_t)(slash - val - 7) : strlen(val + 7));

			if (cfg_parse_hostport(hp, &pc->ready_host, &pc->ready_port) == 0 && strchr(hp, ':')) {
				pc->ready_kind = READY_HTTP;
				pc->ready_path = xstrdup(slash ? slash : "/");
			} else {
				ERR(L, kv->file, kv->line, "ready: '%s' is not http://HOST:PORT/path", val);
			}
			free(hp);
		} else if (strncmp(val, "exec:", 5) == 0 && val[5]) {
			const char *err = NULL;

			if (split_command(val + 5, &pc->ready_argv, &err) < 0 || !pc->ready_argv[0])
				ERR(L, kv->file, kv->line, "ready: exec: %s", err ? err : "empty command");
			else
				pc->ready_kind = READY_EXEC;
		} else if (strcmp(val, "notify") == 0) {
			pc->ready_kind = READY_NOTIFY;
		} else {
			ERR(L, kv->file, kv->line,
			    "ready: '%s' is not tcp:PORT, http://HOST:PORT/path, exec:COMMAND or notify", val);
		}
		pc->ready = val;
	}
	get_duration(L, s, "ready_timeout", v, &pc->ready_timeout_ns);
	get_duration(L, s, "drain_secs", v, &pc->drain_ns);
}

/* *_logfile_maxbytes, *_logfile_backups, *_logfile_rotate of one stream. */
static void get_rotation(struct loader *L, struct raw_section *s, const char *stream,
			 const struct xvars *v, struct log_dest *out)
{
	char key[48], *val;
	struct raw_kv *kv;
	bool failed = false;
	long n;

	snprintf(key, sizeof(key), "%s_logfile_maxbytes", stream);
	val = get_expanded(L, s, key, v, &kv, &failed);
	if (val && parse_size(val, &out->maxbytes) < 0)
		ERR(L, kv->file, kv->line, "%s: '%s' is not a size such as 50MB", key, val);
	free(val);
	snprintf(key, sizeof(key), "%s_logfile_backups", stream);
	if (get_long(L, s, key, v, 0, 1000, &n) && cfg_section_kv(s, key))
		out->backups = (int)n;
	snprintf(key, sizeof(key), "%s_logfile_rotate", stream);
	val = get_expanded(L, s, key, v, &kv, &failed);
	if (val) {
		if (strcasecmp(val, "hourly") == 0)
			out->rotate = 1;
		else if (strcasecmp(val, "daily") == 0)
			out->rotate = 2;
		else if (strcasecmp(val, "none") == 0 || strcasecmp(val, "false") == 0 || !*val)
			out->rotate = 0;
		else
			ERR(L, kv->file, kv->line, "%s: '%s' is not hourly, daily or none", key, val);
	}
	free(val);
}

static void split_names(const char *s, char ***out)
{
	char *copy = xstrdup(s), *save = NULL;
	size_t n = 0;
	char **v = xcalloc(1, sizeof(*v));

	for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
		cfg_strv_push(&v, &n, xstrdup(t));
	free(copy);
	strv_free(*out);
	*out = v;
}

static struct proc_config *proc_new(void)
{
	struct proc_config *pc = xcalloc(1, sizeof(*pc));

	pc->umask = -1;
	pc->priority = 999;
	pc->autostart = true;
	pc->autorestart = AUTORESTART_UNEXPECTED;
	pc->startsecs_ns = 1 * NSEC_PER_SEC;
	pc->startretries = 3;
	pc->exitcodes[0] = 1; /* exit code 0 */
	pc->stopsignal = 15;
	pc->stopwait_ns = 10 * NSEC_PER_SEC;
	pc->stopasgroup = true;
	pc->killasgroup = true;
	pc->out.kind = LOGDEST_AUTO;
	pc->err.kind = LOGDEST_AUTO;
	pc->out.maxbytes = pc->err.maxbytes = 50ULL << 20;
	pc->out.backups = pc->err.backups = 10;
	pc->nofile = -1;
	pc->core = -1;
	pc->nice = NICE_UNSET;
	pc->restart_delay_ns = 1 * NSEC_PER_SEC;
	pc->backoff_factor = 2.0;
	pc->max_backoff_ns = 60 * NSEC_PER_SEC;
	pc->backoff_reset_after_ns = 60 * NSEC_PER_SEC;
	pc->ready_timeout_ns = 60 * NSEC_PER_SEC;
	return pc;
}

void cfg_proc_free(struct proc_config *pc)
{
	if (!pc)
		return;
	if (pc->refs) {
		pc->refs--;
		return;
	}
	free(pc->name);
	free(pc->program);
	free(pc->group);
	free(pc->fullname);
	free(pc->file);
	free(pc->command);
	strv_free(pc->argv);
	strv_free(pc->env);
	free(pc->directory);
	free(pc->user);
	free(pc->out.path);
	free(pc->err.path);
	strv_free(pc->depends_on);
	free(pc->listen);
	free(pc->listen_host);
	free(pc->listen_path);
	free(pc->ready);
	free(pc->ready_host);
	free(pc->ready_path);
	strv_free(pc->ready_argv);
	free(pc);
}

static char *section_here(struct raw_section *s)
{
	return cfg_dir_of(s->file);
}

static void build_daemon(struct loader *L, struct config *c, struct raw_section *s,
			 const struct xvars *base)
{
	struct xvars v = *base;
	char *here = section_here(s);
	char *logfile = NULL, *pidfile = NULL, *childlogdir = NULL, *level = NULL;
	long minfds = 0;
	struct raw_kv *kv;
	bool failed = false;

	v.here = here;
	check_keys(L, s, tend_keys);
	if (get_string(L, s, "logfile", &v, &logfile) && logfile) {
		free(c->logfile);
		c->logfile = logfile[0] == '/' ? xstrdup(logfile) : xasprintf("%s/%s", here, logfile);
	}
	if (get_string(L, s, "pidfile", &v, &pidfile) && pidfile) {
		free(c->pidfile);
		c->pidfile = pidfile[0] == '/' ? xstrdup(pidfile) : xasprintf("%s/%s", here, pidfile);
	}
	if (get_string(L, s, "childlogdir", &v, &childlogdir) && childlogdir) {
		struct stat st;

		kv = cfg_section_kv(s, "childlogdir");
		if (stat(childlogdir, &st) < 0 || !S_ISDIR(st.st_mode))
			ERR(L, kv->file, kv->line, "childlogdir: '%s' is not a directory", childlogdir);
		free(c->childlogdir);
		c->childlogdir = xstrdup(childlogdir);
	}
	get_string(L, s, "identifier", &v, &c->identifier);
	if (get_string(L, s, "cgroups", &v, &c->cgroups) && c->cgroups &&
	    strcmp(c->cgroups, "auto") != 0 && strcmp(c->cgroups, "v2") != 0 &&
	    strcmp(c->cgroups, "v1") != 0 && strcmp(c->cgroups, "off") != 0) {
		kv = cfg_section_kv(s, "cgroups");
		ERR(L, kv->file, kv->line, "cgroups: '%s' is not auto, v2, v1 or off", c->cgroups);
	}
	get_string(L, s, "cgroup_root", &v, &c->cgroup_root);
	if (get_string(L, s, "exit_with", &v, &c->exit_with) && c->exit_with) {
		kv = cfg_section_kv(s, "exit_with");
		c->exit_with_file = kv->file;
		c->exit_with_line = kv->line;
	}
	level = get_expanded(L, s, "loglevel", &v, &kv, &failed);
	if (level && parse_loglevel(level, &c->loglevel) < 0)
		ERR(L, kv->file, kv->line,
		    "loglevel: '%s' is not one of critical, error, warn, info, debug, trace, blather", level);
	get_umask(L, s, "umask", &v, &c->umask);
	if (get_long(L, s, "minfds", &v, 0, 1L << 30, &minfds) && minfds)
		c->minfds = minfds;
	get_bool(L, s, "nocleanup", &v, &c->nocleanup);
	get_env(L, s, "environment", &v, &c->env);
	/* nodaemon is accepted for compatibility: `tend up` runs in the foreground unless -d */
	{
		bool nodaemon;

		get_bool(L, s, "nodaemon", &v, &nodaemon);
	}
	free(logfile);
	free(pidfile);
	free(childlogdir);
	free(level);
	free(here);
}

void cfg_build_unix_http(struct loader *L, struct config *c, struct raw_section *s,
			    const struct xvars *base)
{
	struct xvars v = *base;
	char *here = section_here(s), *file = NULL, *mode = NULL;
	struct raw_kv *kv;
	bool failed = false;

	v.here = here;
	check_keys(L, s, unix_http_keys);
	if (get_string(L, s, "file", &v, &file) && file) {
		free(c->socket_path);
		c->socket_path = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", here, file);
	}
	mode = get_expanded(L, s, "chmod", &v, &kv, &failed);
	if (mode) {
		long m;

		if (cfg_parse_octal(mode, 07777, &m) < 0)
			ERR(L, kv->file, kv->line, "chmod: '%s' is not an octal mode such as 0700", mode);
		else
			c->socket_mode = (mode_t)m;
	}
	free(file);
	free(mode);
	free(here);
}

/* port = [host:]port; supervisord's "*:9001" means every interface; no host: loopback */
static void build_inet(struct loader *L, struct config *c, struct raw_section *s,
		       const struct xvars *base)
{
	struct xvars v = *base;
	char *here = section_here(s), *port = NULL, *colon;
	struct raw_kv *kv;
	long n;

	v.here = here;
	check_keys(L, s, inet_keys);
	if (get_string(L, s, "port", &v, &port) && port) {
		kv = cfg_section_kv(s, "port");
		colon = strrchr(port, ':');
		if (parse_int(colon ? colon + 1 : port, 1, 65535, &n) < 0) {
			ERR(L, kv->file, kv->line, "port: '%s' is not [host:]port", port);
		} else {
			free(c->inet_host);
			if (!colon || colon == port)
				c->inet_host = xstrdup("127.0.0.1");
			else if (colon - port == 1 && port[0] == '*')
				c->inet_host = xstrdup("0.0.0.0");
			else if (port[0] == '[' && colon[-1] == ']')
				c->inet_host = xstrndup(port + 1, (size_t)(colon - port - 2));
			else
				c->inet_host = xstrndup(port, (size_t)(colon - port));
			c->inet_port = (int)n;
		}
	} else {
		ERR(L, s->file, s->line, "[inet_http_server] needs 'port ='");
	}
	free(c->inet_username);
	free(c->inet_password);
	c->inet_username = c->inet_password = NULL;
	get_string(L, s, "username", &v, &c->inet_username);
	get_string(L, s, "password", &v, &c->inet_password);
	if (!c->inet_username != !c->inet_password) {
		kv = cfg_section_kv(s, c->inet_username ? "username" : "password");
		ERR(L, kv->file, kv->line, "[inet_http_server] needs both username and password, or neither");
	} else if (c->inet_password && strncmp(c->inet_password, "{SHA}", 5) == 0 &&
		   (strlen(c->inet_password) != 45 ||
		    strspn(c->inet_password + 5, "0123456789abcdefABCDEF") != 40)) {
		kv = cfg_section_kv(s, "password");
		ERR(L, kv->file, kv->line, "password: {SHA} must be followed by 40 hex digits (sha1 of the password)");
	}
	free(port);
	free(here);
}

void cfg_build_ctl(struct loader *L, struct config *c, struct raw_section *s,
		      const struct xvars *base)
{
	struct xvars v = *base;
	char *here = section_here(s);

	v.here = here;
	check_keys(L, s, ctl_keys);
	get_string(L, s, "serverurl", &v, &c->ctl_serverurl);
	free(here);
}

static struct group_config *group_find(struct config *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i]->name, name) == 0)
			return c->groups[i];
	return NULL;
}

static void build_group(struct loader *L, struct config *c, struct raw_section *s,
			const char *name, const struct xvars *base)
{
	struct xvars v = *base;
	struct group_config *g;
	char *here = section_here(s), *programs = NULL;
	long prio = 999;

	v.here = here;
	check_keys(L, s, group_keys);
	if (!cfg_valid_name(name)) {
		ERR(L, s->file, s->line, "invalid group name '%s'", name);
		free(here);
		return;
	}
	g = xcalloc(1, sizeof(*g));
	g->name = xstrdup(name);
	g->explicit_group = true;
	g->file = xstrdup(s->file);
	g->line = s->line;
	get_long(L, s, "priority", &v, INT_MIN, INT_MAX, &prio);
	g->priority = (int)prio;
	if (get_string(L, s, "programs", &v, &programs) && programs)
		split_names(programs, &g->programs);
	else
		ERR(L, s->file, s->line, "[group:%s] needs 'programs ='", name);
	if (!g->programs)
		g->programs = xcalloc(1, sizeof(char *));
	free(programs);
	free(here);
	c->groups = xrealloc(c->groups, (c->ngroups + 1) * sizeof(*c->groups));
	c->groups[c->ngroups++] = g;
}

/* The explicit group a program belongs to, if any; reports double membership. */
static const char *group_of(struct loader *L, struct config *c, const char *program,
			    struct raw_section *s)
{
	const char *found = NULL;

	for (size_t i = 0; i < c->ngroups; i++) {
		struct group_config *g = c->groups[i];

		for (char **p = g->programs; *p; p++) {
			if (strcmp(*p, program) != 0)
				continue;
			if (found && strcmp(found, g->name) != 0)
				ERR(L, s->file, s->line, "program '%s' is in two groups, '%s' and '%s'",
				    program, found, g->name);
			else
				found = g->name;
		}
	}
	return found;
}

static void build_instance(struct loader *L, struct config *c, struct raw_section *s,
			   const char *program, const char *group, const struct xvars *v)
{
	struct proc_config *pc = proc_new();
	char *here = section_here(s), *pname = NULL, *user = NULL, *s_val;
	struct raw_kv *kv;
	bool failed = false;
	long n;

	pc->program = xstrdup(program);
	pc->group = xstrdup(group);
	pc->num = (int)v->process_num;
	pc->file = xstrdup(s->file);
	pc->line = s->line;
	pc->env = strv_dup(c->env);

	pname = get_expanded(L, s, "process_name", v, &kv, &failed);
	if (!pname && !failed) {
		struct xvars d = *v;
		char err[512];

		cfg_expand("%(program_name)s", &d, &pname, err, sizeof(err));
	}
	if (pname) {
		if (!cfg_valid_name(pname))
			ERR(L, kv ? kv->file : s->file, kv ? kv->line : s->line,
			    "process_name: '%s' is not a valid name (no ':', '/', ',' or spaces)", pname);
		pc->name = pname;
	} else {
		pc->name = xstrdup(program);
	}
	pc->fullname = strcmp(pc->group, pc->name) == 0 ? xstrdup(pc->name)
							 : xasprintf("%s:%s", pc->group, pc->name);

	s_val = get_expanded(L, s, "command", v, &kv, &failed);
	if (s_val) {
		const char *why;

		if (split_command(s_val, &pc->argv, &why) < 0)
			ERR(L, kv->file, kv->line, "command: %s", why);
		pc->command = s_val;
	} else if (!failed) {
		ERR(L, s->file, s->line, "[program:%s] needs 'command ='", program);
	}

	if (get_long(L, s, "priority", v, INT_MIN, INT_MAX, &n) && cfg_section_kv(s, "priority"))
		pc->priority = (int)n;
	get_bool(L, s, "autostart", v, &pc->autostart);
	s_val = get_expanded(L, s, "autorestart", v, &kv, &failed);
	if (s_val) {
		bool b;

		if (strcasecmp(s_val, "unexpected") == 0)
			pc->autorestart = AUTORESTART_UNEXPECTED;
		else if (parse_bool(s_val, &b) == 0)
			pc->autorestart = b ? AUTORESTART_TRUE : AUTORESTART_FALSE;
		else
			ERR(L, kv->file, kv->line, "autorestart: '%s' is not true, false or unexpected",
			    s_val);
		free(s_val);
	}
	get_duration(L, s, "startsecs", v, &pc->startsecs_ns);
	if (get_long(L, s, "startretries", v, -1, INT_MAX, &n) && cfg_section_kv(s, "startretries"))
		pc->startretries = (int)n;
	s_val = get_expanded(L, s, "exitcodes", v, &kv, &failed);
	if (s_val) {
		if (cfg_parse_exitcodes(s_val, pc->exitcodes) < 0)
			ERR(L, kv->file, kv->line, "exitcodes: '%s' is not a list of codes 0-255", s_val);
		free(s_val);
	}
	get_signal(L, s, "stopsignal", v, &pc->stopsignal);
	get_duration(L, s, "stopwaitsecs", v, &pc->stopwait_ns);
	get_bool(L, s, "stopasgroup", v, &pc->stopasgroup);
	get_bool(L, s, "killasgroup", v, &pc->killasgroup);
	if (cfg_section_kv(s, "stopasgroup") && pc->stopasgroup)
		pc->killasgroup = true; /* supervisord: stopasgroup implies killasgroup */
	get_bool(L, s, "redirect_stderr", v, &pc->redirect_stderr);
	get_logdest(L, s, "stdout_logfile", v, here, &pc->out);
	get_logdest(L, s, "stderr_logfile", v, here, &pc->err);
	get_rotation(L, s, "stdout", v, &pc->out);
	get_rotation(L, s, "stderr", v, &pc->err);
	s_val = get_expanded(L, s, "env_file", v, &kv, &failed);
	if (s_val) {
		/* after [supervisord] environment, before the program's environment= */
		char **saved = NULL;
		bool optional = s_val[0] == '-';
		const char *p = s_val + (optional ? 1 : 0);
		char *path = p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", here, p);

		load_env_file(L, path, kv->file, kv->line, optional, &pc->env);
		if (cfg_section_kv(s, "environment")) {
			get_env(L, s, "environment", v, &saved);
			for (char **e = saved; e && *e; e++)
				cfg_env_set(&pc->env, *e);
			strv_free(saved);
		}
		free(path);
		free(s_val);
	} else {
		get_env(L, s, "environment", v, &pc->env);
	}
	if (cfg_section_kv(s, "environment") && !cfg_section_kv(s, "env_file") && c->env) {
		/* [supervisord] environment first, the program's own wins */
		char **merged = strv_dup(c->env);
		size_t m = strv_len(merged);

		for (char **e = pc->env; *e; e++) {
			size_t klen = strcspn(*e, "=");

			for (size_t i = 0; i < m; i++) {
				if (strncmp(merged[i], *e, klen + 1) == 0) {
					free(merged[i]);
					merged[i] = merged[--m];
					merged[m] = NULL;
					break;
				}
			}
			cfg_strv_push(&merged, &m, xstrdup(*e));
		}
		strv_free(pc->env);
		pc->env = merged;
	}
	if (get_string(L, s, "directory", v, &pc->directory) && pc->directory &&
	    pc->directory[0] != '/') {
		kv = cfg_section_kv(s, "directory");
		ERR(L, kv->file, kv->line, "directory: '%s' is not an absolute path", pc->directory);
	}
	get_umask(L, s, "umask", v, &pc->umask);
	if (get_string(L, s, "user", v, &user) && user) {
		struct passwd *pw;
		long uid;

		kv = cfg_section_kv(s, "user");
		pw = parse_int(user, 0, INT_MAX, &uid) == 0 ? getpwuid((uid_t)uid) : getpwnam(user);
		if (!pw) {
			ERR(L, kv->file, kv->line, "user: no such user '%s'", user);
		} else {
			pc->user = xstrdup(pw->pw_name);
			pc->uid = pw->pw_uid;
			pc->gid = pw->pw_gid;
		}
	}
	get_duration(L, s, "restart_delay", v, &pc->restart_delay_ns);
	s_val = get_expanded(L, s, "backoff_factor", v, &kv, &failed);
	if (s_val) {
		char *end;
		double f;

		errno = 0;
		f = strtod(s_val, &end);
		if (errno || *end || !*s_val || !isfinite(f) || f < 1.0 || f > 100.0)
			ERR(L, kv->file, kv->line, "backoff_factor: '%s' is not a number from 1 to 100",
			    s_val);
		else
			pc->backoff_factor = f;
		free(s_val);
	}
	get_duration(L, s, "max_backoff", v, &pc->max_backoff_ns);
	get_duration(L, s, "backoff_reset_after", v, &pc->backoff_reset_after_ns);
	get_limits(L, s, v, pc);
	get_pool(L, s, v, pc);
	s_val = get_expanded(L, s, "depends_on", v, &kv, &failed);
	if (s_val) {
		split_names(s_val, &pc->depends_on);
		free(s_val);
	}
	if (!pc->depends_on)
		pc->depends_on = xcalloc(1, sizeof(char *));

	free(user);
	free(here);
	c->procs = xrealloc(c->procs, (c->nprocs + 1) * sizeof(*c->procs));
	c->procs[c->nprocs++] = pc;
}

static void build_program(struct loader *L, struct config *c, struct raw_section *s,
			  const char *program, const struct xvars *base)
{
	struct xvars v = *base;
	char *here = section_here(s);
	const char *group;
	long numprocs = 1, start = 0, nmin = 1, nmax = 0, initial = 0;
	struct raw_kv *pn, *kv;
	size_t first;

	v.here = here;
	check_keys(L, s, program_keys);
	if (!cfg_valid_name(program)) {
		ERR(L, s->file, s->line, "invalid program name '%s' (no ':', '/', ',' or spaces)",
		    program);
		free(here);
		return;
	}
	group = group_of(L, c, program, s);
	v.program_name = program;
	v.group_name = group ? group : program;
	kv = cfg_section_kv(s, "numprocs");
	if (kv && (strcmp(kv->value, "auto") == 0 || strcmp(kv->value, "auto:cpu") == 0 ||
		   strcmp(kv->value, "auto:io") == 0)) {
		/* the seeds' sizing: CPU-bound = one per CPU, I/O-bound = two per CPU */
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		numprocs = MIN(MAX(ncpu, 1) * (strcmp(kv->value, "auto:io") == 0 ? 2 : 1), MAX_NUMPROCS);
	} else {
		get_long(L, s, "numprocs", &v, 1, MAX_NUMPROCS, &numprocs);
	}
	get_long(L, s, "numprocs_start", &v, 0, INT_MAX - MAX_NUMPROCS, &start);
	/* a pool: numprocs_max instances exist, numprocs (or numprocs_min) run at first */
	if (cfg_section_kv(s, "numprocs_max") || cfg_section_kv(s, "numprocs_min")) {
		get_long(L, s, "numprocs_min", &v, 1, MAX_NUMPROCS, &nmin);
		get_long(L, s, "numprocs_max", &v, 1, MAX_NUMPROCS, &nmax);
		kv = cfg_section_kv(s, "numprocs_max") ? cfg_section_kv(s, "numprocs_max") : cfg_section_kv(s, "numprocs_min");
		if (!cfg_section_kv(s, "numprocs_max"))
			ERR(L, kv->file, kv->line, "numprocs_min needs numprocs_max (the pool's bounds)");
		else if (nmin > nmax)
			ERR(L, kv->file, kv->line, "numprocs_min (%ld) is above numprocs_max (%ld)", nmin, nmax);
		else {
			initial = cfg_section_kv(s, "numprocs") ? MIN(MAX(numprocs, nmin), nmax) : nmin;
			numprocs = nmax;
		}
	}
	pn = cfg_section_kv(s, "process_name");
	if (numprocs > 1 && (!pn || !strstr(pn->value, "%(process_num)"))) {
		ERR(L, pn ? pn->file : s->file, pn ? pn->line : s->line,
		    "numprocs = %ld needs %%(process_num) in process_name, e.g. "
		    "process_name = %%(program_name)s_%%(process_num)02d",
		    numprocs);
		numprocs = 1;
	}
	v.numprocs = numprocs;
	v.have_num = true;
	first = c->nprocs;
	for (long i = 0; i < numprocs; i++) {
		v.process_num = start + i;
		build_instance(L, c, s, program, group ? group : program, &v);
	}
	if (initial > 0) {
		long target = 70;
		int64_t interval = 5 * NSEC_PER_SEC, cooldown = -1;

		get_long(L, s, "scale_cpu_target", &v, 1, 1000, &target);
		get_duration(L, s, "scale_interval", &v, &interval);
		get_duration(L, s, "scale_cooldown", &v, &cooldown);
		if (interval < NSEC_PER_SEC / 10) {
			kv = cfg_section_kv(s, "scale_interval");
			ERR(L, kv ? kv->file : s->file, kv ? kv->line : s->line, "scale_interval: at least 0.1s");
		}
		for (size_t i = first; i < c->nprocs; i++) {
			struct proc_config *pc = c->procs[i];

			pc->pool_min = (int)nmin;
			pc->pool_max = (int)nmax;
			pc->scale_target = (int)target;
			pc->scale_interval_ns = interval;
			pc->scale_cooldown_ns = cooldown >= 0 ? cooldown : 3 * interval;
			if ((long)(i - first) >= initial) {
				pc->pool_spare = true;
				pc->autostart = false; /* started by the scaler or tend scale */
			}
		}
	}
	free(here);
}

static struct proc_config *first_of_program(struct config *c, const char *program)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (strcmp(c->procs[i]->program, program) == 0)
			return c->procs[i];
	return NULL;
}

/* depends_on: names must exist; no cycles (depth-first search over programs). */
static bool dep_visit(struct loader *L, struct config *c, struct proc_config *p, char *state,
		      char ***path, size_t *plen)
{
	size_t idx = 0;

	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i] == p)
			idx = i;
	if (state[idx] == 2)
		return true;
	if (state[idx] == 1) {
		struct sbuf b = SBUF_INIT;

		for (size_t i = 0; i < *plen; i++)
			sbuf_printf(&b, "%s -> ", (*path)[i]);
		sbuf_adds(&b, p->program);
		ERR(L, p->file, p->line, "depends_on cycle: %s", b.s);
		sbuf_done(&b);
		return false;
	}
	state[idx] = 1;
	cfg_strv_push(path, plen, xstrdup(p->program));
	for (char **d = p->depends_on; *d; d++) {
		struct proc_config *q = first_of_program(c, *d);

		if (q && !dep_visit(L, c, q, state, path, plen))
			return false;
	}
	free((*path)[--(*plen)]);
	(*path)[*plen] = NULL;
	state[idx] = 2;
	return true;
}

static void check_depends(struct loader *L, struct config *c)
{
	char *state = xcalloc(c->nprocs + 1, 1);
	char **path = xcalloc(1, sizeof(char *));
	size_t plen = 0;
	bool ok = true;

	for (size_t i = 0; i < c->nprocs; i++) {
		struct proc_config *p = c->procs[i];

		for (char **d = p->depends_on; *d; d++) {
			if (!first_of_program(c, *d)) {
				ok = false;
				ERR(L, p->file, p->line, "depends_on: '%s' (in [program:%s]) is not a program",
				    *d, p->program);
			} else if (strcmp(*d, p->program) == 0) {
				ok = false;
				ERR(L, p->file, p->line, "depends_on: program '%s' depends on itself",
				    p->program);
			}
		}
	}
	for (size_t i = 0; ok && i < c->nprocs; i++)
		if (first_of_program(c, c->procs[i]->program) == c->procs[i])
			ok = dep_visit(L, c, c->procs[i], state, &path, &plen);
	strv_free(path);
	free(state);
}

static void check_unique_names(struct loader *L, struct config *c)
{
	for (size_t i = 0; i < c->nprocs; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->procs[i]->fullname, c->procs[j]->fullname) == 0) {
				ERR(L, c->procs[i]->file, c->procs[i]->line,
				    "process name '%s' is used twice (also at %s:%d)", c->procs[i]->fullname,
				    c->procs[j]->file, c->procs[j]->line);
				break;
			}
		}
	}
}

static void add_implicit_groups(struct loader *L, struct config *c)
{
	for (size_t i = 0; i < c->ngroups; i++) {
		struct group_config *g = c->groups[i];

		for (char **p = g->programs; *p; p++)
			if (!first_of_program(c, *p))
				ERR(L, g->file, g->line, "[group:%s] lists '%s', which is not a program",
				    g->name, *p);
	}
	for (size_t i = 0; i < c->nprocs; i++) {
		struct proc_config *p = c->procs[i];
		struct group_config *g = group_find(c, p->group);

		if (g) {
			bool member = false;

			for (char **q = g->programs; *q; q++)
				member |= strcmp(*q, p->program) == 0;
			if (!member)
				ERR(L, p->file, p->line,
				    "program '%s' has the name of a group that does not list it", p->program);
			continue;
		}
		g = xcalloc(1, sizeof(*g));
		g->name = xstrdup(p->group);
		g->priority = p->priority;
		g->programs = xcalloc(2, sizeof(char *));
		g->programs[0] = xstrdup(p->program);
		g->file = xstrdup(p->file);
		g->line = p->line;
		c->groups = xrealloc(c->groups, (c->ngroups + 1) * sizeof(*c->groups));
		c->groups[c->ngroups++] = g;
	}
}

void cfg_build(struct loader *L, struct config *c)
{
	struct utsname u;
	struct xvars base = { 0 };

	uname(&u);
	base.host_node_name = u.nodename;
	base.here = c->here;

	/* daemon sections first, so [supervisord] environment reaches the programs */
	for (size_t i = 0; i < L->nsecs; i++) {
		struct raw_section *s = &L->secs[i];

		if (strcmp(s->name, "supervisord") == 0 || strcmp(s->name, "tend") == 0) {
			build_daemon(L, c, s, &base);
		}
	}
	for (size_t i = 0; i < L->nsecs; i++) {
		struct raw_section *s = &L->secs[i];

		if (strncmp(s->name, "group:", 6) == 0)
			build_group(L, c, s, s->name + 6, &base);
	}
	for (size_t i = 0; i < L->nsecs; i++) {
		struct raw_section *s = &L->secs[i];
		const char *n = s->name;

		if (strcmp(n, "supervisord") == 0 || strcmp(n, "tend") == 0 ||
		    strncmp(n, "group:", 6) == 0)
			continue;
		if (strncmp(n, "program:", 8) == 0)
			build_program(L, c, s, n + 8, &base);
		else if (strcmp(n, "unix_http_server") == 0)
			cfg_build_unix_http(L, c, s, &base);
		else if (strcmp(n, "supervisorctl") == 0)
			cfg_build_ctl(L, c, s, &base);
		else if (strcmp(n, "include") == 0)
			check_keys(L, s, include_keys);
		else if (strcmp(n, "inet_http_server") == 0)
			build_inet(L, c, s, &base);
		else if (strcmp(n, "rpcinterface:supervisor") == 0)
			; /* tend serves supervisord's XML-RPC interface itself (/RPC2) */
		else if (strncmp(n, "rpcinterface:", 13) == 0 ||
			 strncmp(n, "eventlistener:", 14) == 0 || strncmp(n, "fcgi-program:", 13) == 0 ||
			 strncmp(n, "ctlplugin:", 10) == 0)
			WARN(L, s->file, s->line, "[%s] is not supported by this version of tend; ignored", n);
		else
			WARN(L, s->file, s->line, "unknown section [%s] ignored", n);
	}
	add_implicit_groups(L, c);
	check_unique_names(L, c);
	check_depends(L, c);
	if (c->exit_with && !first_of_program(c, c->exit_with))
		ERR(L, c->exit_with_file, c->exit_with_line, "exit_with: '%s' is not a program", c->exit_with);
	c->exit_with_file = NULL; /* points into the loader's file list */
}
