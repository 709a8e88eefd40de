/*
 * The value types of the key tables (keys.c): how a row's field is parsed,
 * compared, copied and freed.  Each parse function follows one contract
 * (config-internal.h, struct key_type): it replaces the field only on
 * success, and reports an invalid value itself at the key's file:line.
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

void cfg_key_error(const struct key_ctx *x, const struct key_def *k, const char *fmt, ...)
{
	const char *file = x->kv ? x->kv->file : x->s->file;
	int line = x->kv ? x->kv->line : x->s->line;
	struct sbuf b = SBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	ERR(x->L, file, line, "%s: %s", k->name, b.s);
	sbuf_done(&b);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* ---- scalars: a number in a field of 1, 4 or 8 bytes ------------------------ */

static void scalar_store(void *field, size_t size, long long v)
{
	if (size == sizeof(int64_t)) {
		int64_t t = v;

		memcpy(field, &t, sizeof(t));
	} else if (size == sizeof(int32_t)) {
		int32_t t = (int32_t)v;

		memcpy(field, &t, sizeof(t));
	} else {
		*(bool *)field = v != 0;
	}
}

/*
 * The parse of every scalar type: its conv turns the value into a number
 * (absent: the row's unset); expect, or what, says what was expected instead.
 */
static bool scalar_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	long long v = k->unset;

	if (value && k->type->conv(k, value, &v) < 0) {
		struct sbuf b = SBUF_INIT;

		if (k->type->what)
			k->type->what(k, &b);
		else
			sbuf_adds(&b, k->type->expect);
		cfg_key_error(x, k, "'%s' is not %s", value, b.s);
		sbuf_done(&b);
		return false;
	}
	scalar_store(field, k->size, v);
	return true;
}

static int bool_conv(const struct key_def *k, const char *s, long long *ret)
{
	bool b;

	(void)k;
	if (parse_bool(s, &b) < 0)
		return -EINVAL;
	*ret = b;
	return 0;
}

const struct key_type kt_bool = { .name = "bool", .size = sizeof(bool), .parse = scalar_parse,
	.conv = bool_conv, .expect = "a boolean (true/false, yes/no, on/off, 1/0)" };

