/*
 * The value types of what a process is given and how it is run: environment,
 * command line, user, log destinations, exit codes, readiness checks and
 * sockets (the contract of each: types.c).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/evtypes.h"
#include "common/signames.h"
#include "common/util.h"
#include "config/config-internal.h"


/* KEY=VAL,KEY2="v, 2": merged into what the field holds, a later KEY replacing an earlier one. */
static bool env_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	const char *why;
	char **env;

	if (!value)
		return true;
	if (parse_environment(value, &env, &why) < 0) {
		cfg_key_error(x, k, "%s", why);
		return false;
	}
	for (char **e = env; *e; e++)
		cfg_env_set(field, *e);
	strv_free(env);
	return true;
}

const struct key_type kt_env = { .name = "KEY=VALUE list", .size = sizeof(char **),
	.parse = env_parse, .eq = cfg_strv_eq, .copy = cfg_strv_copy, .done = cfg_strv_done };

static bool env_key_ok(const char *k, size_t n)
{
	if (n == 0 || isdigit((unsigned char)k[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '.' && k[i] != '-')
			return false;
	return true;
}

/* One line of a .env file into kv ("KEY=VALUE"); false (and a message) when it is not one. */
static bool env_file_line(char *p, struct sbuf *kv, const char **ret_err)
{
	char *eq;
	size_t klen;

	if (strncmp(p, "export ", 7) == 0)
		p += 7 + strspn(p + 7, " \t");
	eq = strchr(p, '=');
	klen = eq ? (size_t)(eq - p) : 0;
	while (klen > 0 && isspace((unsigned char)p[klen - 1]))
		klen--;
	if (!eq || !env_key_ok(p, klen)) {
		*ret_err = "expected KEY=VALUE";
		return false;
	}
	sbuf_add(kv, p, klen);
	sbuf_addc(kv, '=');
	p = eq + 1 + strspn(eq + 1, " \t");
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1]) {
				p++;
				sbuf_addc(kv, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
			} else {
				sbuf_addc(kv, *p);
			}
		}
		if (*p != '"')
			*ret_err = "no closing quotation";
	} else if (*p == '\'') {
		char *end = strchr(p + 1, '\'');

		if (!end)
			*ret_err = "no closing quotation";
		else
			sbuf_add(kv, p + 1, (size_t)(end - p - 1));
	} else {
		char *hash = strstr(p, " #");

		if (hash)
			*hash = '\0';
		cfg_rstrip(p);
		sbuf_adds(kv, p);
	}
	return true;
}

/*
 * env_file: KEY=VALUE lines as in a .env file: blank lines and # comments,
 * an optional "export ", "double quotes" (with \\ \" \n \t \$ escapes),
 * 'single quotes' (literal), unquoted values trimmed and ended by " #".
 * "-PATH": a missing file is no error.  Merged into the field (the
 * environment row, which owns it); errors are reported at the env file's
 * own lines.
 */
static bool env_file_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			   void *field)
{
	bool optional = value && value[0] == '-';
	const char *p = value ? value + optional : NULL;
	char *path, *text = NULL, *save = NULL, *line;
	int r, lineno = 0;

	if (!value)
		return true;
	path = p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", x->here, p);
	r = read_file(path, MAX_CONFIG_BYTES, &text, NULL);
	if (r < 0) {
		if (!(optional && r == -ENOENT))
			cfg_key_error(x, k, "cannot read '%s': %s", path, strerror(-r));
		free(path);
		return optional && r == -ENOENT;
	}
	for (line = text; line; line = save) {
		char *nl = strchr(line, '\n');
		struct sbuf kv = SBUF_INIT;
		const char *err = NULL;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		line += strspn(line, " \t");
		cfg_rstrip(line);
		if (!*line || *line == '#')
			continue;
		if (env_file_line(line, &kv, &err))
			cfg_env_set(field, kv.s);
		if (err)
			ERR(x->L, path, lineno, "%s", err);
		sbuf_done(&kv);
	}
	free(text);
	free(path);
	return true;
}

