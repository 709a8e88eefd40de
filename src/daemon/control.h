/*
 * The control socket: HTTP/1.1 over a unix socket, parsed with http-parser
 * and served from the daemon's own loop (no thread, no second event loop).
 *
 * Every request is bounded: 16 KiB of request line and headers, 1 MiB of
 * body, 10 s to arrive; garbage gets 400, too large 413/431, too slow 408,
 * and the connection is closed.  Every answer is bounded too: at most
 * CONTROL_MAX_RESPONSE bytes, and all the answers not yet sent together at
 * most CONTROL_OUT_BUDGET (a larger one is refused with 503, or a fault in
 * XML-RPC); a client that reads nothing of its answer for
 * CONTROL_WRITE_TIMEOUT_NS is cut off, and the memory is given back.
 *
 * Connections: at most 256.  A client (a TCP address; on the unix socket a
 * uid other than the owner's and root's) may hold CONTROL_MAX_PER_CLIENT of
 * them and CONTROL_MAX_STREAMS_PER_CLIENT streams; at the limit the oldest
 * idle connection of that client makes way.  Beyond it, a small reserve
 * serves /healthz, /readyz and /metrics only, so a health check never
 * starves for a slot.  EMFILE never makes accept() spin.
 *
 * Rights: on the unix socket the caller's credentials come from
 * SO_PEERCRED: the daemon's owner and root may do everything, the socket's
 * group may only read.  Over TCP the Host header must name the listener
 * (an IP address, localhost, the configured host or this machine's name:
 * else 421, so a DNS-rebinding page is refused); with [inet_http_server]
 * credentials a client that presents them may do everything (failed logins
 * are rate-limited per address: 429), without them TCP clients see status
 * only (names, states, pids: no log contents, no paths) unless the config
 * says anonymous_read = true.
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
#define CONTROL_MAX_PER_CLIENT 64          /* connections of one TCP address, or one unprivileged uid */
#define CONTROL_RESERVE 16                 /* beyond the limits: /healthz, /readyz, /metrics only */
#define CONTROL_MAX_STREAMS 64             /* streamed answers (events, log follows) in all */
#define CONTROL_MAX_STREAMS_PER_CLIENT 8
#define CONTROL_MAX_RESPONSE (16 * 1024 * 1024)  /* one answer */
#define CONTROL_OUT_BUDGET (24 * 1024 * 1024)    /* answers not yet sent, all connections */
#define CONTROL_SMALL_RESPONSE (64 * 1024)       /* always sent, whatever the budget */
#define CONTROL_BODY_BUDGET (4 * 1024 * 1024)    /* large request bodies read ahead of their turn */
#define CONTROL_SNDBUF (128 * 1024)              /* a TCP connection's kernel send buffer (doubled by Linux) */
#define CONTROL_REQUEST_TIMEOUT_NS (10 * NSEC_PER_SEC)
#define CONTROL_RESERVE_TIMEOUT_NS (2 * NSEC_PER_SEC)
#define CONTROL_WRITE_TIMEOUT_NS (10 * NSEC_PER_SEC)   /* an answer nobody reads */
#define CONTROL_STREAM_STALL_NS (60 * NSEC_PER_SEC)    /* a stream nobody reads */
#define CONTROL_IDLE_TIMEOUT_NS (60 * NSEC_PER_SEC)
#define CONTROL_LOGIN_BURST 10                         /* failed logins an address may make at once */
#define CONTROL_LOGIN_REFILL_NS (6 * NSEC_PER_SEC)     /* then one more every 6 s */

struct control;
struct conn;
struct sbuf;