static int int_conv(const struct key_def *k, const char *s, long long *ret)
{
	long v;

	if (parse_int(s, (long)k->min, (long)k->max, &v) < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void int_what(const struct key_def *k, struct sbuf *b)
{
	sbuf_printf(b, "an integer between %lld and %lld", k->min, k->max);
}

const struct key_type kt_int = { .name = "integer", .parse = scalar_parse, .conv = int_conv,
	.what = int_what };

/* numprocs: an integer, or auto (one per CPU, CPU-bound work) / auto:io (two per CPU). */
static int numprocs_conv(const struct key_def *k, const char *s, long long *ret)
{
	if (strcmp(s, "auto") == 0 || strcmp(s, "auto:cpu") == 0 || strcmp(s, "auto:io") == 0) {
		/* sysconf reads sysfs: only when asked */
		long ncpu = MAX(sysconf(_SC_NPROCESSORS_ONLN), 1);

		*ret = MIN(ncpu * (strcmp(s, "auto:io") == 0 ? 2 : 1), k->max);
		return 0;
	}
	return int_conv(k, s, ret);
}

static void numprocs_what(const struct key_def *k, struct sbuf *b)
{
	int_what(k, b);
	sbuf_adds(b, ", auto or auto:io");
}

const struct key_type kt_numprocs = { .name = "integer, auto or auto:io", .parse = scalar_parse,
	.conv = numprocs_conv, .what = numprocs_what };

/* A duration in ns, at least k->min. */
static int duration_conv(const struct key_def *k, const char *s, long long *ret)
{
	int64_t ns;

	if (parse_duration_ns(s, &ns) < 0 || ns < k->min)
		return -EINVAL;
	*ret = ns;
	return 0;
}

static void duration_what(const struct key_def *k, struct sbuf *b)
{
	if (k->min > 0)
		sbuf_printf(b, "a duration of at least %gs", (double)k->min / 1e9);
	else
		sbuf_adds(b, "a duration (seconds, or a number with ms, s, m, h, d)");
}

const struct key_type kt_duration = { .name = "duration", .size = sizeof(int64_t),
	.parse = scalar_parse, .conv = duration_conv, .what = duration_what };

/* A size in bytes: 0 (none, never) or at least k->min. */
static int size_conv(const struct key_def *k, const char *s, long long *ret)
{
	uint64_t v;

	if (parse_size(s, &v) < 0 || (v && v < (uint64_t)k->min))
		return -EINVAL;
	memcpy(ret, &v, sizeof(v));
	return 0;
}

static void size_what(const struct key_def *k, struct sbuf *b)
{
	static const char units[] = "KMGT";
	unsigned long long v = (unsigned long long)k->min;
	int u = -1;

	if (!v) {
		sbuf_adds(b, "a size such as 50MB");
		return;
	}
	while (u < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	sbuf_printf(b, "a size of at least %llu%.*s (e.g. 256M, 1G)", v, u >= 0 ? 1 : 0, u >= 0 ? &units[u] : "");
}

const struct key_type kt_size = { .name = "size", .size = sizeof(uint64_t), .parse = scalar_parse,
	.conv = size_conv, .what = size_what };

static int signal_conv(const struct key_def *k, const char *s, long long *ret)
{
	int sig = sig_from_name(s);

	(void)k;
	if (sig >= 0)
		*ret = sig;
	return sig >= 0 ? 0 : -EINVAL;
}

const struct key_type kt_signal = { .name = "signal", .size = sizeof(int), .parse = scalar_parse,
	.conv = signal_conv, .expect = "a signal name or number" };

static int octal_conv(const struct key_def *k, const char *s, long long *ret)
{
	long m;

	if (cfg_parse_octal(s, (long)k->max, &m) < 0)
		return -EINVAL;
	*ret = m;
	return 0;
}

static void octal_what(const struct key_def *k, struct sbuf *b)
{
	sbuf_printf(b, "an octal mode such as %s", k->example);
}

const struct key_type kt_octal = { .name = "octal mode", .parse = scalar_parse, .conv = octal_conv,
	.what = octal_what };

static const struct key_word *word_find(const struct key_def *k, const char *value)
{
	for (const struct key_word *w = k->words; w->word; w++)
		if (strcasecmp(w->word, value) == 0)
			return w;
	return NULL;
}

static bool word_is_alias(const struct key_def *k, const struct key_word *w)
{
	for (const struct key_word *e = k->words; e < w; e++)
		if (e->value == w->value)
			return true;
	return !*w->word;
}

/* "a, b or c": the words of an enum, aliases left out. */
static void words_what(const struct key_def *k, struct sbuf *b)
{
	size_t n = 0, i = 0;

	for (const struct key_word *w = k->words; w->word; w++)
		n += !word_is_alias(k, w);
	for (const struct key_word *w = k->words; w->word; w++) {
		if (word_is_alias(k, w))
			continue;
		i++;
		sbuf_printf(b, "%s%s", w->word, i + 1 < n ? ", " : i + 1 == n ? " or " : "");
	}
}

static int enum_conv(const struct key_def *k, const char *s, long long *ret)
{
	const struct key_word *w = word_find(k, s);

	if (!w)
		return -EINVAL;
	*ret = w->value;
	return 0;
}

const struct key_type kt_enum = { .name = "word", .parse = scalar_parse, .conv = enum_conv,
	.what = words_what };

/* cpu_quota: "50%" or "1.5" (CPUs), as percent of one CPU. */
static int cpu_quota_conv(const struct key_def *k, const char *s, long long *ret)
{
	char *end;
	double pct;

	(void)k;
	errno = 0;
	pct = strtod(s, &end);
	if (*end == '%')
		end++;
	else
		pct *= 100; /* "1.5" = one and a half CPUs */
	if (errno || *end || end == s || !(pct >= 1 && pct <= 100000))
		return -EINVAL;
	*ret = (long long)pct;
	return 0;
}

const struct key_type kt_cpu_quota = { .name = "CPU share", .size = sizeof(unsigned),
	.parse = scalar_parse, .conv = cpu_quota_conv, .expect = "a share of CPU such as 50% or 1.5" };

/* RLIMIT_CORE: a size, or unlimited (-2); unset: inherit (-1). */
static int core_conv(const struct key_def *k, const char *s, long long *ret)
{
	uint64_t bytes;

	(void)k;
	if (strcasecmp(s, "unlimited") == 0 || strcasecmp(s, "infinity") == 0)
		*ret = -2;
	else if (parse_size(s, &bytes) == 0 && bytes < (1ULL << 62))
		*ret = (long long)bytes;
	else
		return -EINVAL;
	return 0;
}

const struct key_type kt_core = { .name = "size or unlimited", .size = sizeof(long long),
	.parse = scalar_parse, .conv = core_conv, .expect = "a size or unlimited" };

static bool double_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			 void *field)
{
	double f = (double)k->unset;
	char *end;

	if (value) {
		errno = 0;
		f = strtod(value, &end);
		if (errno || *end || !*value || !isfinite(f) || f < (double)k->min || f > (double)k->max) {
			cfg_key_error(x, k, "'%s' is not a number from %lld to %lld", value, k->min, k->max);
			return false;
		}
	}
	*(double *)field = f;
	return true;
}

const struct key_type kt_double = { .name = "number", .size = sizeof(double), .parse = double_parse };

/* ---- strings -------------------------------------------------------------- */

static void string_set(void *field, char *s)
{
	free(*(char **)field);
	*(char **)field = s;
}

static bool string_eq(const struct key_def *k, const void *a, const void *b)
{
	(void)k;
	return str_eq(*(char *const *)a, *(char *const *)b);
}

static void string_copy(const struct key_def *k, void *dst, const void *src)
{
	const char *s = *(char *const *)src;

	(void)k;
	*(char **)dst = s ? xstrdup(s) : NULL;
}

static void string_done(const struct key_def *k, void *field)
{
	(void)k;
	free(*(char **)field);
	*(char **)field = NULL;
}

static bool string_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			 void *field)
{
	(void)x;
	(void)k;
	string_set(field, value ? xstrdup(value) : NULL);
	return true;
}

const struct key_type kt_string = { .name = "string", .size = sizeof(char *), .parse = string_parse,
	.eq = string_eq, .copy = string_copy, .done = string_done };

/* A path; a relative one is relative to the directory of the file that says it. */
static bool path_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	(void)k;
	if (!value)
		string_set(field, NULL);
	else
		string_set(field, value[0] == '/' ? xstrdup(value) : xasprintf("%s/%s", x->here, value));
	return true;
}

