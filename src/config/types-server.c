/*
 * The value types of the daemon's own sections and of event listeners:
 * socket owners, the daemon's user, server URLs, event types, maps, the
 * [supervisord]-level keys that set more than one field, keys without a field.
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

	if (!cfg_user_lookup(x, k, value, &pw))
		return false;
	cfg_string_set(&c->daemon_user, pw ? xstrdup(pw->pw_name) : NULL);
	c->daemon_uid = pw ? pw->pw_uid : 0;
	c->daemon_gid = pw ? pw->pw_gid : 0;
	return true;
}

const struct key_type kt_daemon_user = { .name = "user", .size = sizeof(char *), .parse = daemon_user_parse,
	.eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

/* serverurl = URL, or AUTO (tend's own socket): SUPERVISOR_SERVER_URL of the program */
static bool serverurl_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field)
{
	if (value && strcasecmp(value, "auto") == 0)
		value = NULL;
	return cfg_string_parse(x, k, value, field);
}

const struct key_type kt_serverurl = { .name = "URL", .size = sizeof(char *), .parse = serverurl_parse,
	.eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

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
	return cfg_enum_conv(k, s, ret);
}

static void result_handler_what(const struct key_def *k, struct sbuf *b)
{
	(void)k;
	sbuf_adds(b, "a result handler tend has (it cannot run supervisord's Python code): "
		     "supervisor.dispatchers:default_handler or supervisor_stdout:event_handler");
}

const struct key_type kt_result_handler = { .name = "handler", .parse = cfg_scalar_parse,
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

	cfg_string_parse(x, k, value, field);
	c->exit_with_file = x->kv ? x->kv->file : NULL;
	c->exit_with_line = x->kv ? x->kv->line : 0;
	return true;
}

const struct key_type kt_exit_with = { .name = "program name", .size = sizeof(char *),
	.parse = exit_with_parse, .eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

/* [inet_http_server] port = [host:]port; "*:9001" is every interface; no host: loopback. */
static bool inet_port_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			    void *field)
{
	struct config *c = container_of(field, struct config, inet_host);
	const char *colon = value ? strrchr(value, ':') : NULL;
	char *host;
	long n = 0;

	if (!value) {
		cfg_string_set(&c->inet_host, NULL);
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
	cfg_string_set(&c->inet_host, host);
	c->inet_port = (int)n;
	return true;
}

static bool inet_port_eq(const struct key_def *k, const void *a, const void *b)
{
	(void)k;
	return cfg_str_eq(*(char *const *)a, *(char *const *)b) &&
	       container_of(a, struct config, inet_host)->inet_port ==
		       container_of(b, struct config, inet_host)->inet_port;
}

const struct key_type kt_inet_port = { .name = "[host:]port", .size = sizeof(char *),
	.parse = inet_port_parse, .eq = inet_port_eq, .copy = cfg_string_copy, .done = cfg_string_done };

/* A password: plain, or "{SHA}" and the hex SHA-1 of it (supervisord's form). */
static bool password_parse(const struct key_ctx *x, const struct key_def *k, const char *value,
			   void *field)
{
	if (value && strncmp(value, "{SHA}", 5) == 0 &&
	    (strlen(value) != 45 || strspn(value + 5, "0123456789abcdefABCDEF") != 40)) {
		cfg_key_error(x, k, "{SHA} must be followed by 40 hex digits (sha1 of the password)");
		return false;
	}
	return cfg_string_parse(x, k, value, field);
}

const struct key_type kt_password = { .name = "password", .size = sizeof(char *),
	.parse = password_parse, .eq = cfg_string_eq, .copy = cfg_string_copy, .done = cfg_string_done };

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

