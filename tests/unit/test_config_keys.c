/*
 * The key tables of src/config/keys.c, walked row by row.  For every key of
 * every section:
 *
 *  - its example loads, and its invalid value is refused with an error at
 *    the key's own file:line;
 *  - absent, it has its default: the same field as when the default is
 *    written out (or the type's "unset" when it has none); a required key
 *    that is absent is an error;
 *  - a config that differs in that key only is classified on reload as the
 *    spec below says (restart, in place, instances added/removed, waits for
 *    a tend restart, nothing), by comparing the two loaded configs with
 *    prog_config_same_process, prog_config_equal, group_config_equal and
 *    config_restart_key.  The spec is written here, apart from the rows,
 *    so a row whose reload semantics are wrong fails (a row that says "in
 *    place" makes prog_config_same_process ignore its key);
 *  - README.md names it in its section, with its default.
 *
 * Adding a key (docs/config.md) means a row in keys.c and a line in spec[].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/util.h"
#include "config/config-internal.h"

/* ---- the spec: what a reload does with a changed key ---------------------- */

/* Written apart from the rows: [section] key, and what a change of it does. */
struct spec {
	const char *section, *key; /* a cfg_sections name, a row's name */
	enum key_reload reload;
};

static const struct spec spec[] = {
	{ "program:", "numprocs", RELOAD_INSTANCES },
	{ "program:", "numprocs_start", RELOAD_INSTANCES },
	{ "program:", "numprocs_min", RELOAD_IN_PLACE },
	{ "program:", "numprocs_max", RELOAD_INSTANCES },
	{ "program:", "process_name", RELOAD_IN_PLACE },
	{ "program:", "command", RELOAD_RESTART },
	{ "program:", "priority", RELOAD_IN_PLACE },
	{ "program:", "autostart", RELOAD_IN_PLACE },
	{ "program:", "autorestart", RELOAD_IN_PLACE },
	{ "program:", "startsecs", RELOAD_IN_PLACE },
	{ "program:", "startretries", RELOAD_IN_PLACE },
	{ "program:", "exitcodes", RELOAD_IN_PLACE },
	{ "program:", "stopsignal", RELOAD_IN_PLACE },
	{ "program:", "stopwaitsecs", RELOAD_IN_PLACE },
	{ "program:", "stopasgroup", RELOAD_IN_PLACE },
	{ "program:", "killasgroup", RELOAD_IN_PLACE },
	{ "program:", "kill_leftovers", RELOAD_IN_PLACE },
	{ "program:", "user", RELOAD_RESTART },
	{ "program:", "directory", RELOAD_RESTART },
	{ "program:", "umask", RELOAD_RESTART },
	{ "program:", "env_file", RELOAD_RESTART },
	{ "program:", "environment", RELOAD_RESTART },
	{ "program:", "redirect_stderr", RELOAD_RESTART },
	{ "program:", "stdout_logfile", RELOAD_RESTART },
	{ "program:", "stdout_logfile_maxbytes", RELOAD_RESTART },
	{ "program:", "stdout_logfile_backups", RELOAD_RESTART },
	{ "program:", "stdout_logfile_rotate", RELOAD_RESTART },
	{ "program:", "stderr_logfile", RELOAD_RESTART },
	{ "program:", "stderr_logfile_maxbytes", RELOAD_RESTART },
	{ "program:", "stderr_logfile_backups", RELOAD_RESTART },
	{ "program:", "stderr_logfile_rotate", RELOAD_RESTART },
	{ "program:", "restart_delay", RELOAD_IN_PLACE },
	{ "program:", "backoff_factor", RELOAD_IN_PLACE },
	{ "program:", "max_backoff", RELOAD_IN_PLACE },
	{ "program:", "backoff_reset_after", RELOAD_IN_PLACE },
	{ "program:", "depends_on", RELOAD_IN_PLACE },
	{ "program:", "memory_limit", RELOAD_RESTART },
	{ "program:", "cpu_quota", RELOAD_RESTART },
	{ "program:", "tasks_max", RELOAD_RESTART },
	{ "program:", "nofile", RELOAD_RESTART },
	{ "program:", "core", RELOAD_RESTART },
	{ "program:", "nice", RELOAD_RESTART },
	{ "program:", "oom_score_adj", RELOAD_RESTART },
	{ "program:", "max_lifetime", RELOAD_IN_PLACE },
	{ "program:", "no_new_privs", RELOAD_RESTART },
	{ "program:", "listen", RELOAD_RESTART },
	{ "program:", "ready", RELOAD_RESTART },
	{ "program:", "ready_timeout", RELOAD_IN_PLACE },
	{ "program:", "maps", RELOAD_RESTART },
	{ "program:", "drain_secs", RELOAD_IN_PLACE },
	{ "program:", "scale_cpu_target", RELOAD_IN_PLACE },
	{ "program:", "scale_interval", RELOAD_IN_PLACE },
	{ "program:", "scale_cooldown", RELOAD_IN_PLACE },
	{ "program:", "stdout_events_enabled", RELOAD_RESTART },
	{ "program:", "stderr_events_enabled", RELOAD_RESTART },
	{ "program:", "stdout_capture_maxbytes", RELOAD_RESTART },
	{ "program:", "stderr_capture_maxbytes", RELOAD_RESTART },
	{ "program:", "stdout_syslog", RELOAD_RESTART },
	{ "program:", "stderr_syslog", RELOAD_RESTART },
	{ "program:", "serverurl", RELOAD_RESTART },
	{ "eventlistener:", "events", RELOAD_IN_PLACE },
	{ "eventlistener:", "buffer_size", RELOAD_IN_PLACE },
	{ "eventlistener:", "result_handler", RELOAD_IN_PLACE },
	{ "fcgi-program:", "socket", RELOAD_RESTART },
	{ "fcgi-program:", "socket_owner", RELOAD_RESTART },
	{ "fcgi-program:", "socket_mode", RELOAD_RESTART },
	{ "fcgi-program:", "socket_backlog", RELOAD_RESTART },
	{ "supervisord", "logfile", RELOAD_IN_PLACE },
	{ "supervisord", "loglevel", RELOAD_IN_PLACE },
	{ "supervisord", "pidfile", RELOAD_TEND },
	{ "supervisord", "childlogdir", RELOAD_IN_PLACE },
	{ "supervisord", "identifier", RELOAD_IN_PLACE },
	{ "supervisord", "umask", RELOAD_RESTART },
	{ "supervisord", "environment", RELOAD_RESTART },
	{ "supervisord", "minfds", RELOAD_TEND },
	{ "supervisord", "minprocs", RELOAD_TEND },
	{ "supervisord", "user", RELOAD_TEND },
	{ "supervisord", "silent", RELOAD_IN_PLACE },
	{ "supervisord", "strip_ansi", RELOAD_TEND },
	{ "supervisord", "priority_waits", RELOAD_IN_PLACE },
	{ "supervisord", "nocleanup", RELOAD_IN_PLACE },
	{ "supervisord", "nodaemon", RELOAD_NONE },
	{ "supervisord", "exit_with", RELOAD_IN_PLACE },
	{ "supervisord", "cgroups", RELOAD_TEND },
	{ "supervisord", "cgroup_root", RELOAD_TEND },
	{ "supervisord", "strict", RELOAD_NONE },
	{ "supervisord", "logfile_maxbytes", RELOAD_IN_PLACE },
	{ "supervisord", "logfile_backups", RELOAD_IN_PLACE },
	{ "supervisord", "directory", RELOAD_TEND },
	{ "group:", "programs", RELOAD_IN_PLACE },
	{ "group:", "priority", RELOAD_IN_PLACE },
	{ "unix_http_server", "file", RELOAD_TEND },
	{ "unix_http_server", "chmod", RELOAD_TEND },
	{ "unix_http_server", "chown", RELOAD_TEND },
	{ "unix_http_server", "username", RELOAD_NONE },
	{ "unix_http_server", "password", RELOAD_NONE },
	{ "inet_http_server", "port", RELOAD_TEND },
	{ "inet_http_server", "username", RELOAD_TEND },
	{ "inet_http_server", "password", RELOAD_TEND },
	{ "inet_http_server", "anonymous_read", RELOAD_TEND },
	{ "supervisorctl", "serverurl", RELOAD_TEND },
	{ "supervisorctl", "username", RELOAD_NONE },
	{ "supervisorctl", "password", RELOAD_NONE },
	{ "supervisorctl", "prompt", RELOAD_NONE },
	{ "supervisorctl", "history_file", RELOAD_NONE },
	{ "include", "files", RELOAD_NONE },
};

