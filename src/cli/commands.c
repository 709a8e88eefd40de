#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/jsonfmt.h"
#include "common/signames.h"
#include "common/util.h"
#include "config/config.h"
#include "sys/procscan.h"

static const char *find_config(const struct cli_opts *o)
{
	return o->config ? o->config : config_find();
}

/* -s, then $TEND_SOCKET, then the config's socket, then the default. */
static char *socket_path(const struct cli_opts *o)
{
	const char *cfg = find_config(o);
	char *sock = NULL;

	if (o->socket)
		return xstrdup(o->socket);
	if (cfg && config_load_socket(cfg, &sock) == 0)
		return sock;
	if (o->config)
		fprintf(stderr, "tend: cannot read %s: %s\n", o->config, strerror(errno));
	return config_default_socket();
}

char *cli_socket_path(const struct cli_opts *o)
{
	return socket_path(o);
}

struct client *cli_connect(const struct cli_opts *o)
{
	char *sock = socket_path(o);
	struct client *c = client_new(sock);

	free(sock);
	return c;
}

static void print_json(json_t *j)
{
	/* 15 digits: 2.614, not 2.6139999999999999; epoch seconds keep their milliseconds */
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));

	if (s) {
		puts(s);
		free(s);
	}
}

/* An error object from the daemon: print its message; map the status to an exit code. */
static int report_http_error(long status, json_t *j)
{
	const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

	fprintf(stderr, "tend: %s\n", msg ? msg : "unexpected answer from the daemon");
	if (status == 403)
		return EXIT_REFUSED;
	if (status == 404 || status == 400)
		return EXIT_USAGE;
	return EXIT_NOT_WANTED;
}

/* ---- up ------------------------------------------------------------------ */

static char *find_daemon(void)
{
	char self[PATH_MAX], *dir, *cand;
	const char *env = getenv("TEND_DAEMON");
	ssize_t n;

	if (env && *env)
		return xstrdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return xstrdup("tendd");
	self[n] = '\0';
	dir = xstrndup(self, (size_t)(strrchr(self, '/') - self));
	cand = xasprintf("%s/tendd", dir);
	if (access(cand, X_OK) != 0) {
		free(cand);
		cand = xasprintf("%s/../libexec/tend/tendd", dir);
	}
	free(dir);
	return cand;
}

int cli_up(const struct cli_opts *o, int argc, char **argv)
{
	char *daemon = find_daemon();
	char **args = xcalloc((size_t)argc + 6, sizeof(char *));
	int n = 0;

	args[n++] = "tendd";
	args[n++] = "up";
	if (o->config) {
		args[n++] = "-c";
		args[n++] = (char *)o->config;
	}
	/* the socket the other commands will look for: -s, then $TEND_SOCKET (both in o->socket) */
	if (o->socket) {
		args[n++] = "--socket";
		args[n++] = (char *)o->socket;
	}
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	execv(daemon, args);
	fprintf(stderr, "tend: cannot run the daemon %s: %s\n", daemon, strerror(errno));
	free(daemon);
	free(args);
	return 1;
}

/* ---- status -------------------------------------------------------------- */

static void print_status_table(json_t *progs)
{
	size_t i, w = 0;
	json_t *p;

	json_array_foreach(progs, i, p) {
		size_t l = strlen(json_string_value(json_object_get(p, "name")) ?: "");

		w = MAX(w, l);
	}
	w = MAX(w + 2, (size_t)20);
	json_array_foreach(progs, i, p) {
		printf("%-*s %-10s %s\n", (int)w, json_string_value(json_object_get(p, "name")) ?: "?",
		       json_string_value(json_object_get(p, "state")) ?: "?",
		       json_string_value(json_object_get(p, "description")) ?: "");
	}
}

/* GET /v1/programs[/NAME] (brief: the fields the table and the exit code need) */
static char *programs_path(const char *name, bool brief)
{
	char *esc = name ? client_escape(name) : NULL;
	char *path = xasprintf("/v1/programs%s%s%s", esc ? "/" : "", esc ? esc : "", brief ? "?view=brief" : "");

	free(esc);
	return path;
}