const struct key_type kt_path = { .name = "path", .size = sizeof(char *), .parse = path_parse,
	.eq = string_eq, .copy = string_copy, .done = string_done };

static bool abspath_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			  void *field)
{
	if (value && value[0] != '/') {
		cfg_key_error(x, k, "'%s' is not an absolute path", value);
		return false;
	}
	return string_parse(x, k, value, field);
}

const struct key_type kt_abspath = { .name = "absolute path", .size = sizeof(char *),
	.parse = abspath_parse, .eq = string_eq, .copy = string_copy, .done = string_done };

/* An existing directory; unset: $TMPDIR, else /tmp (supervisord's childlogdir). */
static bool dir_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	if (!value) {
		string_set(field, xstrdup(tmp && *tmp == '/' ? tmp : "/tmp"));
		return true;
	}
	if (stat(value, &st) < 0 || !S_ISDIR(st.st_mode)) {
		cfg_key_error(x, k, "'%s' is not a directory", value);
		return false;
	}
	return string_parse(x, k, value, field);
}

const struct key_type kt_dir = { .name = "directory", .size = sizeof(char *), .parse = dir_parse,
	.eq = string_eq, .copy = string_copy, .done = string_done };

/* One of k->words, kept as the table writes it. */
static bool choice_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			 void *field)
{
	const struct key_word *w = value ? word_find(k, value) : NULL;

	if (value && !w) {
		struct sbuf b = SBUF_INIT;

		words_what(k, &b);
		cfg_key_error(x, k, "'%s' is not %s", value, b.s);
		sbuf_done(&b);
		return false;
	}
	return string_parse(x, k, w ? w->word : NULL, field);
}

const struct key_type kt_choice = { .name = "word", .size = sizeof(char *), .parse = choice_parse,
	.eq = string_eq, .copy = string_copy, .done = string_done };

