/*
 * tend: the command-line interface.  Parses the global options, then hands
 * the rest to one command from a fixed table.  `tend up` execs the daemon
 * (tendd); every other command talks to it over its unix socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/version.h"
#include "config/config.h"

struct command {
	const char *name;
	int (*run)(const struct cli_opts *o, int argc, char **argv);
	const char *args;
	const char *help;
};

static int cli_help(const struct cli_opts *o, int argc, char **argv);
static int cli_version(const struct cli_opts *o, int argc, char **argv);

static const struct command commands[] = {
	{ "up", cli_up, "[-d] [--pidfile PATH]",
	  "run the supervisor in the foreground (-d: in the background)" },
	{ "status", cli_status, "[NAME|GROUP:*]...", "show programs and their states" },
	{ "start", cli_start, "NAME|GROUP:*|all...", "start programs (and what they depend on)" },
	{ "stop", cli_stop, "NAME|GROUP:*|all...", "stop programs, in order" },
	{ "restart", cli_restart, "[--rolling] NAME|GROUP:*|all...",
	  "stop, then start programs (--rolling: a ready replacement first, then the old one goes)" },
	{ "scale", cli_scale, "NAME COUNT", "run COUNT instances of a program (a pool: within numprocs_min..max)" },
	{ "signal", cli_signal, "SIG NAME|GROUP:*|all...", "send a signal to programs" },
	{ "tail", cli_tail, "[-f] [-n N] NAME [stdout|stderr]", "show (-f: follow) a program's output" },
	{ "rotate", cli_rotate, "[NAME|GROUP:*|all]...", "rotate log files now (default: all)" },
	{ "reload", cli_reload, "[--dry-run]", "re-read the config; restart only what changed" },
	{ "shutdown", cli_shutdown, "", "stop every program in order, then the daemon" },
	{ "top", cli_top, "", "live view of the programs and the system" },
	{ "events", cli_events, "[TYPE,...]", "print events as they happen (NDJSON; default: state changes)" },
	{ "ps", cli_ps, "--summary [--interval S]|--zombies|--orphans",
	  "system-wide processes (no daemon needed)" },
	{ "map", cli_map, "stats PROGRAM:MAP|/SHM-NAME",
	  "a shared map's counters (maps=), read-only from the map itself (no daemon needed)" },
	{ "check", cli_check, "[--strict] [FILE]",
	  "validate a config and list its programs; start nothing (--strict: warnings are errors)" },
	{ "version", cli_version, "", "print the version" },
	{ "help", cli_help, "[COMMAND]", "show help" },
};

static void usage(FILE *f)
{
	int col;

	fprintf(f, "usage: tend [-c FILE] [-s SOCKET] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %-34s %s\n", commands[i].name, commands[i].args, commands[i].help);
	/* the search list as config.h has it, wrapped at 78 columns */
	col = fprintf(f, "\noptions:\n  -c, --config FILE   config file (default: the first of") - 10;
	for (const char *const *p = config_search_path; *p; p++) {
		const char *dot = **p == '/' ? "" : "./", *end = p[1] ? "," : ")";

		if (col + 1 + (int)(strlen(dot) + strlen(*p)) + 1 > 78)
			col = fprintf(f, "\n                     ") - 1;
		col += fprintf(f, " %s%s%s", dot, *p, end);
	}
	fprintf(f, "\n"
		"  -s, --socket PATH   the daemon's socket (default: $TEND_SOCKET, then the config's\n"
		"                      [unix_http_server] file or [supervisorctl] serverurl, then\n"
		"                      /run/tend/tend.sock for root, else $XDG_RUNTIME_DIR/tend/ or\n"
		"                      /tmp/tend-UID/); tend up listens where the others look\n"
		"  -j, --json          machine-readable output\n"
		"\nexit codes: 0 ok, 1 a program is not in the wanted state, 2 usage error,\n"
		"            3 daemon unreachable, 4 permission refused, 5 config error\n");
}

static int cli_help(const struct cli_opts *o, int argc, char **argv)
{
	(void)o;
	if (argc > 1) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
			if (strcmp(commands[i].name, argv[1]) == 0) {
				printf("usage: tend %s %s\n  %s\n", commands[i].name, commands[i].args,
				       commands[i].help);
				return EXIT_OK;
			}
		}
		fprintf(stderr, "tend: no command '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	usage(stdout);
	return EXIT_OK;
}

static int cli_version(const struct cli_opts *o, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (o->json)
		printf("{\"version\": \"%s\"}\n", TEND_VERSION);
	else
		printf("tend %s\n", TEND_VERSION);
	return EXIT_OK;
}

/*
 * Global options may come before the command or anywhere after it; every
 * other argument after the command is the command's own (tail -f -n 5,
 * up -d ...).  Returns the option's value count consumed (0: not global).
 */
static int global_option(struct cli_opts *o, int argc, char **argv, int i)
{
	const char *a = argv[i];

	if (strcmp(a, "-j") == 0 || strcmp(a, "--json") == 0) {
		o->json = true;
		return 1;
	}
	if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
		o->config = argv[i + 1];
		return 2;
	}
	if (strncmp(a, "--config=", 9) == 0) {
		o->config = a + 9;
		return 1;
	}
	if ((strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) && i + 1 < argc) {
		o->socket = argv[i + 1];
		return 2;
	}
	if (strncmp(a, "--socket=", 9) == 0) {
		o->socket = a + 9;
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_opts o = { .socket = getenv("TEND_SOCKET"), .argv0 = argv };
	char **rest;
	int nrest = 0, r;

	if (o.socket && !*o.socket)
		o.socket = NULL;
	rest = calloc((size_t)argc + 1, sizeof(char *));
	if (!rest)
		return 1;
	for (int i = 1; i < argc;) {
		int used = global_option(&o, argc, argv, i);

		if (used) {
			i += used;
			continue;
		}
		if (nrest == 0 && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
			usage(stdout);
			free(rest);
			return EXIT_OK;
		}
		if (nrest == 0 && (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0)) {
			free(rest);
			return cli_version(&o, 0, NULL);
		}
		if (nrest == 0 && argv[i][0] == '-') {
			fprintf(stderr, "tend: unknown option '%s'\n", argv[i]);
			usage(stderr);
			free(rest);
			return EXIT_USAGE;
		}
		rest[nrest++] = argv[i++];
	}
	if (nrest == 0) {
		usage(stderr);
		free(rest);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, rest[0]) == 0) {
			r = commands[i].run(&o, nrest, rest);
			free(rest);
			return r;
		}
	}
	fprintf(stderr, "tend: unknown command '%s' (see 'tend help')\n", rest[0]);
	free(rest);
	return EXIT_USAGE;
}
