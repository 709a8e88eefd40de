/*
 * Value parsers: the public ones (config.h) that the CLI shares, and the
 * ones the key types of keys.c are made of; %(name)s expansion.  Pure: no
 * file is read here.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "config/config-internal.h"

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* The whole of s as a number in base, within min..max. */
static int parse_long(const char *s, int base, long min, long max, long *ret)
{
	char *end;
	long v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_int(const char *s, long min, long max, long *ret)
{
	return parse_long(s, 10, min, max, ret);
}

int parse_duration_ns(const char *s, int64_t *ret)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {
		{ "", 1e9 },   { "s", 1e9 },      { "sec", 1e9 },    { "ms", 1e6 },   { "us", 1e3 },
		{ "m", 60e9 }, { "min", 60e9 },   { "h", 3600e9 },   { "d", 86400e9 },
	};
	char *end;
	double v;

	if (!*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			double ns = v * units[i].ns;

			if (ns > 1e18)
				return -EINVAL;
			*ret = (int64_t)ns;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
		{ "", 1 },           { "b", 1 },          { "k", 1ULL << 10 }, { "kb", 1ULL << 10 },
		{ "kib", 1ULL << 10 }, { "m", 1ULL << 20 }, { "mb", 1ULL << 20 }, { "mib", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "gb", 1ULL << 30 }, { "gib", 1ULL << 30 }, { "t", 1ULL << 40 },
		{ "tb", 1ULL << 40 }, { "tib", 1ULL << 40 },
	};
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -EINVAL;
			*ret = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

void cfg_strv_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

int split_command(const char *s, char ***ret_argv, const char **ret_err)
{
	struct sbuf word = SBUF_INIT;
	char **argv = NULL;
	size_t argc = 0;
	bool in_word = false;
	const char *p = s;

	*ret_err = NULL;
	while (*p) {
		char c = *p;

		if (isspace((unsigned char)c)) {
			if (in_word) {
				cfg_strv_push(&argv, &argc, sbuf_take(&word));
				in_word = false;
			}
			p++;
			continue;
		}
		in_word = true;
		if (c == '\\') {
			if (!p[1]) {
				*ret_err = "command ends with a lone backslash";
				goto out_fail;
			}
			if (p[1] != '\n')
				sbuf_addc(&word, p[1]);
			p += 2;
		} else if (c == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (!end) {
				*ret_err = "no closing quotation (') in command";
				goto out_fail;
			}
			sbuf_add(&word, p + 1, (size_t)(end - p - 1));
			p = end + 1;
		} else if (c == '"') {
			p++;
			while (*p && *p != '"') {
				/* inside double quotes a backslash escapes only " and \ (shlex) */
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
					sbuf_addc(&word, p[1]);
					p += 2;
				} else {
					sbuf_addc(&word, *p++);
				}
			}
			if (*p != '"') {
				*ret_err = "no closing quotation (\") in command";
				goto out_fail;
			}
			p++;
			/* an empty "" still makes a word */
			sbuf_grow(&word, 0);
		} else {
			sbuf_addc(&word, c);
			p++;
		}
	}
	if (in_word)
		cfg_strv_push(&argv, &argc, sbuf_take(&word));
	if (argc == 0) {
		*ret_err = "command is empty";
		goto out_fail;
	}
	sbuf_done(&word);
	*ret_argv = argv;
	return 0;

out_fail:
	sbuf_done(&word);
	strv_free(argv);
	return -EINVAL;
}

int parse_environment(const char *s, char ***ret_env, const char **ret_err)
{
	char **env = NULL;
	size_t n = 0;
	const char *p = s;

	*ret_err = NULL;
	for (;;) {
		struct sbuf kv = SBUF_INIT;
		const char *k;

		while (*p && (isspace((unsigned char)*p) || *p == ','))
			p++;
		if (!*p)
			break;
		k = p;
		while (*p && *p != '=' && *p != ',' && !isspace((unsigned char)*p))
			p++;
		if (p == k || *p != '=') {
			*ret_err = "expected KEY=VALUE pairs separated by commas";
			goto out_fail;
		}
		sbuf_add(&kv, k, (size_t)(p - k + 1));
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			const char *end = strchr(p, q);

			if (!end) {
				*ret_err = "no closing quotation in environment value";
				sbuf_done(&kv);
				goto out_fail;
			}
			sbuf_add(&kv, p, (size_t)(end - p));
			p = end + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p && *p != ',' && *p != '\n') {
				*ret_err = "unexpected text after a quoted environment value";
				sbuf_done(&kv);
				goto out_fail;
			}
		} else {
			const char *v = p;
			size_t len;

			while (*p && *p != ',' && *p != '\n')
				p++;
			len = (size_t)(p - v);
			while (len > 0 && isspace((unsigned char)v[len - 1]))
				len--;
			sbuf_add(&kv, v, len);
		}
		/* a later KEY replaces an earlier one */
		for (size_t i = 0; i < n; i++) {
			size_t klen = (size_t)(strchr(kv.s, '=') - kv.s);

			if (strncmp(env[i], kv.s, klen + 1) == 0) {
				free(env[i]);
				env[i] = env[--n];
				env[n] = NULL;
				break;
			}
		}
		cfg_strv_push(&env, &n, sbuf_take(&kv));
	}
	if (!env)
		env = xcalloc(1, sizeof(*env));
	*ret_env = env;
	return 0;