/* ---- string vectors -------------------------------------------------------- */

static bool strv_eq(const struct key_def *k, const void *a, const void *b)
{
	char *const *va = *(char **const *)a, *const *vb = *(char **const *)b;

	(void)k;
	/* no vector and an empty one are the same setting */
	if (!va || !vb)
		return strv_len(va) == strv_len(vb);
	return strv_equal(va, vb);
}

static void strv_copy(const struct key_def *k, void *dst, const void *src)
{
	(void)k;
	*(char ***)dst = strv_dup(*(char **const *)src);
}

static void strv_done(const struct key_def *k, void *field)
{
	(void)k;
	strv_free(*(char ***)field);
	*(char ***)field = NULL;
}

/* Names separated by commas or blanks; unset: none (an empty vector). */
static bool names_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	char *copy = xstrdup(value ? value : ""), *save = NULL;
	char **v = xcalloc(1, sizeof(*v));
	size_t n = 0;

	(void)x;
	(void)k;
	for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
		cfg_strv_push(&v, &n, xstrdup(t));
	free(copy);
	strv_free(*(char ***)field);
	*(char ***)field = v;
	return true;
}

const struct key_type kt_names = { .name = "names", .size = sizeof(char **), .parse = names_parse,
	.eq = strv_eq, .copy = strv_copy, .done = strv_done };

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
	.parse = env_parse, .eq = strv_eq, .copy = strv_copy, .done = strv_done };

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
	.parse = env_file_parse, .eq = strv_eq };

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
	return da->kind == db->kind && str_eq(da->path, db->path);
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
	string_set(&pc->command, value ? xstrdup(value) : NULL);
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
	return string_parse(x, k, value, field);
}

const struct key_type kt_procname = { .name = "name", .size = sizeof(char *),
	.parse = procname_parse, .eq = string_eq, .done = string_done };

/* value, a user name or uid, as *ret (NULL for no value); false, with the error said, when there is no such user */
static bool user_lookup(const struct key_ctx *x, const struct key_def *k, const char *value, struct passwd **ret)
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

	if (!user_lookup(x, k, value, &pw))
		return false;
	string_set(&pc->user, pw ? xstrdup(pw->pw_name) : NULL);
	pc->uid = pw ? pw->pw_uid : 0;
	pc->gid = pw ? pw->pw_gid : 0;
	return true;
}

static bool user_eq(const struct key_def *k, const void *a, const void *b)
{
	const struct prog_config *pa = container_of(a, struct prog_config, user);
	const struct prog_config *pb = container_of(b, struct prog_config, user);

	(void)k;
	return str_eq(pa->user, pb->user) && pa->uid == pb->uid && pa->gid == pb->gid;
}

const struct key_type kt_user = { .name = "user", .size = sizeof(char *), .parse = user_parse,
	.eq = user_eq, .done = string_done };

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
	.parse = listen_parse, .eq = string_eq, .done = listen_done };

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
	.parse = ready_parse, .eq = string_eq, .done = ready_done };

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
	.parse = fcgi_socket_parse, .eq = string_eq, .done = listen_done };

/* socket_owner = USER[:GROUP] (supervisord's colon_separated_user_group) */
static bool owner_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	struct prog_config *pc = container_of(field, struct prog_config, socket_uid);
	char *user = value ? xstrdup(value) : NULL, *group = user ? strchr(user, ':') : NULL;
	struct passwd *pw = NULL;
	long id;
	int gid = -1;

	if (group)
		*group++ = '\0';
	if (user) {
		pw = parse_int(user, 0, INT_MAX, &id) == 0 ? getpwuid((uid_t)id) : getpwnam(user);
		if (!pw) {
			cfg_key_error(x, k, "no such user '%s'", user);
			free(user);
			return false;
		}
		gid = (int)pw->pw_gid;
		if (group) {
			struct group *gr = parse_int(group, 0, INT_MAX, &id) == 0 ? getgrgid((gid_t)id) : getgrnam(group);

			if (!gr) {
				cfg_key_error(x, k, "no such group '%s'", group);
				free(user);
				return false;
			}
			gid = (int)gr->gr_gid;
		}
	}
	pc->socket_uid = pw ? (int)pw->pw_uid : -1;
	pc->socket_gid = pw ? gid : -1;
	free(user);
	return true;
}

