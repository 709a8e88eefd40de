/*
 * The control socket: HTTP/1.1 over a unix socket, parsed with http-parser
 * and served from the daemon's own loop (no thread, no second event loop).
 *
 * Every request is bounded: 16 KiB of request line and headers, 1 MiB of
 * body, 10 s to arrive; garbage gets 400, too large 413/431, too slow 408,
 * and the connection is closed.  At most 256 connections: at the limit the
 * oldest idle one makes way for a new one, a uid other than the owner's and
 * root's may hold at most half, and EMFILE never makes accept() spin.  The caller's
 * credentials come from SO_PEERCRED: the daemon's owner and root may do
 * everything, the socket's group may only read.
 */
#ifndef TEND_CONTROL_H
#define TEND_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "daemon/loop.h"

#define CONTROL_MAX_HEADER (16 * 1024)
#define CONTROL_MAX_BODY (1024 * 1024)
#define CONTROL_MAX_CONNS 256
#define CONTROL_REQUEST_TIMEOUT_NS (10 * NSEC_PER_SEC)
#define CONTROL_IDLE_TIMEOUT_NS (60 * NSEC_PER_SEC)

struct control;
struct conn;

struct request {
	const char *method; /* "GET", "POST"... */
	const char *path;   /* percent-decoded, without the query */
	const char *query;  /* raw, without '?', "" when none */
	const char *body;
	size_t body_len;
	uid_t uid;          /* SO_PEERCRED */
	gid_t gid;
	pid_t pid;
	bool may_write;     /* owner or root */
	bool may_read;      /* also the socket's group */
	bool tcp;           /* through the TCP listener */
	bool need_auth;     /* TCP, credentials configured, none (or wrong ones) given */
	const char *authorization; /* request headers, NULL when absent */
	const char *origin;
	const char *host;
	const char *fetch_site;    /* Sec-Fetch-Site */
	bool body_too_big;  /* over CONTROL_MAX_BODY: no body; answer an error (the
			       connection closes after it) in the protocol the path speaks */
};

/* Called for every complete request; must answer now or later with conn_reply*. */
typedef void request_handler(void *ctx, struct conn *c, const struct request *req);

/*
 * Listen on path (mode applied without a window: the socket is created 0600
 * and then chmod'ed); every request goes to handler(ctx, ...).  Refuses (-EADDRINUSE) when another daemon answers on
 * it; a stale socket file is replaced.  Returns 0 or -errno.
 */
int control_open(struct control **ret, struct loop *l, const char *path, mode_t mode,
		 request_handler *handler, void *ctx);

/*
 * Also listen on TCP (host "127.0.0.1" unless the config names another).
 * Requests from there carry no peer credentials: their rights come from
 * control_set_credentials().  0 or -errno.
 */
int control_listen_tcp(struct control *ctl, const char *host, int port);

/*
 * HTTP Basic credentials for the TCP listener ([inet_http_server] username,
 * password: plain or "{SHA}" + hex SHA-1).  With them a TCP client that
 * presents them may do everything and one that does not gets 401 (except on
 * /healthz, /readyz, /metrics); without them TCP clients may only read.
 */
void control_set_credentials(struct control *ctl, const char *user, const char *password);

/*
 * [unix_http_server] chown=: give the socket to uid:gid; that user, and
 * every member of that group, may then do everything (under supervisord,
 * whoever can connect may).  0 or -errno (the socket stays as it was).
 */
int control_chown(struct control *ctl, uid_t uid, gid_t gid);

/* Close the listener and every connection; unlink the socket.  Accepts NULL. */
void control_close(struct control *ctl);

/* Answer the current request of c (exactly once per request). */
void conn_reply(struct conn *c, int status, const char *content_type, const char *body, size_t len);
/* Same, with extra header lines ("Name: value\r\n" each). */
void conn_reply_headers(struct conn *c, int status, const char *content_type, const char *headers,
			const char *body, size_t len);
/* Answer with JSON; takes the reference to j. */
void conn_reply_json(struct conn *c, int status, json_t *j);
/* Answer {"error": {"code": code, "message": ...}}. */
void conn_reply_error(struct conn *c, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * For an answer that comes later: cancel(ctx) is called if the connection
 * goes away first (then the answer must not be given).
 */
void conn_set_cancel(struct conn *c, void (*cancel)(void *ctx), void *ctx);

/*
 * Streamed answers (tend tail -f): headers with chunked transfer encoding
 * now, then any number of writes, then the end.  A client that reads too
 * slowly loses data rather than making tend buffer without bound: a write
 * that would take the connection past CONTROL_STREAM_MAX buffered bytes is
 * dropped and -ENOBUFS returned.  cancel (conn_set_cancel) runs when the
 * client goes away.
 */
#define CONTROL_STREAM_MAX (1024 * 1024)
void conn_stream_begin(struct conn *c, const char *content_type);
int conn_stream_write(struct conn *c, const void *data, size_t len);
void conn_stream_end(struct conn *c);

/* Number of open connections (for tests and status). */
size_t control_nconns(const struct control *ctl);

#endif
