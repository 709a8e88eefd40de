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

bool cfg_str_eq(const char *a, const char *b)
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
bool cfg_scalar_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
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

const struct key_type kt_bool = { .name = "bool", .size = sizeof(bool), .parse = cfg_scalar_parse,
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

const struct key_type kt_int = { .name = "integer", .parse = cfg_scalar_parse, .conv = int_conv,
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

const struct key_type kt_numprocs = { .name = "integer, auto or auto:io", .parse = cfg_scalar_parse,
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
	.parse = cfg_scalar_parse, .conv = duration_conv, .what = duration_what };

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

const struct key_type kt_size = { .name = "size", .size = sizeof(uint64_t), .parse = cfg_scalar_parse,
	.conv = size_conv, .what = size_what };

static int signal_conv(const struct key_def *k, const char *s, long long *ret)
{
	int sig = sig_from_name(s);

	(void)k;
	if (sig >= 0)
		*ret = sig;
	return sig >= 0 ? 0 : -EINVAL;
}

const struct key_type kt_signal = { .name = "signal", .size = sizeof(int), .parse = cfg_scalar_parse,
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

const struct key_type kt_octal = { .name = "octal mode", .parse = cfg_scalar_parse, .conv = octal_conv,
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

int cfg_enum_conv(const struct key_def *k, const char *s, long long *ret)
{
	const struct key_word *w = word_find(k, s);

	if (!w)
		return -EINVAL;
	*ret = w->value;
	return 0;
}

const struct key_type kt_enum = { .name = "word", .parse = cfg_scalar_parse, .conv = cfg_enum_conv,
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
	.parse = cfg_scalar_parse, .conv = cpu_quota_conv, .expect = "a share of CPU such as 50% or 1.5" };

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
	.parse = cfg_scalar_parse, .conv = core_conv, .expect = "a size or unlimited" };

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

void cfg_string_set(void *field, char *s)
{
	free(*(char **)field);
	*(char **)field = s;
}

bool cfg_string_eq(const struct key_def *k, const void *a, const void *b)
{
	(void)k;
	return cfg_str_eq(*(char *const *)a, *(char *const *)b);
}

void cfg_string_copy(const struct key_def *k, void *dst, const void *src)
{
	const char *s = *(char *const *)src;

	(void)k;
	*(char **)dst = s ? xstrdup(s) : NULL;
}

void cfg_string_done(const struct key_def *k, void *field)
{
	(void)k;
	free(*(char **)field);
	*(char **)field = NULL;
}

bool cfg_string_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	(void)x;
	(void)k;
	cfg_string_set(field, value ? xstrdup(value) : NULL);
	return true;
}

const struct key_type kt_string = { .name = "string", .size = sizeof(char *), .parse = cfg_string_parse,
	.eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

/* A path; a relative one is relative to the directory of the file that says it. */
static bool path_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	(void)k;
	if (!value)
		cfg_string_set(field, NULL);
	else
		cfg_string_set(field, value[0] == '/' ? xstrdup(value) : xasprintf("%s/%s", x->here, value));
	return true;
}

const struct key_type kt_path = { .name = "path", .size = sizeof(char *), .parse = path_parse,
	.eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

static bool abspath_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			  void *field)
{
	if (value && value[0] != '/') {
		cfg_key_error(x, k, "'%s' is not an absolute path", value);
		return false;
	}
	return cfg_string_parse(x, k, value, field);
}

const struct key_type kt_abspath = { .name = "absolute path", .size = sizeof(char *),
	.parse = abspath_parse, .eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

/* An existing directory; unset: $TMPDIR, else /tmp (supervisord's childlogdir). */
static bool dir_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	if (!value) {
		cfg_string_set(field, xstrdup(tmp && *tmp == '/' ? tmp : "/tmp"));
		return true;
	}
	if (stat(value, &st) < 0 || !S_ISDIR(st.st_mode)) {
		cfg_key_error(x, k, "'%s' is not a directory", value);
		return false;
	}
	return cfg_string_parse(x, k, value, field);
}

const struct key_type kt_dir = { .name = "directory", .size = sizeof(char *), .parse = dir_parse,
	.eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

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
	return cfg_string_parse(x, k, w ? w->word : NULL, field);
}

const struct key_type kt_choice = { .name = "word", .size = sizeof(char *), .parse = choice_parse,
	.eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

/* ---- string vectors -------------------------------------------------------- */

bool cfg_strv_eq(const struct key_def *k, const void *a, const void *b)
{
	char *const *va = *(char **const *)a, *const *vb = *(char **const *)b;

	(void)k;
	/* no vector and an empty one are the same setting */
	if (!va || !vb)
		return strv_len(va) == strv_len(vb);
	return strv_equal(va, vb);
}

void cfg_strv_copy(const struct key_def *k, void *dst, const void *src)
{
	(void)k;
	*(char ***)dst = strv_dup(*(char **const *)src);
}

void cfg_strv_done(const struct key_def *k, void *field)
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
	.eq = cfg_strv_eq, .copy = cfg_strv_copy, .done = cfg_strv_done };

