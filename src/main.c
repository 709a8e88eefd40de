/*
 * tend: the command-line interface.  Parses the global options, then hands
 * the rest to one command from a fixed table.  `tend up` execs the daemon
 * (tendd); every other command talks to it over its unix socket.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/version.h"

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
	{ "restart", cli_restart, "NAME|GROUP:*|all...", "stop, then start programs" },
	{ "signal", cli_signal, "SIG NAME|GROUP:*|all...", "send a signal to programs" },
	{ "shutdown", cli_shutdown, "", "stop every program in order, then the daemon" },
	{ "check", cli_check, "[FILE]", "validate a config and list its programs; start nothing" },
	{ "version", cli_version, "", "print the version" },
	{ "help", cli_help, "[COMMAND]", "show help" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tend [-c FILE] [-s SOCKET] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %-26s %s\n", commands[i].name, commands[i].args, commands[i].help);
	fprintf(f,
		"\noptions:\n"
		"  -c, --config FILE   config file (default: ./tend.conf, /etc/tend/tend.conf,\n"
		"                      /etc/supervisord.conf, /etc/supervisor/supervisord.conf)\n"
		"  -s, --socket PATH   the daemon's socket (default: from the config, $TEND_SOCKET)\n"
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts o = { .socket = getenv("TEND_SOCKET"), .argv0 = argv };
	char **rest;
	int opt, nrest = 0;

	if (o.socket && !*o.socket)
		o.socket = NULL;
	/* options may come before or after the command ("+" keeps getopt in order) */
	rest = calloc((size_t)argc + 1, sizeof(char *));
	if (!rest)
		return 1;
	optind = 1;
	while (optind < argc) {
		opt = getopt_long(argc, argv, "+c:s:jhV", opts, NULL);
		if (opt == -1) {
			rest[nrest++] = argv[optind++];
			/* `up` keeps its own options (-d, --pidfile) for the daemon */
			if (nrest == 1 && strcmp(rest[0], "up") == 0) {
				while (optind < argc) {
					if ((strcmp(argv[optind], "-c") == 0 ||
					     strcmp(argv[optind], "--config") == 0) && optind + 1 < argc) {
						o.config = argv[optind + 1];
						optind += 2;
					} else {
						rest[nrest++] = argv[optind++];
					}
				}
			}
			continue;
		}
		switch (opt) {
		case 'c':
			o.config = optarg;
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			free(rest);
			return EXIT_OK;
		case 'V':
			free(rest);
			return cli_version(&o, 0, NULL);
		default:
			usage(stderr);
			free(rest);
			return EXIT_USAGE;
		}
	}
	if (nrest == 0) {
		usage(stderr);
		free(rest);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, rest[0]) == 0) {
			int r = commands[i].run(&o, nrest, rest);

			free(rest);
			return r;
		}
	}
	fprintf(stderr, "tend: unknown command '%s' (see 'tend help')\n", rest[0]);
	free(rest);
	return EXIT_USAGE;
}