/*
 * status --json: the full answers.  One name (or none): the daemon's text
 * indented as it comes (json_indent), no tree built; several: merged into
 * one "programs" array.  Returns an exit code; the states may have moved
 * since the brief answers that set the command's exit code.
 */
static int print_programs_json(struct client *c, char **names, size_t n)
{
	json_t *all = json_array();
	int code = EXIT_OK;

	for (size_t i = 0; i < n; i++) {
		char *path = programs_path(names[i], false);
		const char *text;
		size_t len;
		long status = 0;
		int r = client_call_raw(c, "GET", path, NULL, &status, &text, &len);
		json_t *j;

		free(path);
		if (r < 0) {
			code = client_report_unreachable(c, r);
			break;
		}
		if (status == 200 && n == 1) {
			json_indent_to(stdout, text, len);
			json_decref(all);
			return EXIT_OK;
		}
		j = len ? json_loadb(text, len, 0, NULL) : NULL;
		if (status != 200) {
			code = report_http_error(status, j);
			json_decref(j);
			break;
		}
		json_array_extend(all, json_object_get(j, "programs"));
		json_decref(j);
	}
	if (code == EXIT_OK) {
		json_t *out = json_pack("{s:O}", "programs", all);

		print_json(out);
		json_decref(out);
	}
	json_decref(all);
	return code;
}

/*
 * `tend status --json` of everything, indented as it comes off the socket
 * (with 10,000 programs the answer is 5 MB: it is never held whole).  Its
 * first member is the count of instances not where they were asked to be
 * (the exit code), read from the first bytes before anything is printed.
 */
struct status_json {
	struct json_indenter ji;
	char head[32];		/* the first bytes, until not_wanted is read */
	size_t nhead;
	int state;		/* 0: reading the head, 1: printing, -1: not this format */
	unsigned long not_wanted;
};

/* Whether the head starts {"not_wanted":N, and if so print it */
static bool status_json_head(struct status_json *sj)
{
	int n = 0;

	sj->head[sj->nhead] = '\0';
	if (sscanf(sj->head, "{\"not_wanted\":%lu,%n", &sj->not_wanted, &n) != 1 || n == 0) {
		sj->state = -1;
		return false;
	}
	sj->state = 1;
	json_indent_feed(&sj->ji, sj->head, sj->nhead);
	return true;
}

static int status_json_piece(void *ctx, const char *at, size_t len)
{
	struct status_json *sj = ctx;

	if (sj->state == 0) {
		size_t k = sizeof(sj->head) - 1 - sj->nhead;

		k = k < len ? k : len;
		memcpy(sj->head + sj->nhead, at, k);
		sj->nhead += k;
		at += k;
		len -= k;
		if (sj->nhead < sizeof(sj->head) - 1)
			return 0;
		if (!status_json_head(sj))
			return -1;
	}
	json_indent_feed(&sj->ji, at, len);
	return sj->ji.failed ? -1 : 0;
}

/* The exit code, or -1 when the answer does not start so (an older tendd, or
 * an error): nothing printed, the caller asks for the table view's count. */
static int status_all_json(struct client *c)
{
	struct status_json sj = { .state = 0 };
	long status = 0;
	json_t *err = NULL;
	int r;

	json_indent_init(&sj.ji, stdout);
	r = client_get_sink(c, "/v1/programs", status_json_piece, &sj, &status, &err);
	json_decref(err);
	if (r < 0) {
		/* what was printed ends its line; unreachable, nothing was */
		if (sj.state == 1)
			json_indent_end(&sj.ji);
		else
			sbuf_done(&sj.ji.out);
		return client_report_unreachable(c, r);
	}
	if (status == 200 && sj.state == 0)
		status_json_head(&sj); /* an answer shorter than the head */
	if (status != 200 || sj.state < 0) {
		sbuf_done(&sj.ji.out);
		return -1;
	}
	json_indent_end(&sj.ji);
	return sj.not_wanted ? EXIT_NOT_WANTED : EXIT_OK;
}