/* The field is the environment row's: compared there too, freed only there. */
const struct key_type kt_env_file = { .name = "path", .size = sizeof(char **),
	.parse = env_file_parse, .eq = cfg_strv_eq };

/* A log destination: AUTO, NONE, -, tend's own stdout/stderr, or a file in an existing directory. */
static bool logdest_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			  void *field)
{
	struct log_dest *d = field;
	enum log_kind kind = LOGDEST_FILE;
	char *path = NULL;

	if (!value || strcasecmp(value, "AUTO") == 0)
		kind = LOGDEST_AUTO;
	else if (strcasecmp(value, "NONE") == 0 || !*value)
		kind = LOGDEST_NONE;
	else if (strcmp(value, "-") == 0)
		kind = LOGDEST_PREFIX;
	else if (strcmp(value, "/dev/stdout") == 0 || strcmp(value, "/dev/fd/1") == 0 ||
		 strcmp(value, "/proc/self/fd/1") == 0)
		kind = LOGDEST_STDOUT;
	else if (strcmp(value, "/dev/stderr") == 0 || strcmp(value, "/dev/fd/2") == 0 ||
		 strcmp(value, "/proc/self/fd/2") == 0)
		kind = LOGDEST_STDERR;
	if (kind == LOGDEST_FILE) {
		char *dir;
		struct stat st;
		bool ok;

		path = value[0] == '/' ? xstrdup(value) : xasprintf("%s/%s", x->here, value);
		dir = cfg_dir_of(path);
		ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
		free(dir);
		if (!ok) {
			cfg_key_error(x, k, "the directory of '%s' does not exist", value);
			free(path);
			return false;
		}
	}
	free(d->path);
	d->kind = kind;
	d->path = path;
	return true;
}

/* kind and path; the size, backups and rotation are rows of their own */
static bool logdest_eq(const struct key_def *k, const void *a, const void *b)
{
	const struct log_dest *da = a, *db = b;

	(void)k;
	return da->kind == db->kind && cfg_str_eq(da->path, db->path);
}

static void logdest_done(const struct key_def *k, void *field)
{
	struct log_dest *d = field;

	(void)k;
	free(d->path);
	d->path = NULL;
}

const struct key_type kt_logdest = { .name = "log destination", .size = sizeof(struct log_dest),
	.parse = logdest_parse, .eq = logdest_eq, .done = logdest_done };

/* ---- program keys that set more than one field ----------------------------- */

/* The fields first..last of struct prog_config, adjacent in it: moved from a parsed copy, or cleared. */
#define FIELDS_SIZE(first, last) \
	(offsetof(struct prog_config, last) + sizeof(((struct prog_config *)0)->last) - \
	 offsetof(struct prog_config, first))
#define FIELDS_MOVE(pc, n, first, last) memcpy(&(pc)->first, &(n)->first, FIELDS_SIZE(first, last))
#define FIELDS_CLEAR(pc, first, last) memset(&(pc)->first, 0, FIELDS_SIZE(first, last))

static bool command_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			  void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, command);
	const char *why;
	char **argv = NULL;

	if (value && split_command(value, &argv, &why) < 0) {
		cfg_key_error(x, k, "%s", why);
		return false;
	}
	cfg_string_set(&pc->command, value ? xstrdup(value) : NULL);
	strv_free(pc->argv);
	pc->argv = argv;
	return true;
}

/* Compared by argv: re-spacing the command runs the same process. */
static bool command_eq(const struct key_def *k, const void *a, const void *b)
{
	(void)k;
	return strv_equal(container_of(a, struct prog_config, command)->argv,
			  container_of(b, struct prog_config, command)->argv);
}