out_fail:
	strv_free(env);
	return -EINVAL;
}

int cfg_parse_exitcodes(const char *s, uint64_t bits[4])
{
	char *copy = xstrdup(s), *save = NULL;
	uint64_t set[4] = { 0 };
	int r = 0;

	for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save)) {
		long v;

		if (parse_int(t, 0, 255, &v) < 0) {
			r = -EINVAL;
			break;
		}
		set[v / 64] |= 1ULL << (v % 64);
	}
	free(copy);
	if (r == 0)
		memcpy(bits, set, sizeof(set));
	return r;
}

int cfg_parse_octal(const char *s, long max, long *ret)
{
	return parse_long(s, 8, 0, max, ret);
}

/* ---- %(name)s expansion (Python's %-formatting with a mapping) ----------- */

/* The widest %(name)Nd an expansion may ask for. */
#define CFG_MAX_WIDTH 64

struct xval {
	const char *str;
	long num;
	bool is_num;
};

static bool xlookup(const struct xvars *v, const char *name, struct xval *out)
{
	if (strncmp(name, "ENV_", 4) == 0) {
		const char *e = getenv(name + 4);

		if (!e)
			return false;
		*out = (struct xval){ .str = e };
		return true;
	}
	if (strcmp(name, "here") == 0 && v->here)
		*out = (struct xval){ .str = v->here };
	else if (strcmp(name, "host_node_name") == 0)
		*out = (struct xval){ .str = v->host_node_name };
	else if (strcmp(name, "program_name") == 0 && v->program_name)
		*out = (struct xval){ .str = v->program_name };
	else if (strcmp(name, "group_name") == 0 && v->group_name)
		*out = (struct xval){ .str = v->group_name };
	else if (strcmp(name, "process_num") == 0 && v->have_num)
		*out = (struct xval){ .num = v->process_num, .is_num = true };
	else if (strcmp(name, "numprocs") == 0 && v->have_num)
		*out = (struct xval){ .num = v->numprocs, .is_num = true };
	else
		return false;
	return true;
}

/*
 * Expand "%(name)[flags][width][.precision]conv" and "%%".  Conversions:
 * s, r (string), d, i, u, x, X, o (numbers).  On error returns -EINVAL with
 * a message in *ret_err (static or caller-freed through err_buf).
 */
int cfg_expand(const char *in, const struct xvars *v, char **ret, char *err, size_t errlen)
{
	struct sbuf out = SBUF_INIT;
	const char *p = in;

	while (*p) {
		const char *pct = strchr(p, '%');
		char spec[32], name[128], conv, buf[256];
		const char *q, *close;
		size_t speclen;
		struct xval val;

		if (!pct) {
			sbuf_adds(&out, p);
			break;
		}
		sbuf_add(&out, p, (size_t)(pct - p));
		if (pct[1] == '%') {
			sbuf_addc(&out, '%');
			p = pct + 2;
			continue;
		}
		if (pct[1] != '(') {
			/* a lone % (cpu_quota = 50%) is itself; supervisord would want %% */
			sbuf_addc(&out, '%');
			p = pct + 1;
			continue;
		}
		close = strchr(pct + 2, ')');
		if (!close || (size_t)(close - pct - 2) >= sizeof(name)) {
			snprintf(err, errlen, "unterminated '%%(' expansion");
			goto out_fail;
		}
		memcpy(name, pct + 2, (size_t)(close - pct - 2));
		name[close - pct - 2] = '\0';
		q = close + 1;
		speclen = strspn(q, "-+ #0");
		speclen += strspn(q + speclen, "0123456789");
		if (q[speclen] == '.') {
			speclen++;
			speclen += strspn(q + speclen, "0123456789");
		}
		conv = q[speclen];
		if (!conv || !strchr("srdiuxXo", conv) || speclen > 20) {
			snprintf(err, errlen, "bad format in '%%(%s)': expected a conversion such as 's' or 'd'",
				 name);
			goto out_fail;
		}
		{
			/* snprintf would pad to any width, a GB of blanks at a time */
			const char *w = q + strspn(q, "-+ #0"), *dot = memchr(q, '.', speclen);

			if (strtol(w, NULL, 10) > CFG_MAX_WIDTH || (dot && strtol(dot + 1, NULL, 10) > CFG_MAX_WIDTH)) {
				snprintf(err, errlen, "format width or precision in '%%(%s)%.*s' is too large (at most %d)",
					 name, (int)speclen + 1, q, CFG_MAX_WIDTH);
				goto out_fail;
			}
		}
		if (!xlookup(v, name, &val)) {
			if (strncmp(name, "ENV_", 4) == 0)
				snprintf(err, errlen, "%%(%s)s: environment variable '%s' is not set", name,
					 name + 4);
			else
				snprintf(err, errlen,
					 "%%(%s)s: unknown name (known: here, host_node_name, program_name, "
					 "group_name, process_num, numprocs, ENV_<VAR>)",
					 name);
			goto out_fail;
		}
		spec[0] = '%';
		memcpy(spec + 1, q, speclen);
		if (conv == 's' || conv == 'r') {
			char num[32];
			const char *s = val.str;

			if (val.is_num) {
				snprintf(num, sizeof(num), "%ld", val.num);
				s = num;
			}
			memcpy(spec + 1 + speclen, "s", 2);
			snprintf(buf, sizeof(buf), spec, s);
			if (strlen(s) >= sizeof(buf) - 1) {
				/* long strings (paths in ENV) skip width handling */
				sbuf_adds(&out, s);
			} else {
				sbuf_adds(&out, buf);
			}
		} else {
			if (!val.is_num) {
				snprintf(err, errlen, "%%(%s)%c: a number is required, not a string", name, conv);
				goto out_fail;
			}
			spec[1 + speclen] = 'l';
			spec[2 + speclen] = conv == 'i' || conv == 'u' ? 'd' : conv;
			spec[3 + speclen] = '\0';
			snprintf(buf, sizeof(buf), spec, val.num);
			sbuf_adds(&out, buf);
		}
		p = q + speclen + 1;
	}
	*ret = sbuf_take(&out);
	return 0;

out_fail:
	sbuf_done(&out);
	return -EINVAL;
}