/*
 * `tend status` of everything: the daemon sends the table as one string
 * with the count of instances not where they were asked to be (the exit
 * code); --json prints the full answer instead.
 */
static int status_all(struct client *c, bool json)
{
	const char *text, *rows;
	json_t *old = NULL;
	long status = 0;
	size_t len, nrows;
	int code, r;

	if (json && (code = status_all_json(c)) >= 0)
		return code;
	r = client_call_raw(c, "GET", "/v1/programs?view=table", NULL, &status, &text, &len);
	if (r < 0)
		return client_report_unreachable(c, r);
	if (status != 200) {
		json_t *j = len ? json_loadb(text, len, 0, NULL) : NULL;

		code = report_http_error(status, j);
		json_decref(j);
		return code;
	}
	if (len && text[0] == '{') {
		/* a daemon older than this CLI: {"not_wanted": N, "table": "..."} */
		old = json_loadb(text, len, 0, NULL);
		rows = json_string_value(json_object_get(old, "table"));
		nrows = rows ? strlen(rows) : 0;
		code = json_integer_value(json_object_get(old, "not_wanted")) ? EXIT_NOT_WANTED : EXIT_OK;
	} else {
		/* "not_wanted N\n", then the table as it is printed */
		rows = memchr(text, '\n', len);
		rows = rows ? rows + 1 : text + len;
		nrows = len - (size_t)(rows - text);
		code = strncmp(text, "not_wanted 0\n", 13) == 0 ? EXIT_OK : EXIT_NOT_WANTED;
	}
	if (json) {
		char *all[] = { NULL };
		int e = print_programs_json(c, all, 1);

		if (e != EXIT_OK)
			code = e;
	} else if (nrows) {
		fwrite(rows, 1, nrows, stdout);
	}
	json_decref(old);
	return code;
}

int cli_status(const struct cli_opts *o, int argc, char **argv)
{
	struct client *c = cli_connect(o);
	json_t *all = json_array();
	char **found = xcalloc((size_t)(argc > 1 ? argc : 1), sizeof(*found));
	size_t nfound = 0;
	int code = EXIT_OK;

	if (!c) {
		json_decref(all);
		free(found);
		return 1;
	}
	if (argc <= 1) {
		code = status_all(c, o->json);
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		char *name = argv[i];
		char *path = programs_path(name, true);
		json_t *j = NULL;
		long status = 0;
		int r;

		r = client_call(c, "GET", path, NULL, &status, &j);
		free(path);
		if (r < 0) {
			code = client_report_unreachable(c, r);
			goto out;
		}
		if (status != 200) {
			code = report_http_error(status, j);
			json_decref(j);
			if (code != EXIT_USAGE)
				goto out;
			continue;
		}
		found[nfound++] = name;
		json_array_extend(all, json_object_get(j, "programs"));
		json_decref(j);
	}
	{
		size_t i;
		json_t *p;

		json_array_foreach(all, i, p)
			if (!json_is_true(json_object_get(p, "wanted")) && code == EXIT_OK)
				code = EXIT_NOT_WANTED;
	}
	if (o->json) {
		int e = nfound ? print_programs_json(c, found, nfound) : EXIT_OK;

		if (e != EXIT_OK) {
			code = e;
		} else if (!nfound) {
			json_t *none = json_pack("{s:[]}", "programs");

			print_json(none);
			json_decref(none);
		}
	} else {
		print_status_table(all);
	}
out:
	json_decref(all);
	free(found);
	client_free(c);
	return code;
}

/* ---- start / stop / restart / signal ------------------------------------ */