static const char *const reload_names[] = {
	[RELOAD_RESTART] = "restarts",
	[RELOAD_IN_PLACE] = "is applied in place",
	[RELOAD_INSTANCES] = "adds or removes instances",
	[RELOAD_TEND] = "waits for a tend restart",
	[RELOAD_NONE] = "changes nothing",
};

/* ---- the configs the walk loads -------------------------------------------- */

#define PROGRAMS "[program:p]\ncommand=/bin/sleep 9\nprocess_name=p_%(process_num)d\n" \
		 "[program:q]\ncommand=/bin/true\n"

/* How each section is walked: the key under test is line 2, after the header. */
static const struct walk {
	const char *section; /* cfg_sections name */
	const char *header;
	const char *base;    /* the section's other lines (a key under test replaces its own) */
	const char *rest;    /* the sections after it */
} walks[] = {
	{ "supervisord", "[supervisord]", "", PROGRAMS },
	{ "program:", "[program:p]", "command=/bin/sleep 9\nprocess_name=p_%(process_num)d\n",
	  "[program:q]\ncommand=/bin/true\n" },
	{ "eventlistener:", "[eventlistener:p]",
	  "command=/bin/sleep 9\nprocess_name=p_%(process_num)d\nevents=PROCESS_STATE\n",
	  "[program:q]\ncommand=/bin/true\n" },
	{ "fcgi-program:", "[fcgi-program:p]",
	  "command=/bin/sleep 9\nprocess_name=p_%(process_num)d\nsocket=unix:///tmp/tend-keys-p.sock\n",
	  "[program:q]\ncommand=/bin/true\n" },
	{ "group:", "[group:g]", "programs=p\n", PROGRAMS },
	{ "unix_http_server", "[unix_http_server]", "", PROGRAMS },
	{ "inet_http_server", "[inet_http_server]", "port=9001\n", PROGRAMS },
	{ "supervisorctl", "[supervisorctl]", "", PROGRAMS },
	{ "include", "[include]", "", PROGRAMS },
};