static void command_done(const struct key_def *k, void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, command);

	(void)k;
	free(pc->command);
	strv_free(pc->argv);
	pc->command = NULL;
	pc->argv = NULL;
}

const struct key_type kt_command = { .name = "command line", .size = sizeof(char *),
	.parse = command_parse, .eq = command_eq, .done = command_done };

static bool procname_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			   void *field)
{
	if (value && !cfg_valid_name(value)) {
		cfg_key_error(x, k, "'%s' is not a valid name (no ':', '/', ',' or spaces)", value);
		return false;
	}
	return cfg_string_parse(x, k, value, field);
}

const struct key_type kt_procname = { .name = "name", .size = sizeof(char *),
	.parse = procname_parse, .eq = cfg_string_eq, .done = cfg_string_done };

/* value, a user name or uid, as *ret (NULL for no value); false, with the error said, when there is no such user */
bool cfg_user_lookup(const struct key_ctx *x, const struct key_def *k, const char *value, struct passwd **ret)
{
	long uid;

	*ret = NULL;
	if (!value)
		return true;
	*ret = parse_int(value, 0, INT_MAX, &uid) == 0 ? getpwuid((uid_t)uid) : getpwnam(value);
	if (!*ret)
		cfg_key_error(x, k, "no such user '%s'", value);
	return *ret != NULL;
}

/* A user name or uid: user, uid and gid. */
static bool user_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, user);
	struct passwd *pw;

	if (!cfg_user_lookup(x, k, value, &pw))
		return false;
	cfg_string_set(&pc->user, pw ? xstrdup(pw->pw_name) : NULL);
	pc->uid = pw ? pw->pw_uid : 0;
	pc->gid = pw ? pw->pw_gid : 0;
	return true;
}

static bool user_eq(const struct key_def *k, const void *a, const void *b)
{
	const struct prog_config *pa = container_of(a, struct prog_config, user);
	const struct prog_config *pb = container_of(b, struct prog_config, user);

	(void)k;
	return cfg_str_eq(pa->user, pb->user) && pa->uid == pb->uid && pa->gid == pb->gid;
}

const struct key_type kt_user = { .name = "user", .size = sizeof(char *), .parse = user_parse,
	.eq = user_eq, .done = cfg_string_done };

static bool exitcodes_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			    void *field)
{
	uint64_t bits[4] = { 0 };

	if (value && cfg_parse_exitcodes(value, bits) < 0) {
		cfg_key_error(x, k, "'%s' is not a list of codes 0-255", value);
		return false;
	}
	memcpy(field, bits, sizeof(bits));
	return true;
}

const struct key_type kt_exitcodes = { .name = "exit codes", .size = 4 * sizeof(uint64_t),
	.parse = exitcodes_parse };

static void listen_done(const struct key_def *k, void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, listen);

	(void)k;
	free(pc->listen);
	free(pc->listen_host);
	free(pc->listen_path);
	FIELDS_CLEAR(pc, listen, listen_path); /* LISTEN_NONE */
}

/* listen = tcp://[HOST:]PORT or unix:PATH */
static bool listen_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			 void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, listen);
	struct prog_config n = { .listen = value ? xstrdup(value) : NULL };
	const char *path = NULL;

	if (value && strncmp(value, "unix:", 5) == 0)
		path = value + 5 + (strncmp(value + 5, "//", 2) == 0 ? 2 : 0);
	if (value && strncmp(value, "tcp://", 6) == 0 &&
	    cfg_parse_hostport(value + 6, &n.listen_host, &n.listen_port) == 0) {
		n.listen_kind = LISTEN_TCP;
	} else if (path && *path && strlen(path) < 108) {
		n.listen_kind = LISTEN_UNIX;
		n.listen_path = xstrdup(path);
	} else if (value) {
		cfg_key_error(x, k, "'%s' is not tcp://[HOST:]PORT or unix:PATH", value);
		free(n.listen);
		return false;
	}
	listen_done(k, field);
	FIELDS_MOVE(pc, &n, listen, listen_path);
	return true;
}