static bool owner_eq(const struct key_def *k, const void *a, const void *b)
{
	const struct prog_config *pa = container_of(a, struct prog_config, socket_uid);
	const struct prog_config *pb = container_of(b, struct prog_config, socket_uid);

	(void)k;
	return pa->socket_uid == pb->socket_uid && pa->socket_gid == pb->socket_gid;
}

const struct key_type kt_owner = { .name = "user[:group]", .size = sizeof(int), .parse = owner_parse,
	.eq = owner_eq };

/* [unix_http_server] chown = USER[:GROUP]: the socket's owner and group */
static bool chown_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	struct config *c = container_of(field, struct config, socket_uid);
	struct prog_config t = { .socket_uid = -1, .socket_gid = -1 };

	if (!owner_parse(x, k, value, &t.socket_uid))
		return false;
	c->socket_uid = t.socket_uid;
	c->socket_gid = t.socket_gid;
	return true;
}

static bool chown_eq(const struct key_def *k, const void *a, const void *b)
{
	(void)k;
	return container_of(a, struct config, socket_uid)->socket_uid ==
		       container_of(b, struct config, socket_uid)->socket_uid &&
	       container_of(a, struct config, socket_uid)->socket_gid ==
		       container_of(b, struct config, socket_uid)->socket_gid;
}

const struct key_type kt_chown = { .name = "user[:group]", .size = sizeof(int), .parse = chown_parse,
	.eq = chown_eq };

/* [supervisord] user = NAME or UID: tend itself runs as it */
static bool daemon_user_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	struct config *c = container_of(field, struct config, daemon_user);
	struct passwd *pw;

	if (!user_lookup(x, k, value, &pw))
		return false;
	string_set(&c->daemon_user, pw ? xstrdup(pw->pw_name) : NULL);
	c->daemon_uid = pw ? pw->pw_uid : 0;
	c->daemon_gid = pw ? pw->pw_gid : 0;
	return true;
}

const struct key_type kt_daemon_user = { .name = "user", .size = sizeof(char *), .parse = daemon_user_parse,
	.eq = string_eq, .copy = string_copy, .done = string_done };

/* serverurl = URL, or AUTO (tend's own socket): SUPERVISOR_SERVER_URL of the program */
static bool serverurl_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	if (value && strcasecmp(value, "auto") == 0)
		value = NULL;
	return string_parse(x, k, value, field);
}

const struct key_type kt_serverurl = { .name = "URL", .size = sizeof(char *), .parse = serverurl_parse,
	.eq = string_eq, .copy = string_copy, .done = string_done };

/* events = supervisord's event type names (concrete or abstract), comma separated */
static bool events_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	uint32_t mask = 0;
	char bad[64];
	int r;

	if (value) {
		r = evtype_mask_parse(value, &mask, bad, sizeof(bad));
		if (r == -ENODATA) {
			cfg_key_error(x, k, "names no event type");
			return false;
		}
		if (r < 0) {
			cfg_key_error(x, k, "unknown event type '%s' (PROCESS_STATE, PROCESS_STATE_EXITED, "
					    "PROCESS_LOG, TICK_60, EVENT... as supervisord names them)", bad);
			return false;
		}
	}
	memcpy(field, &mask, sizeof(mask));
	return true;
}

const struct key_type kt_events = { .name = "event types", .size = sizeof(uint32_t), .parse = events_parse };

/* result_handler: a handler tend knows (the row's words), else it says why it cannot run it */
static int result_handler_conv(const struct key_def *k, const char *s, long long *ret)
{
	return enum_conv(k, s, ret);
}

static void result_handler_what(const struct key_def *k, struct sbuf *b)
{
	(void)k;
	sbuf_adds(b, "a result handler tend has (it cannot run supervisord's Python code): "
		     "supervisor.dispatchers:default_handler or supervisor_stdout:event_handler");
}

const struct key_type kt_result_handler = { .name = "handler", .parse = scalar_parse,
	.conv = result_handler_conv, .what = result_handler_what };