static int do_action(const struct cli_opts *o, int argc, char **argv, const char *action,
		     const char *query)
{
	struct client *c;
	json_t *collected = json_array();
	int code = EXIT_OK;

	if (argc < 2) {
		fprintf(stderr, "usage: tend %s NAME|GROUP:*|all...\n", action);
		json_decref(collected);
		return EXIT_USAGE;
	}
	c = cli_connect(o);
	if (!c) {
		json_decref(collected);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		char *esc = client_escape(argv[i]);
		char *path = xasprintf("/v1/programs/%s/%s%s", esc, action, query ? query : "");
		json_t *j = NULL, *res;
		long status = 0;
		size_t k;
		json_t *r1;
		int r;

		free(esc);
		r = client_call(c, "POST", path, NULL, &status, &j);
		free(path);
		if (r < 0) {
			code = client_report_unreachable(c, r);
			break;
		}
		if (status != 200) {
			int e = report_http_error(status, j);

			json_decref(j);
			if (code == EXIT_OK || e > code)
				code = e;
			if (e == EXIT_REFUSED)
				break;
			continue;
		}
		res = json_object_get(j, "results");
		json_array_foreach(res, k, r1) {
			bool ok = json_is_true(json_object_get(r1, "ok"));
			const char *reason = json_string_value(json_object_get(r1, "reason"));

			if (!o->json) {
				if (ok)
					printf("%s: %s\n", json_string_value(json_object_get(r1, "name")),
					       json_string_value(json_object_get(r1, "message")));
				else
					printf("%s: ERROR (%s%s%s)\n",
					       json_string_value(json_object_get(r1, "name")),
					       json_string_value(json_object_get(r1, "message")),
					       reason ? ": " : "", reason ? reason : "");
			}
			if (!ok && code == EXIT_OK)
				code = EXIT_NOT_WANTED;
		}
		json_array_extend(collected, res);
		json_decref(j);
	}
	if (o->json) {
		json_t *out = json_pack("{s:s,s:b,s:O}", "action", action, "ok", code == EXIT_OK,
					"results", collected);

		print_json(out);
		json_decref(out);
	}
	json_decref(collected);
	client_free(c);
	return code;
}

int cli_start(const struct cli_opts *o, int argc, char **argv)
{
	return do_action(o, argc, argv, "start", NULL);
}

int cli_stop(const struct cli_opts *o, int argc, char **argv)
{
	return do_action(o, argc, argv, "stop", NULL);
}

/* tend scale NAME N: run N instances of a program (within numprocs_min..max for a pool) */
int cli_scale(const struct cli_opts *o, int argc, char **argv)
{
	struct client *c;
	json_t *j = NULL;
	long status = 0, n;
	char *esc, *path;
	int r, code = EXIT_OK;

	if (argc != 3 || parse_int(argv[2], 0, 100000, &n) < 0) {
		fprintf(stderr, "usage: tend scale NAME COUNT\n");
		return EXIT_USAGE;
	}
	c = cli_connect(o);
	if (!c)
		return 1;
	esc = client_escape(argv[1]);
	path = xasprintf("/v1/programs/%s/scale?n=%ld", esc, n);
	free(esc);
	r = client_call(c, "POST", path, NULL, &status, &j);
	free(path);
	if (r < 0) {
		code = client_report_unreachable(c, r);
	} else if (status != 200) {
		code = report_http_error(status, j);
	} else if (o->json) {
		print_json(j);
	} else {
		printf("%s: %lld -> %lld\n", json_string_value(json_object_get(j, "program")),
		       json_integer_value(json_object_get(j, "from")), json_integer_value(json_object_get(j, "to")));
	}
	json_decref(j);
	client_free(c);
	return code;
}

/* tend restart [--rolling] NAME...: --rolling replaces instances one by one, never fewer ready */
int cli_restart(const struct cli_opts *o, int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--rolling") == 0) {
		argv[1] = argv[0];
		return do_action(o, argc - 1, argv + 1, "restart", "?rolling=1");
	}
	return do_action(o, argc, argv, "restart", NULL);
}

