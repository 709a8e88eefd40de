/* The tend commands; each returns a CLI exit code (cli/client.h). */
#ifndef TEND_CLI_H
#define TEND_CLI_H

#include <stdbool.h>

struct cli_opts {
	const char *config;  /* -c FILE, or NULL */
	const char *socket;  /* -s PATH / $TEND_SOCKET, or NULL */
	bool json;           /* --json */
	char *const *argv0;  /* the whole argv, for `up` */
};

int cli_up(const struct cli_opts *o, int argc, char **argv);
int cli_status(const struct cli_opts *o, int argc, char **argv);
int cli_start(const struct cli_opts *o, int argc, char **argv);
int cli_stop(const struct cli_opts *o, int argc, char **argv);
int cli_restart(const struct cli_opts *o, int argc, char **argv);
int cli_scale(const struct cli_opts *o, int argc, char **argv);
int cli_signal(const struct cli_opts *o, int argc, char **argv);
int cli_shutdown(const struct cli_opts *o, int argc, char **argv);
int cli_check(const struct cli_opts *o, int argc, char **argv);
int cli_tail(const struct cli_opts *o, int argc, char **argv);
int cli_rotate(const struct cli_opts *o, int argc, char **argv);
int cli_reload(const struct cli_opts *o, int argc, char **argv);
int cli_ps(const struct cli_opts *o, int argc, char **argv);
int cli_events(const struct cli_opts *o, int argc, char **argv);
int cli_top(const struct cli_opts *o, int argc, char **argv);
int cli_map(const struct cli_opts *o, int argc, char **argv);

/* The daemon's socket path as the options name it (-s, $TEND_SOCKET, the config).  Caller frees. */
char *cli_socket_path(const struct cli_opts *o);

struct client;
/* A client for the daemon the options name (socket from -s, $TEND_SOCKET, the config). */
struct client *cli_connect(const struct cli_opts *o);

#endif