static const struct walk *walk_of(const struct section_def *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(walks); i++)
		if (strcmp(walks[i].section, d->name) == 0)
			return &walks[i];
	return NULL;
}

static const struct spec *spec_of(const struct section_def *d, const struct key_def *k)
{
	for (size_t i = 0; i < ARRAY_SIZE(spec); i++)
		if (strcmp(spec[i].section, d->name) == 0 && strcmp(spec[i].key, k->name) == 0)
			return &spec[i];
	return NULL;
}

/* The key k needs beside it, unless that key needs k back (then both stay out of the base). */
static const struct key_def *partner(const struct section_def *d, const struct key_def *k)
{
	const struct key_def *n = k->needs ? cfg_key_find(d->keys, k->needs) : NULL;

	if (!n || (n->needs && strcmp(n->needs, k->name) == 0))
		return NULL;
	return n;
}

static bool starts_with_key(const char *line, const char *key)
{
	size_t n = strlen(key);

	return strncmp(line, key, n) == 0 && line[n] == '=';
}

/*
 * The config text: header, "key=value" on line 2 (value NULL: the key stays
 * as the base has it; with drop, it is left out entirely), the partner key,
 * the base without the keys written above, the rest.
 */
static char *text_with(const struct walk *w, const struct section_def *d, const struct key_def *k,
		       const char *value, bool drop)
{
	const struct key_def *n = partner(d, k), *mutual = NULL;
	struct sbuf b = SBUF_INIT;
	char *base = xstrdup(w->base), *save = NULL;

	if (value && k->needs && !n)
		mutual = cfg_key_find(d->keys, k->needs);
	sbuf_printf(&b, "%s\n", w->header);
	if (value)
		sbuf_printf(&b, "%s=%s\n", k->name, value);
	if (n)
		sbuf_printf(&b, "%s=%s\n", n->name, n->example);
	if (mutual)
		sbuf_printf(&b, "%s=%s\n", mutual->name, mutual->example);
	for (char *line = strtok_r(base, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if ((value || drop) && starts_with_key(line, k->name))
			continue;
		if (n && starts_with_key(line, n->name))
			continue;
		sbuf_printf(&b, "%s\n", line);
	}
	sbuf_adds(&b, w->rest);
	free(base);
	return sbuf_take(&b);
}

static char *joined(const struct config_diag *d)
{
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < d->nerrors; i++)
		sbuf_printf(&b, "%s\n", d->errors[i]);
	for (size_t i = 0; i < d->nwarnings; i++)
		sbuf_printf(&b, "%s\n", d->warnings[i]);
	return b.s ? sbuf_take(&b) : xstrdup("");
}

/* Problems found by the walk, reported all at once at the end. */
static struct sbuf problems = SBUF_INIT;
static int nproblems;

