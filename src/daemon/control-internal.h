/*
 * The control socket's insides, shared by its three files: control.c (HTTP
 * on each connection: parse, dispatch, answer, stream), control-access.c
 * (who may do what: the rights of a request, logins, per-client quotas) and
 * control-socket.c (the listening sockets: open, lock, close).
 */
#ifndef TEND_CONTROL_INTERNAL_H
#define TEND_CONTROL_INTERNAL_H

#include <arpa/inet.h>
#include <http_parser.h>

#include "common/util.h"
#include "daemon/control.h"

/* How long after a large answer was freed the memory goes back (want_trim). */
#define CONTROL_TRIM_AFTER_NS (1000 * NSEC_PER_MSEC)

/* the request headers tend looks at */
enum { HDR_AUTH, HDR_ORIGIN, HDR_HOST, HDR_FETCH_SITE, HDR_COUNT };
static const char *const hdr_names[HDR_COUNT] = { "authorization", "origin", "host", "sec-fetch-site" };

struct conn {
	struct conn *next;
	struct control *ctl;
	struct io_watch w;
	struct timer deadline;
	http_parser parser;
	struct sbuf in;        /* bytes read, not yet parsed */
	struct sbuf url;
	struct sbuf body;
	size_t header_bytes;
	struct sbuf hname;     /* the header field being read */
	int hcur;              /* which of hv[] its value goes to (-1: none) */
	bool in_value;
	struct sbuf hv[HDR_COUNT];
	bool header_too_big;
	bool body_too_big;
	bool complete;         /* a full request was parsed */
	bool in_flight;        /* dispatched, no answer yet */
	bool keep_alive;
	bool close_after;      /* close once out is written */
	bool peer_eof;
	bool closed;
	bool streaming;        /* a chunked answer is being sent */
	bool tcp;              /* came through the TCP listener: no credentials */
	bool reserve;          /* beyond its client's quota: public routes only, then closed */
	bool heavy_queued;     /* a large request waiting its turn (dispatch_fair) */
	struct conn *heavy_next;
	char peer[INET6_ADDRSTRLEN]; /* TCP: the client's address; "" on the unix socket */
	struct sbuf out;
	size_t out_off;
	size_t preparing;      /* an answer being built over several iterations (conn_preparing) */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	void (*cancel)(void *ctx);
	void *cancel_ctx;
	struct deferred free_later;
	struct deferred close_later; /* a streamed write failed: close outside the writer's loop */
	bool write_failed;
};

struct control {
	struct loop *loop;
	struct io_watch lw;
	int lfd;
	struct io_watch tw;    /* the optional TCP listener */
	int tfd;
	int lockfd;
	int spare_fd;
	char *path;
	char *lockpath;
	gid_t sock_gid;
	bool chowned;          /* chown=: owner_uid and members of sock_gid may write */
	uid_t owner_uid;
	char *user;            /* [inet_http_server] credentials, NULL: none */
	char *password;
	bool anonymous_read;   /* without credentials configured, TCP clients may read logs */
	char *tcp_host;        /* the listener's host as configured, and its port */
	int tcp_port;
	char hostname[256];    /* this machine's name, also a good Host */
	struct login_bucket {  /* failed logins per TCP address (the least recently seen goes) */
		char peer[INET6_ADDRSTRLEN];
		double tokens;     /* failures still allowed now */
		int64_t at;        /* when tokens was computed */
	} logins[64];
	request_handler *handler;
	void *handler_ctx;
	struct conn *conns;
	size_t nconns;
	struct conn *heavy;    /* large requests waiting their turn, oldest first */
	size_t heavy_bytes;    /* their bodies */
	struct deferred heavy_later;
	struct timer trim_timer; /* give freed memory back to the system (want_trim) */
	http_parser_settings settings;
};
/* control.c */
void control_conns_init(struct control *ctl);
void control_conns_close(struct control *ctl);
void control_accept(struct loop *l, struct control *ctl, int lfd, bool tcp);
void conn_close(struct conn *c);

/* control-access.c */
int control_admit(struct control *ctl, bool tcp, uid_t uid, const char *peer);
void control_rights(struct conn *c, struct request *req);

#endif