struct request {
	const char *method; /* "GET", "POST"... */
	const char *path;   /* percent-decoded, without the query */
	const char *query;  /* raw, without '?', "" when none */
	const char *body;
	size_t body_len;
	uid_t uid;          /* SO_PEERCRED */
	gid_t gid;
	pid_t pid;
	bool may_write;     /* owner or root; over TCP the credentials */
	bool may_read;      /* also the socket's group; over TCP without credentials anonymous_read */
	bool may_status;    /* names, states, pids: may_read, or TCP without credentials configured */
	bool tcp;           /* through the TCP listener */
	const char *peer;   /* TCP: the client's address; "" on the unix socket */
	bool need_auth;     /* TCP, credentials configured, none (or wrong ones) given */
	bool login_blocked; /* TCP: too many failed logins from this address lately */
	bool wrong_host;    /* TCP: the Host header names another server (DNS rebinding) */
	bool reserve;       /* a connection beyond the client's quota: public routes only */
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
 * Without credentials configured, may TCP clients read logs and config
 * paths ([inet_http_server] anonymous_read)?  Default: no, status only.
 */
void control_set_anonymous_read(struct control *ctl, bool on);

/*
 * Does a Host header name a listener on bound_host:port?  An IP address (no
 * DNS-rebinding page can send one), localhost, bound_host itself, or this
 * machine's name hostname (whole, or its first label), with port if a port
 * is given.  No Host at all (HTTP/1.0) is fine: a browser always sends one.
 * Pure; this function can't fail.
 */
bool control_host_ok(const char *host, const char *bound_host, int port, const char *hostname);

/*
 * [unix_http_server] chown=: give the socket to uid:gid; that user, and
 * every member of that group, may then do everything (under supervisord,
 * whoever can connect may).  0 or -errno (the socket stays as it was).
 */
int control_chown(struct control *ctl, uid_t uid, gid_t gid);

/* Close the listener and every connection; unlink the socket.  Accepts NULL. */
void control_close(struct control *ctl);

/*
 * How large an answer c may be given now: CONTROL_MAX_RESPONSE, or less
 * while other answers wait to be sent (CONTROL_OUT_BUDGET), never less than
 * CONTROL_SMALL_RESPONSE.  A larger answer is refused by conn_reply (503);
 * XML-RPC checks first, to answer with a fault.
 */
size_t conn_reply_room(const struct conn *c);
/*
 * An answer of bytes is being built for c, over several loop iterations (a
 * long system.multicall): it counts against CONTROL_OUT_BUDGET until the
 * answer is given.
 */
void conn_preparing(struct conn *c, size_t bytes);

/* Answer the current request of c (exactly once per request). */
void conn_reply(struct conn *c, int status, const char *content_type, const char *body, size_t len);
/* Same, with extra header lines ("Name: value\r\n" each). */
void conn_reply_headers(struct conn *c, int status, const char *content_type, const char *headers,
			const char *body, size_t len);
/*
 * A large answer without a copy: conn_body_begin leaves CONN_HEAD_ROOM bytes
 * at the start of b (and room for size more), the body is added after them,
 * and conn_reply_take writes the status line and headers into that room and
 * hands b's buffer to the connection (an answer of megabytes is neither
 * copied nor faulted in twice).  b is left empty.
 */
#define CONN_HEAD_ROOM 256
void conn_body_begin(struct sbuf *b, size_t size);
void conn_reply_take(struct conn *c, int status, const char *content_type, struct sbuf *b);
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
 * dropped and -ENOBUFS returned; one that reads nothing for
 * CONTROL_STREAM_STALL_NS is cut off.  cancel (conn_set_cancel) runs when
 * the client goes away.  conn_may_stream() tells whether the client may
 * open one more stream (CONTROL_MAX_STREAMS_PER_CLIENT, CONTROL_MAX_STREAMS).
 */
#define CONTROL_STREAM_MAX (256 * 1024)
bool conn_may_stream(const struct conn *c);
void conn_stream_begin(struct conn *c, const char *content_type);
int conn_stream_write(struct conn *c, const void *data, size_t len);
void conn_stream_end(struct conn *c);

/* The loop c is served on (for a handler that paces a long answer). */
struct loop *conn_loop(const struct conn *c);

/* Number of open connections (for tests and status). */
size_t control_nconns(const struct control *ctl);

#endif