#define PROBLEM(...)                                         \
	do {                                                 \
		sbuf_printf(&problems, "  " __VA_ARGS__);    \
		sbuf_addc(&problems, '\n');                  \
		nproblems++;                                 \
	} while (0)

static struct config *load(const char *what, const struct key_def *k, const char *text)
{
	struct config_diag d;
	struct config *c = NULL;

	if (config_load_string("t.conf", text, &c, &d) < 0) {
		char *e = joined(&d);

		PROBLEM("%s: %s did not load:\n%s--\n%s", k->name, what, text, e);
		free(e);
	}
	config_diag_done(&d);
	return c;
}

/* ---- what the walk compares ------------------------------------------------- */

static void *target_of(const struct section_def *d, struct config *c)
{
	if (d->target == TARGET_CONFIG)
		return c;
	if (d->target == TARGET_GROUP)
		return (void *)config_group(c, "g");
	for (size_t i = 0; i < c->nprocs; i++)
		if (strcmp(c->procs[i]->program, "p") == 0)
			return c->procs[i];
	return NULL;
}

static bool field_equal(const struct key_def *k, const void *a, const void *b)
{
	const void *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;

	return k->type->eq ? k->type->eq(k, fa, fb) : memcmp(fa, fb, k->size) == 0;
}

/* What a reload from a to b does, found with the public comparisons. */
static enum key_reload classify(const struct config *a, const struct config *b)
{
	bool restart = false, in_place = false, instances = a->nprocs != b->nprocs;

	for (size_t i = 0; i < b->nprocs; i++) {
		const struct prog_config *pb = b->procs[i], *pa = NULL;

		for (size_t j = 0; j < a->nprocs && !pa; j++)
			if (a->procs[j]->num == pb->num && strcmp(a->procs[j]->program, pb->program) == 0)
				pa = a->procs[j];
		if (!pa)
			instances = true;
		else if (!prog_config_same_process(pa, pb))
			restart = true;
		else if (!prog_config_equal(pa, pb))
			in_place = true;
	}
	if (restart)
		return RELOAD_RESTART;
	if (instances)
		return RELOAD_INSTANCES;
	if (in_place)
		return RELOAD_IN_PLACE;
	if (config_restart_key(a, b))
		return RELOAD_TEND;
	for (size_t i = 0; i < b->ngroups; i++) {
		const struct group_config *ga = config_group(a, b->groups[i]->name);

		if (!ga || !group_config_equal(ga, b->groups[i]))
			return RELOAD_IN_PLACE;
	}
	for (const struct section_def *d = cfg_sections; d->name; d++)
		if (d->target == TARGET_CONFIG && !cfg_keys_equal(d->keys, RELOAD_MASK(RELOAD_IN_PLACE), a, b))
			return RELOAD_IN_PLACE;
	return RELOAD_NONE;
}

/* ---- one row ----------------------------------------------------------------- */