int cli_signal(const struct cli_opts *o, int argc, char **argv)
{
	char query[64];
	int sig;

	if (argc < 3) {
		fprintf(stderr, "usage: tend signal SIG NAME|GROUP:*|all...\n");
		return EXIT_USAGE;
	}
	sig = sig_from_name(argv[1]);
	if (sig < 0) {
		fprintf(stderr, "tend: '%s' is not a signal name or number\n", argv[1]);
		return EXIT_USAGE;
	}
	snprintf(query, sizeof(query), "?signal=%d", sig);
	return do_action(o, argc - 1, argv + 1, "signal", query);
}

/* ---- shutdown ------------------------------------------------------------ */

int cli_shutdown(const struct cli_opts *o, int argc, char **argv)
{
	struct client *c = cli_connect(o);
	pid_t daemon_pid = 0;
	json_t *j = NULL;
	long status = 0;
	int r;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tend shutdown\n");
		client_free(c);
		return EXIT_USAGE;
	}
	if (!c)
		return 1;
	/* the daemon's pid, to wait until the process (not only its socket) is gone */
	if (client_call(c, "GET", "/v1/daemon", NULL, &status, &j) == 0 && status == 200)
		daemon_pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	j = NULL;
	r = client_call(c, "POST", "/v1/shutdown", NULL, &status, &j);
	if (r < 0) {
		r = client_report_unreachable(c, r);
		client_free(c);
		return r;
	}
	if (status != 200) {
		r = report_http_error(status, j);
		json_decref(j);
		client_free(c);
		return r;
	}
	json_decref(j);
	/* answer once the daemon is gone, so `tend shutdown && ...` is sequential */
	for (;;) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		j = NULL;
		if (client_call(c, "GET", "/v1/daemon", NULL, &status, &j) < 0)
			break;
		json_decref(j);
		nanosleep(&ts, NULL);
	}
	/* the socket closes before tend removes its cgroups and exits */
	for (int i = 0; daemon_pid > 0 && i < 500 && kill(daemon_pid, 0) == 0; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	if (o->json)
		printf("{\"ok\": true, \"message\": \"shut down\"}\n");
	else
		printf("Shut down\n");
	client_free(c);
	return EXIT_OK;
}

/* ---- check --------------------------------------------------------------- */

int cli_check(const struct cli_opts *o, int argc, char **argv)
{
	const char *path = o->config;
	struct config *cfg = NULL;
	struct config_diag d;
	unsigned flags = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--strict") == 0) {
			flags |= CONFIG_STRICT; /* every warning is an error */
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "tend: check: unknown option '%s'\n", argv[i]);
			return EXIT_USAGE;
		} else if (!path) {
			path = argv[i];
		}
	}
	if (!path)
		path = find_config(o);
	if (!path) {
		fprintf(stderr, "tend: no config file: give -c FILE\n");
		return EXIT_CONFIG;
	}
	r = config_load_flags(path, flags, &cfg, &d);
	if (o->json) {
		json_t *out = json_object(), *errs = json_array(), *warns = json_array(), *progs = json_array();

		for (size_t i = 0; i < d.nerrors; i++)
			json_array_append_new(errs, json_string(d.errors[i]));
		for (size_t i = 0; i < d.nwarnings; i++)
			json_array_append_new(warns, json_string(d.warnings[i]));
		for (size_t i = 0; cfg && i < cfg->nprocs; i++) {
			const struct prog_config *p = cfg->procs[i];
			json_t *deps = json_array();

			for (char **dd = p->depends_on; *dd; dd++)
				json_array_append_new(deps, json_string(*dd));
			json_array_append_new(progs,
					      json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:o}", "name", p->fullname,
							"program", p->program, "group", p->group, "command",
							p->command, "priority", p->priority, "autostart",
							p->autostart, "depends_on", deps));
		}
		json_object_set_new(out, "ok", json_boolean(r == 0));
		json_object_set_new(out, "errors", errs);
		json_object_set_new(out, "warnings", warns);
		json_object_set_new(out, "programs", progs);
		print_json(out);
		json_decref(out);
	} else {
		for (size_t i = 0; i < d.nerrors; i++)
			fprintf(stderr, "%s\n", d.errors[i]);
		for (size_t i = 0; i < d.nwarnings; i++)
			fprintf(stderr, "%s\n", d.warnings[i]);
		if (cfg) {
			size_t w = 4;

			for (size_t i = 0; i < cfg->nprocs; i++)
				w = MAX(w, strlen(cfg->procs[i]->fullname));
			printf("%-*s  %8s  %-9s  %s\n", (int)w, "NAME", "PRIORITY", "AUTOSTART", "COMMAND");
			for (size_t i = 0; i < cfg->nprocs; i++) {
				const struct prog_config *p = cfg->procs[i];

				printf("%-*s  %8d  %-9s  %s", (int)w, p->fullname, p->priority,
				       p->autostart ? "yes" : "no", p->command);
				if (p->depends_on[0]) {
					printf("  (after");
					for (char **dd = p->depends_on; *dd; dd++)
						printf(" %s", *dd);
					printf(")");
				}
				printf("\n");
			}
			printf("%s: ok, %zu program instance%s\n", cfg->path, cfg->nprocs,
			       cfg->nprocs == 1 ? "" : "s");
		} else {
			fprintf(stderr, "%s: %zu error%s\n", path, d.nerrors, d.nerrors == 1 ? "" : "s");
		}
	}
	config_diag_done(&d);
	config_free(cfg);
	return r == 0 ? EXIT_OK : EXIT_CONFIG;
}

