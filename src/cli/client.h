/*
 * The CLI's side of the control API: HTTP/1.1 over the daemon's unix socket,
 * one connection per request, answers parsed with http-parser (the library
 * the daemon parses requests with), JSON with jansson.
 */
#ifndef TEND_CLIENT_H
#define TEND_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/exitcodes.h"

struct client;

/* A client of the daemon on socket_path (each call connects).  Never NULL. */
struct client *client_new(const char *socket_path);
struct client *client_free(struct client *c);

/*
 * One request.  On a response, returns 0 with the HTTP status and the parsed
 * JSON body (NULL if the body is not JSON; caller decrefs).  When the daemon
 * cannot be reached returns -errno (-ENOENT, -ECONNREFUSED: not running;
 * -EACCES: the socket's permissions refuse us) and prints nothing.
 */
int client_call(struct client *c, const char *method, const char *path, const char *body,
		long *ret_status, json_t **ret_json);

/* The same, with the body as it came (valid until the next call on c). */
int client_call_raw(struct client *c, const char *method, const char *path, const char *body,
		    long *ret_status, const char **ret_body, size_t *ret_len);

/*
 * GET path and give a 200 answer's body to sink a piece at a time, as it
 * arrives; sink returns 0, or -1 to stop reading (the rest is not read).
 * Any other answer is parsed as JSON into *ret_json.  Same returns as
 * client_call.
 */
typedef int client_sink(void *ctx, const char *at, size_t len);
int client_get_sink(struct client *c, const char *path, client_sink *sink, void *ctx, long *ret_status,
		    json_t **ret_json);

/*
 * GET path and copy a 200 answer's body to stdout as it arrives (tail -f);
 * any other answer is parsed as JSON into *ret_json.  Same returns as
 * client_call.
 */
int client_stream(struct client *c, const char *path, long *ret_status, json_t **ret_json);

/* The socket path this client uses. */
const char *client_socket(const struct client *c);

/* Print a failed call the way every command does; returns the exit code. */
int client_report_unreachable(const struct client *c, int err);

/* Percent-encode a program name for a URL path segment (caller frees). */
char *client_escape(const char *s);

#endif