static void walk_row(const struct section_def *d, const struct walk *w, const struct key_def *k)
{
	const struct spec *sp = spec_of(d, k);
	const struct key_def *n = partner(d, k);
	char *text, *absent, *e;
	struct config *a = NULL, *b = NULL;
	struct config_diag diag;

	if (!sp) {
		PROBLEM("[%s] %s: no line in spec[] of tests/unit/test_config_keys.c", d->name, k->name);
		return;
	}
	if (sp->reload != k->reload)
		PROBLEM("%s: the row says a change %s, the spec says it %s", k->name, reload_names[k->reload],
			reload_names[sp->reload]);
	if (!k->example) {
		PROBLEM("%s: the row has no example", k->name);
		return;
	}
	if (!k->size && k->reload != RELOAD_NONE)
		PROBLEM("%s: no field, yet a change %s", k->name, reload_names[k->reload]);
	else if (k->size && k->type->size && k->size != k->type->size)
		PROBLEM("%s: a %s field of %zu bytes, the type writes %zu", k->name, k->type->name, k->size,
			k->type->size);
	else if (k->size && !k->type->size && k->size != 4 && k->size != 8)
		PROBLEM("%s: an integer field of %zu bytes", k->name, k->size);

	/* the example loads; an unused key says so at its line */
	text = text_with(w, d, k, k->example, false);
	if (config_load_string("t.conf", text, &b, &diag) < 0) {
		e = joined(&diag);
		PROBLEM("%s = %s: refused:\n%s", k->name, k->example, e);
		free(e);
	} else if (k->flags & KEY_UNUSED) {
		e = joined(&diag);
		if (!strstr(e, "t.conf:2: warning: ") || !strstr(e, k->name))
			PROBLEM("%s (unused): no warning at t.conf:2, got:\n%s", k->name, e);
		free(e);
	}
	config_diag_done(&diag);
	free(text);

	/* the invalid value is refused at the key's line */
	if (k->invalid) {
		struct config *c = NULL;

		text = text_with(w, d, k, k->invalid, false);
		if (config_load_string("t.conf", text, &c, &diag) == 0) {
			PROBLEM("%s = %s: accepted", k->name, k->invalid);
			config_free(c);
		} else {
			e = joined(&diag);
			if (!strstr(e, "t.conf:2: "))
				PROBLEM("%s = %s: no error at t.conf:2, got:\n%s", k->name, k->invalid, e);
			free(e);
		}
		config_diag_done(&diag);
		free(text);
	}

	/* absent: its default, or an error when required */
	absent = text_with(w, d, k, NULL, true);
	if (k->flags & KEY_REQUIRED) {
		struct config *c = NULL;
		char want[128];

		snprintf(want, sizeof(want), "needs '%s ='", k->name);
		if (config_load_string("t.conf", absent, &c, &diag) == 0) {
			PROBLEM("%s: required, yet a config without it loads", k->name);
			config_free(c);
		} else {
			e = joined(&diag);
			if (!strstr(e, want))
				PROBLEM("%s: required; absent, no \"%s\" in:\n%s", k->name, want, e);
			free(e);
		}
		config_diag_done(&diag);
	} else if (k->size && !(k->flags & KEY_UNUSED)) {
		/* with the key needed beside it, so that the key means something */
		char *with = n ? text_with(w, d, n, n->example, false) : xstrdup(absent);
		struct config *c = load("the config without it", k, with), *def = NULL;
		void *want = NULL;

		if (k->def) {
			char *t = text_with(w, d, k, k->def, false);

			def = load("the config with its default written out", k, t);
			want = def ? target_of(d, def) : NULL;
			free(t);
		} else {
			struct loader L = { .diag = &diag };
			struct raw_section s = { .name = "", .file = "t.conf" };
			struct key_ctx x = { .L = &L, .s = &s, .here = "." };

			memset(&diag, 0, sizeof(diag));
			want = xcalloc(1, MAX(sizeof(struct prog_config), sizeof(struct config)));
			k->type->parse(&x, k, NULL, (char *)want + k->off);
			config_diag_done(&diag);
		}
		if (c && want) {
			void *got = target_of(d, c);

			if (strcmp(k->name, "umask") == 0 && d->target == TARGET_PROC) {
				/* unset: [supervisord]'s umask (022) */
				if (((const struct prog_config *)got)->umask != 022)
					PROBLEM("umask: absent, not [supervisord]'s 022");
			} else if (strcmp(k->name, "scale_cooldown") == 0) {
				/* unset: three scale intervals */
				const struct prog_config *pc = got;

				if (pc->scale_cooldown_ns != 3 * pc->scale_interval_ns)
					PROBLEM("scale_cooldown: absent, not 3 x scale_interval");
			} else if (!field_equal(k, got, want)) {
				PROBLEM("%s: absent, not its default (%s)", k->name, k->def ? k->def : "unset");
			}
		}
		if (!k->def && want) {
			if (k->type->done)
				k->type->done(k, (char *)want + k->off);
			free(want);
		}
		config_free(def);
		config_free(c);
		free(with);
	}

	/* a change: classified as the spec says */
	text = text_with(w, d, k, k->example, false);
	free(absent);
	absent = (k->flags & KEY_REQUIRED) ? text_with(w, d, k, NULL, false)
		 : n			   ? text_with(w, d, n, n->example, false)
					   : text_with(w, d, k, NULL, true);
	a = load("the config without it", k, absent);
	config_free(b);
	b = load("the config with its example", k, text);
	if (a && b) {
		enum key_reload got = classify(a, b);

		if (got != sp->reload)
			PROBLEM("%s: a change %s; the spec says it %s (the row says it %s)", k->name,
				reload_names[got], reload_names[sp->reload], reload_names[k->reload]);
	}
	config_free(a);
	config_free(b);
	free(absent);
	free(text);
}

/*
 * The rows a section is walked for: the program table is shared by three
 * kinds of sections; [program:x] is walked for the rows they all have, the
 * others for their own rows only.
 */