/* ---- tail / rotate ------------------------------------------------------- */

int cli_tail(const struct cli_opts *o, int argc, char **argv)
{
	const char *name = NULL, *stream = "stdout";
	bool follow = false;
	long lines = 10, status = 0;
	struct client *c;
	json_t *j = NULL;
	char *esc, *path;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0) {
			follow = true;
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			if (parse_int(argv[++i], 0, 1000000, &lines) < 0) {
				fprintf(stderr, "tend: -n takes a number of lines\n");
				return EXIT_USAGE;
			}
		} else if (!name) {
			name = argv[i];
		} else if (strcmp(argv[i], "stdout") == 0 || strcmp(argv[i], "stderr") == 0) {
			stream = argv[i];
		} else {
			name = NULL;
			break;
		}
	}
	if (!name) {
		fprintf(stderr, "usage: tend tail [-f] [-n N] NAME [stdout|stderr]\n");
		return EXIT_USAGE;
	}
	c = cli_connect(o);
	if (!c)
		return 1;
	esc = client_escape(name);
	path = xasprintf("/v1/logs/%s?stream=%s&lines=%ld%s", esc, stream, lines,
			 follow ? "&follow=1" : "");
	free(esc);
	r = client_stream(c, path, &status, &j);
	free(path);
	if (r < 0) {
		r = client_report_unreachable(c, r);
	} else if (status != 200) {
		r = report_http_error(status, j);
	} else {
		r = EXIT_OK;
	}
	json_decref(j);
	client_free(c);
	return r;
}

int cli_rotate(const struct cli_opts *o, int argc, char **argv)
{
	char *all[] = { argv[0], "all", NULL };

	if (argc < 2)
		return do_action(o, 2, all, "rotate", NULL);
	return do_action(o, argc, argv, "rotate", NULL);
}

/* ---- reload --------------------------------------------------------------- */

static void print_names(json_t *plan, const char *key, const char *label)
{
	json_t *a = json_object_get(plan, key), *v;
	size_t i;

	if (!json_array_size(a))
		return;
	printf("%s:", label);
	json_array_foreach(a, i, v)
		printf("%s %s", i ? "," : "", json_string_value(v));
	printf("\n");
}