/* ---- maps= ------------------------------------------------------------------ */

static void maps_free(struct map_spec *v)
{
	for (struct map_spec *m = v; m && m->name; m++)
		free(m->name);
	free(v);
}

static bool maps_eq(const struct key_def *k, const void *a, const void *b)
{
	const struct map_spec *va = *(struct map_spec *const *)a, *vb = *(struct map_spec *const *)b;
	size_t i;

	(void)k;
	for (i = 0; va && vb && va[i].name && vb[i].name; i++) {
		if (strcmp(va[i].name, vb[i].name) != 0 || va[i].size != vb[i].size ||
		    va[i].items != vb[i].items || va[i].max_value != vb[i].max_value ||
		    va[i].noevict != vb[i].noevict || va[i].mode != vb[i].mode)
			return false;
	}
	/* none and an empty list are the same setting */
	return !(va && va[i].name) && !(vb && vb[i].name);
}

static void maps_copy(const struct key_def *k, void *dst, const void *src)
{
	const struct map_spec *v = *(struct map_spec *const *)src;
	struct map_spec *n = NULL;
	size_t len = 0;

	(void)k;
	if (v) {
		while (v[len].name)
			len++;
		n = xcalloc(len + 1, sizeof(*n));
		for (size_t i = 0; i < len; i++) {
			n[i] = v[i];
			n[i].name = xstrdup(v[i].name);
		}
	}
	*(struct map_spec **)dst = n;
}

static void maps_done(const struct key_def *k, void *field)
{
	(void)k;
	maps_free(*(struct map_spec **)field);
	*(struct map_spec **)field = NULL;
}

/* One OPTION of NAME:SIZE:OPTION...: NULL, or what is wrong with it. */
static const char *map_option(struct map_spec *m, const char *o)
{
	uint64_t v;
	long mode;

	if (strcmp(o, "noevict") == 0) {
		m->noevict = true;
	} else if (strncmp(o, "items=", 6) == 0) {
		if (parse_size(o + 6, &v) < 0 || v < 1 || v > (1u << 30))
			return "items= is not a number 1..1G";
		m->items = v;
	} else if (strncmp(o, "value=", 6) == 0) {
		if (parse_size(o + 6, &v) < 0 || v < 1 || v > (1u << 24))
			return "value= is not a size 1..16M";
		m->max_value = v;
	} else if (strncmp(o, "mode=", 5) == 0) {
		if (cfg_parse_octal(o + 5, 0777, &mode) < 0 || (mode != 0600 && mode != 0640 && mode != 0660))
			return "mode= is not 0600, 0640 or 0660";
		m->mode = (unsigned)mode;
	} else {
		return "unknown option (items=N, value=SIZE, mode=0660, noevict)";
	}
	return NULL;
}

/* One NAME:SIZE[:OPTION]... into m: NULL, or what is wrong with it. */
static const char *map_entry(struct map_spec *m, char *e)
{
	char *save = NULL, *name = strtok_r(e, ":", &save), *size = strtok_r(NULL, ":", &save), *o;
	const char *why;
	size_t n;

	if (!name || !size)
		return "is not NAME:SIZE[:OPTION]...";
	n = strlen(name);
	if (n > MAP_NAME_MAX || !islower((unsigned char)name[0]))
		return "the name is not [a-z][a-z0-9_]* of at most 24 bytes";
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) && name[i] != '_')
			return "the name is not [a-z][a-z0-9_]* of at most 24 bytes";
	if (parse_size(size, &m->size) < 0 || m->size < (64u << 10) || m->size > ((uint64_t)64 << 30))
		return "the size is not 64K..64G";
	m->items = m->size / 128;
	m->max_value = 4096;
	m->mode = 0600;
	while ((o = strtok_r(NULL, ":", &save)))
		if ((why = map_option(m, o)))
			return why;
	m->name = xstrdup(name);
	return NULL;
}