const struct key_type kt_listen = { .name = "socket address", .size = sizeof(char *),
	.parse = listen_parse, .eq = cfg_string_eq, .done = listen_done };

static void ready_done(const struct key_def *k, void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, ready);

	(void)k;
	free(pc->ready);
	free(pc->ready_host);
	free(pc->ready_path);
	strv_free(pc->ready_argv);
	FIELDS_CLEAR(pc, ready, ready_argv); /* READY_NONE */
}

/* ready = tcp:[HOST:]PORT, http://HOST:PORT/path, exec:COMMAND or notify */
static bool ready_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, ready);
	struct prog_config n = { .ready_kind = READY_NONE };
	const char *err = NULL;

	if (!value) {
		;
	} else if (strncmp(value, "tcp:", 4) == 0 &&
		   cfg_parse_hostport(value + 4, &n.ready_host, &n.ready_port) == 0) {
		n.ready_kind = READY_TCP;
	} else if (strncmp(value, "http://", 7) == 0) {
		const char *slash = strchr(value + 7, '/');
		char *hp = xstrndup(value + 7, slash ? (size_t)(slash - value - 7) : strlen(value + 7));

		if (strchr(hp, ':') && cfg_parse_hostport(hp, &n.ready_host, &n.ready_port) == 0) {
			n.ready_kind = READY_HTTP;
			n.ready_path = xstrdup(slash ? slash : "/");
		} else {
			err = "is not http://HOST:PORT/path";
		}
		free(hp);
	} else if (strncmp(value, "exec:", 5) == 0 && value[5]) {
		if (split_command(value + 5, &n.ready_argv, &err) < 0) {
			cfg_key_error(x, k, "exec: %s", err);
			return false;
		}
		n.ready_kind = READY_EXEC;
	} else if (strcmp(value, "notify") == 0) {
		n.ready_kind = READY_NOTIFY;
	} else {
		err = "is not tcp:PORT, http://HOST:PORT/path, exec:COMMAND or notify";
	}
	if (err) {
		cfg_key_error(x, k, "'%s' %s", value, err);
		return false;
	}
	n.ready = value ? xstrdup(value) : NULL;
	ready_done(k, field);
	FIELDS_MOVE(pc, &n, ready, ready_argv);
	return true;
}

const struct key_type kt_ready = { .name = "readiness check", .size = sizeof(char *),
	.parse = ready_parse, .eq = cfg_string_eq, .done = ready_done };

/* [fcgi-program:x] socket = tcp://HOST:PORT or unix:///ABSOLUTE/PATH (supervisord's forms), into the listen block */
static bool fcgi_socket_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			      void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, listen);
	struct prog_config n = { .listen = value ? xstrdup(value) : NULL };
	const char *colon = value ? strrchr(value, ':') : NULL;

	if (value && strncmp(value, "unix://", 7) == 0 && value[7] == '/' && strlen(value + 7) < 108) {
		n.listen_kind = LISTEN_UNIX;
		n.listen_path = xstrdup(value + 7);
	} else if (value && strncmp(value, "tcp://", 6) == 0 && colon > value + 6 && !strchr(value, ' ') &&
		   cfg_parse_hostport(value + 6, &n.listen_host, &n.listen_port) == 0) {
		n.listen_kind = LISTEN_TCP;
	} else if (value) {
		cfg_key_error(x, k, "'%s' is not tcp://HOST:PORT or unix:///ABSOLUTE/PATH", value);
		free(n.listen);
		return false;
	}
	listen_done(k, field);
	FIELDS_MOVE(pc, &n, listen, listen_path);
	return true;
}

const struct key_type kt_fcgi_socket = { .name = "socket address", .size = sizeof(char *),
	.parse = fcgi_socket_parse, .eq = cfg_string_eq, .done = listen_done };