int cli_reload(const struct cli_opts *o, int argc, char **argv)
{
	bool dry = argc > 1 && strcmp(argv[1], "--dry-run") == 0;
	struct client *c;
	json_t *j = NULL;
	long status = 0;
	int r;

	if (argc > 2 || (argc == 2 && !dry)) {
		fprintf(stderr, "usage: tend reload [--dry-run]\n");
		return EXIT_USAGE;
	}
	c = cli_connect(o);
	if (!c)
		return 1;
	r = client_call(c, "POST", dry ? "/v1/reload?dry_run=1" : "/v1/reload", NULL, &status, &j);
	if (r < 0) {
		r = client_report_unreachable(c, r);
		client_free(c);
		return r;
	}
	if (o->json) {
		print_json(j);
	} else if (status == 422) {
		json_t *e;
		size_t i;

		json_array_foreach(json_object_get(j, "errors"), i, e)
			fprintf(stderr, "%s\n", json_string_value(e));
		fprintf(stderr, "tend: the config has errors; nothing changed\n");
	} else if (status == 200) {
		if (dry)
			printf("dry run, nothing changed:\n");
		print_names(j, "added", "added (starts)");
		print_names(j, "changed", "changed (restarts)");
		print_names(j, "removed", "removed (stops)");
		print_names(j, "updated", "updated in place (keeps running)");
		printf("unchanged: %lld\n", (long long)json_integer_value(json_object_get(j, "unchanged")));
	}
	r = status == 200 ? EXIT_OK : status == 422 ? EXIT_CONFIG : report_http_error(status, j);
	json_decref(j);
	client_free(c);
	return r;
}

/* ---- ps (no daemon needed) ------------------------------------------------ */

static void ps_json_proc_list(json_t *a, const struct proc_info *const *v, size_t n, bool cpu)
{
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, cpu ? json_pack("{s:s,s:i,s:f}", "name", v[i]->comm, "pid",
							 (int)v[i]->pid, "percent",
							 (double)((long)(v[i]->cpu_percent * 10 + 0.5)) / 10)
					      : json_pack("{s:s,s:i,s:f}", "name", v[i]->comm, "pid",
							  (int)v[i]->pid, "mb",
							  (double)((long)(v[i]->rss_bytes / 1e5 + 0.5)) / 10));
}

static int ps_summary(const struct cli_opts *o, double interval)
{
	struct proc_table t;
	struct proc_summary s;

	if (proc_sample(&t, interval) < 0) {
		fprintf(stderr, "tend: cannot read /proc: %s\n", strerror(errno));
		return 1;
	}
	proc_summarize(&t, &s);
	if (o->json) {
		json_t *j = json_pack("{s:i,s:i,s:i,s:i,s:f,s:[],s:[]}", "total_processes", (int)s.total,
				      "running", (int)s.running, "sleeping", (int)s.sleeping, "zombie",
				      (int)s.zombie, "total_memory_gb",
				      (double)((long)(s.rss_total / 1e7 + 0.5)) / 100, "top_memory", "top_cpu");

		ps_json_proc_list(json_object_get(j, "top_memory"), s.top_mem, s.ntop_mem, false);
		ps_json_proc_list(json_object_get(j, "top_cpu"), s.top_cpu, s.ntop_cpu, true);
		print_json(j);
		json_decref(j);
	} else {
		printf("processes: %zu total, %zu running, %zu sleeping, %zu zombie, %zu other\n", s.total,
		       s.running, s.sleeping, s.zombie, s.other);
		printf("memory: %.2f GB resident in all\n", (double)s.rss_total / 1e9);
		printf("\ntop CPU (%s):\n%8s %7s  %s\n",
		       interval > 0 ? "over the interval" : "over each process's life", "PID", "CPU%",
		       "NAME");
		for (size_t i = 0; i < s.ntop_cpu; i++)
			printf("%8d %7.1f  %s\n", (int)s.top_cpu[i]->pid, s.top_cpu[i]->cpu_percent,
			       s.top_cpu[i]->comm);
		printf("\ntop memory:\n%8s %9s  %s\n", "PID", "MB", "NAME");
		for (size_t i = 0; i < s.ntop_mem; i++)
			printf("%8d %9.1f  %s\n", (int)s.top_mem[i]->pid, (double)s.top_mem[i]->rss_bytes / 1e6,
			       s.top_mem[i]->comm);
	}
	proc_table_done(&t);
	return EXIT_OK;
}