size_t cfg_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);

			cur[j] = MIN(MIN(prev[j] + 1, cur[j - 1] + 1), sub);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

bool cfg_valid_name(const char *n)
{
	if (!*n)
		return false;
	for (const char *p = n; *p; p++)
		if (*p == ':' || *p == '/' || *p == ',' || isspace((unsigned char)*p) ||
		    (unsigned char)*p < 0x20)
			return false;
	return true;
}

void cfg_env_set(char ***env, const char *kv)
{
	size_t n = strv_len(*env), klen = strcspn(kv, "=");

	for (size_t i = 0; i < n; i++) {
		if (strncmp((*env)[i], kv, klen + 1) == 0) {
			free((*env)[i]);
			(*env)[i] = xstrdup(kv);
			return;
		}
	}
	cfg_strv_push(env, &n, xstrdup(kv));
}

int cfg_parse_hostport(const char *s, char **ret_host, int *ret_port)
{
	const char *colon = strrchr(s, ':');
	long port;

	if (parse_int(colon ? colon + 1 : s, 1, 65535, &port) < 0 || (colon && colon == s))
		return -EINVAL;
	if (colon && s[0] == '[' && colon[-1] == ']') /* [::1]:8000 */
		*ret_host = xstrndup(s + 1, (size_t)(colon - s - 2));
	else
		*ret_host = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup("127.0.0.1");
	*ret_port = (int)port;
	return 0;
}

/* ---- names -> indexes ------------------------------------------------------ */

static size_t name_hash(const char *s)
{
	size_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

bool cfg_index_get(const struct name_index *ix, const char *name, size_t *ret)
{
	if (!ix->cap)
		return false;
	for (size_t i = name_hash(name) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
		if (!ix->slots[i].name)
			return false;
		if (strcmp(ix->slots[i].name, name) == 0) {
			*ret = ix->slots[i].value;
			return true;
		}
	}
}

bool cfg_index_add(struct name_index *ix, const char *name, size_t value)
{
	size_t i, have;

	if (cfg_index_get(ix, name, &have))
		return false;
	if (2 * (ix->n + 1) > ix->cap) {
		struct name_index bigger = { .cap = ix->cap ? 2 * ix->cap : 64 };

		bigger.slots = xcalloc(bigger.cap, sizeof(*bigger.slots));
		for (size_t j = 0; j < ix->cap; j++)
			if (ix->slots[j].name)
				cfg_index_add(&bigger, ix->slots[j].name, ix->slots[j].value);
		free(ix->slots);
		*ix = bigger;
	}
	for (i = name_hash(name) & (ix->cap - 1); ix->slots[i].name; i = (i + 1) & (ix->cap - 1))
		;
	ix->slots[i].name = name;
	ix->slots[i].value = value;
	ix->n++;
	return true;
}

void cfg_index_done(struct name_index *ix)
{
	free(ix->slots);
	*ix = (struct name_index){ .slots = NULL };
}