static bool row_of_section(const struct section_def *d, const struct key_def *k)
{
	if (!d->bit)
		return true;
	if (d->bit == SEC_PROGRAM)
		return !k->only || (k->only & SEC_PROGRAM);
	return (k->only & d->bit) != 0;
}

/* ---- tests ---------------------------------------------------------------------- */

static char tmpdir[] = "/tmp/tend-keys-XXXXXX";
static char oldcwd[4096];

/* Relative paths in the rows' examples (app.env, app.log) resolve here. */
static int setup(void **state)
{
	FILE *f;

	(void)state;
	if (!getcwd(oldcwd, sizeof(oldcwd)) || !mkdtemp(tmpdir) || chdir(tmpdir) < 0)
		return -1;
	f = fopen("app.env", "w");
	if (!f)
		return -1;
	fputs("APP_ENV=1\n", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	if (chdir(oldcwd) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_every_row(void **state)
{
	size_t rows = 0;

	(void)state;
	for (const struct section_def *d = cfg_sections; d->name; d++) {
		const struct walk *w = walk_of(d);

		if (!w) {
			PROBLEM("[%s]: no walk in tests/unit/test_config_keys.c", d->name);
			continue;
		}
		for (const struct key_def *k = d->keys; k->name; k++) {
			if (!row_of_section(d, k))
				continue;
			walk_row(d, w, k);
			rows++;
		}
	}
	/* every line of the spec names a row */
	for (size_t i = 0; i < ARRAY_SIZE(spec); i++) {
		bool found = false;

		for (const struct section_def *d = cfg_sections; d->name; d++)
			found |= strcmp(d->name, spec[i].section) == 0 && cfg_key_find(d->keys, spec[i].key) &&
				 row_of_section(d, cfg_key_find(d->keys, spec[i].key));
		if (!found)
			PROBLEM("spec[]: [%s] %s is not a row", spec[i].section, spec[i].key);
	}
	print_message("walked %zu rows\n", rows);
	if (nproblems)
		fail_msg("%d problem%s:\n%s", nproblems, nproblems == 1 ? "" : "s", problems.s);
	assert_int_equal(rows, ARRAY_SIZE(spec));
}

/* README's heading for a section's keys. */
static const char *readme_heading(const char *section)
{
	if (strcmp(section, "program:") == 0)
		return "### `[program:NAME]`";
	if (strcmp(section, "group:") == 0)
		return "### `[group:NAME]`";
	if (strcmp(section, "eventlistener:") == 0)
		return "### `[eventlistener:NAME]`";
	if (strcmp(section, "fcgi-program:") == 0)
		return "### `[fcgi-program:NAME]`";
	if (strcmp(section, "supervisord") == 0)
		return "### `[supervisord]`";
	return "### `[unix_http_server]`";
}

/* Every key is in README under its section's heading; a table row shows its default. */
static void test_readme_lists_every_key(void **state)
{
	char *readme = NULL, path[4200];
	int bad = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/README.md", oldcwd);
	if (read_file(path, 1 << 20, &readme, NULL) < 0)
		fail_msg("cannot read %s (the tests run from the top of the tree)", path);
	for (const struct section_def *d = cfg_sections; d->name; d++) {
		const char *from = strstr(readme, readme_heading(d->name)), *to;

		assert_non_null(from);
		to = strstr(from + 4, "\n## ");
		if (strstr(from + 4, "\n### ") && (!to || strstr(from + 4, "\n### ") < to))
			to = strstr(from + 4, "\n### ");
		for (const struct key_def *k = d->keys; k->name; k++) {
			char name[80], *part;
			char *at;

			if (!row_of_section(d, k))
				continue;
			part = xstrndup(from, to ? (size_t)(to - from) : strlen(from));
			snprintf(name, sizeof(name), "`%s`", k->name);
			at = strstr(part, name);
			if (!at) {
				print_error("README: %s not under %s\n", name, readme_heading(d->name));
				bad++;
			} else if (k->def && !(k->flags & KEY_UNUSED)) {
				/* the table row: "| `key` | default | ...": the cell after the key's */
				char *eol = strchr(at, '\n'), *cell = strstr(at, " | "), *end;

				if (eol)
					*eol = '\0';
				end = cell ? strstr(cell + 3, " |") : NULL;
				if (end)
					*end = '\0';
				if (!cell || !strcasestr(cell, k->def)) {
					print_error("README: %s's default is not %s\n", name, k->def);
					bad++;
				}
			}
			free(part);
		}
	}
	free(readme);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_row),
		cmocka_unit_test(test_readme_lists_every_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