static int ps_list(const struct cli_opts *o, bool zombies)
{
	struct proc_table t;
	json_t *a = json_array();
	size_t shown = 0;

	if (proc_scan(&t) < 0) {
		fprintf(stderr, "tend: cannot read /proc: %s\n", strerror(errno));
		json_decref(a);
		return 1;
	}
	if (!o->json)
		printf("%8s %-16s %8s %-16s %10s\n", "PID", "NAME", "PPID", "PARENT",
		       zombies ? "AGE" : "SESSION");
	for (size_t i = 0; i < t.n; i++) {
		const struct proc_info *p = &t.v[i], *parent;

		if (zombies ? p->state != 'Z' : !proc_is_orphan(&t, p))
			continue;
		parent = proc_find(&t, p->ppid);
		shown++;
		if (o->json) {
			json_t *e = json_pack("{s:i,s:s,s:i,s:s?,s:f}", "pid", (int)p->pid, "name", p->comm,
					      "ppid", (int)p->ppid, "parent", parent ? parent->comm : NULL,
					      zombies ? "age_seconds" : "age_seconds", proc_age(&t, p));

			if (!zombies)
				json_object_set_new(e, "session", json_integer(p->sid));
			json_array_append_new(a, e);
		} else if (zombies) {
			printf("%8d %-16s %8d %-16s %9.0fs\n", (int)p->pid, p->comm, (int)p->ppid,
			       parent ? parent->comm : "?", proc_age(&t, p));
		} else {
			printf("%8d %-16s %8d %-16s %10d\n", (int)p->pid, p->comm, (int)p->ppid,
			       parent ? parent->comm : "?", (int)p->sid);
		}
	}
	if (o->json) {
		json_t *j = json_pack("{s:o}", zombies ? "zombies" : "orphans", a);

		print_json(j);
		json_decref(j);
	} else {
		json_decref(a);
		if (!shown)
			printf("(none)\n");
	}
	proc_table_done(&t);
	return EXIT_OK;
}

int cli_ps(const struct cli_opts *o, int argc, char **argv)
{
	double interval = 1.0;
	int mode = 0; /* 1 summary, 2 zombies, 3 orphans */

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--summary") == 0)
			mode = 1;
		else if (strcmp(argv[i], "--zombies") == 0)
			mode = 2;
		else if (strcmp(argv[i], "--orphans") == 0)
			mode = 3;
		else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			char *end;

			interval = strtod(argv[++i], &end);
			if (*end || interval < 0 || interval > 60) {
				fprintf(stderr, "tend: --interval takes seconds (0 to 60)\n");
				return EXIT_USAGE;
			}
		} else {
			mode = -1;
		}
	}
	if (mode <= 0) {
		fprintf(stderr, "usage: tend ps --summary [--interval S] | --zombies | --orphans  [--json]\n");
		return EXIT_USAGE;
	}
	if (mode == 1)
		return ps_summary(o, interval);
	return ps_list(o, mode == 2);
}

/* ---- events ---------------------------------------------------------------- */

int cli_events(const struct cli_opts *o, int argc, char **argv)
{
	struct client *c;
	json_t *j = NULL;
	long status = 0;
	char *path;
	int r;

	if (argc > 2 || (argc == 2 && strspn(argv[1], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789,") !=
					      strlen(argv[1]))) {
		fprintf(stderr, "usage: tend events [TYPE,...]   (supervisord's event names: PROCESS_STATE, TICK_5...)\n");
		return EXIT_USAGE;
	}
	c = cli_connect(o);
	if (!c)
		return 1;
	path = argc == 2 ? xasprintf("/v1/events?types=%s", argv[1]) : xstrdup("/v1/events");
	/* one JSON object per line, as they happen, until Ctrl-C */
	r = client_stream(c, path, &status, &j);
	free(path);
	if (r < 0)
		r = client_report_unreachable(c, r);
	else if (status != 200)
		r = report_http_error(status, j);
	json_decref(j);
	client_free(c);
	return r < 0 ? 1 : r;
}