/* maps = NAME:SIZE[:OPTION]..., ...  (sessions:64M, flags:1M:value=256:noevict) */
static bool maps_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	char *copy = xstrdup(value ? value : ""), *save = NULL;
	struct map_spec *v = xcalloc(1, sizeof(*v));
	size_t n = 0;

	for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save)) {
		char *entry = xstrdup(t);
		struct map_spec m = { 0 };
		const char *why = map_entry(&m, entry);

		for (size_t i = 0; !why && i < n; i++)
			if (strcmp(v[i].name, m.name) == 0)
				why = "the name is there twice";
		free(entry);
		if (why) {
			cfg_key_error(x, k, "'%s': %s", t, why);
			free(m.name);
			maps_free(v);
			free(copy);
			return false;
		}
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = m;
		memset(&v[n], 0, sizeof(v[n]));
	}
	free(copy);
	maps_free(*(struct map_spec **)field);
	if (n == 0) {
		free(v);
		v = NULL;
	}
	*(struct map_spec **)field = v;
	return true;
}

const struct key_type kt_maps = { .name = "map list", .size = sizeof(struct map_spec *), .parse = maps_parse,
	.eq = maps_eq, .copy = maps_copy, .done = maps_done };

/* ---- [supervisord]-level keys that set more than one field ----------------- */

/* exit_with: a program's name; where it was set, for the check that it exists. */
static bool exit_with_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			    void *field)
{
	struct config *c = container_of(field, struct config, exit_with);

	string_parse(x, k, value, field);
	c->exit_with_file = x->kv ? x->kv->file : NULL;
	c->exit_with_line = x->kv ? x->kv->line : 0;
	return true;
}

const struct key_type kt_exit_with = { .name = "program name", .size = sizeof(char *),
	.parse = exit_with_parse, .eq = string_eq, .copy = string_copy, .done = string_done };

/* [inet_http_server] port = [host:]port; "*:9001" is every interface; no host: loopback. */
static bool inet_port_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			    void *field)
{
	struct config *c = container_of(field, struct config, inet_host);
	const char *colon = value ? strrchr(value, ':') : NULL;
	char *host;
	long n = 0;

	if (!value) {
		string_set(&c->inet_host, NULL);
		c->inet_port = 0;
		return true;
	}
	if (parse_int(colon ? colon + 1 : value, 1, 65535, &n) < 0) {
		cfg_key_error(x, k, "'%s' is not [host:]port", value);
		return false;
	}
	if (!colon || colon == value)
		host = xstrdup("127.0.0.1");
	else if (colon - value == 1 && value[0] == '*')
		host = xstrdup("0.0.0.0");
	else if (value[0] == '[' && colon[-1] == ']')
		host = xstrndup(value + 1, (size_t)(colon - value - 2));
	else
		host = xstrndup(value, (size_t)(colon - value));
	string_set(&c->inet_host, host);
	c->inet_port = (int)n;
	return true;
}

static bool inet_port_eq(const struct key_def *k, const void *a, const void *b)
{
	(void)k;
	return str_eq(*(char *const *)a, *(char *const *)b) &&
	       container_of(a, struct config, inet_host)->inet_port ==
		       container_of(b, struct config, inet_host)->inet_port;
}

const struct key_type kt_inet_port = { .name = "[host:]port", .size = sizeof(char *),
	.parse = inet_port_parse, .eq = inet_port_eq, .copy = string_copy, .done = string_done };

/* A password: plain, or "{SHA}" and the hex SHA-1 of it (supervisord's form). */
static bool password_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			   void *field)
{
	if (value && strncmp(value, "{SHA}", 5) == 0 &&
	    (strlen(value) != 45 || strspn(value + 5, "0123456789abcdefABCDEF") != 40)) {
		cfg_key_error(x, k, "{SHA} must be followed by 40 hex digits (sha1 of the password)");
		return false;
	}
	return string_parse(x, k, value, field);
}

const struct key_type kt_password = { .name = "password", .size = sizeof(char *),
	.parse = password_parse, .eq = string_eq, .copy = string_copy, .done = string_done };

/* ---- keys without a field -------------------------------------------------- */

static bool none_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	(void)x;
	(void)k;
	(void)value;
	(void)field;
	return true;
}

/* [include] files: read by the lexer as it meets them. */
const struct key_type kt_include = { .name = "globs", .parse = none_parse };

/* A supervisord key tend accepts and does not use (the warning says so). */
const struct key_type kt_unused = { .name = "any", .parse = none_parse };
