/* Who may do what on the control socket: a request's rights, TCP logins, per-client quotas. */
#include "daemon/control-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "daemon/log.h"

/* The same client: one TCP address, or one uid on the unix socket. */
static bool same_client(const struct conn *c, bool tcp, uid_t uid, const char *peer)
{
	return c->tcp == tcp && (tcp ? strcmp(c->peer, peer) == 0 : c->uid == uid);
}

/* tend's owner and root on the unix socket: no per-client limit. */
static bool privileged(bool tcp, uid_t uid)
{
	return !tcp && (uid == 0 || uid == geteuid());
}

bool conn_may_stream(const struct conn *c)
{
	size_t all = 0, mine = 0;

	for (const struct conn *o = c->ctl->conns; o; o = o->next) {
		if (!o->streaming)
			continue;
		all++;
		mine += same_client(o, c->tcp, c->uid, c->peer);
	}
	if (privileged(c->tcp, c->uid))
		return true;
	return all < CONTROL_MAX_STREAMS && mine < CONTROL_MAX_STREAMS_PER_CLIENT;
}

/* Compare without an early exit, so timing tells nothing about the secret. */
static bool same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* "Basic base64(user:password)" against the configured user and password (plain or {SHA}). */
static bool basic_auth_ok(const struct control *ctl, const char *hdr)
{
	unsigned char raw[512], md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned mdlen = 0;
	const char *b64, *colon, *pw;
	size_t n, pwlen;
	int len;
	bool ok;

	if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0)
		return false;
	for (b64 = hdr + 6; *b64 == ' '; b64++)
		;
	n = strcspn(b64, " \t\r\n");
	if (n == 0 || n % 4 || n / 4 * 3 >= sizeof(raw))
		return false;
	len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return false;
	while (len > 0 && n > 0 && b64[--n] == '=') /* EVP_DecodeBlock counts the padding */
		len--;
	raw[len] = '\0';
	if (memchr(raw, '\0', (size_t)len) || !(colon = strchr((char *)raw, ':')))
		return false;
	pw = colon + 1;
	pwlen = (size_t)len - (size_t)(pw - (char *)raw);
	ok = same_secret((char *)raw, (size_t)(colon - (char *)raw), ctl->user, strlen(ctl->user));
	if (strncmp(ctl->password, "{SHA}", 5) == 0) {
		char want[2 * EVP_MAX_MD_SIZE + 1];
		size_t wlen = strlen(ctl->password + 5);

		if (!EVP_Digest(pw, pwlen, md, &mdlen, EVP_sha1(), NULL) || wlen >= sizeof(want))
			return false;
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		/* the configured digest in lower case, then compared in constant time */
		for (size_t i = 0; i <= wlen; i++)
			want[i] = (char)tolower((unsigned char)ctl->password[5 + i]);
		ok &= same_secret(hex, 2 * mdlen, want, wlen);
	} else {
		ok &= same_secret(pw, pwlen, ctl->password, strlen(ctl->password));
	}
	explicit_bzero(raw, sizeof(raw));
	return ok;
}

/* ---- failed logins, per TCP address: a token bucket each ---------------------- */

static struct login_bucket *login_find(struct control *ctl, const char *peer, bool create)
{
	struct login_bucket *b = NULL, *oldest = &ctl->logins[0];
	int64_t now = mono_ns();

	for (size_t i = 0; i < ARRAY_SIZE(ctl->logins) && !b; i++) {
		if (ctl->logins[i].peer[0] && strcmp(ctl->logins[i].peer, peer) == 0)
			b = &ctl->logins[i];
		else if (ctl->logins[i].at < oldest->at)
			oldest = &ctl->logins[i];
	}
	if (!b && !create)
		return NULL;
	if (!b) {
		b = oldest; /* the least recently seen address forgets its failures */
		snprintf(b->peer, sizeof(b->peer), "%s", peer);
		b->tokens = CONTROL_LOGIN_BURST;
		b->at = now;
	}
	b->tokens += (double)(now - b->at) / (double)CONTROL_LOGIN_REFILL_NS;
	if (b->tokens > CONTROL_LOGIN_BURST)
		b->tokens = CONTROL_LOGIN_BURST;
	b->at = now;
	return b;
}

/* Has peer used up its failed logins?  Then no login is tried until one more is allowed. */
static bool login_blocked(struct control *ctl, const char *peer)
{
	struct login_bucket *b = login_find(ctl, peer, false);

	return b && b->tokens < 1;
}

static void login_failed(struct control *ctl, const char *peer)
{
	struct login_bucket *b = login_find(ctl, peer, true);

	b->tokens -= 1;
	if (b->tokens < 1)
		log_warn("control: %s made %d failed logins in a row: its logins are refused for %d s",
			 peer, CONTROL_LOGIN_BURST, (int)(CONTROL_LOGIN_REFILL_NS / NSEC_PER_SEC));
}

bool control_host_ok(const char *host, const char *bound_host, int port, const char *hostname)
{
	char name[256], buf[sizeof(struct in6_addr)];
	const char *hport = NULL, *end;
	size_t n, hn = hostname ? strcspn(hostname, ".") : 0;

	if (!host)
		return true;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		n = (size_t)(end - host - 1);
		hport = end[1] ? end + 2 : NULL;
		if (n >= sizeof(name))
			return false;
		memcpy(name, host + 1, n);
		name[n] = '\0';
		if (inet_pton(AF_INET6, name, buf) != 1)
			return false;
	} else {
		end = strrchr(host, ':');
		n = end ? (size_t)(end - host) : strlen(host);
		hport = end ? end + 1 : NULL;
		if (n == 0 || n >= sizeof(name))
			return false;
		memcpy(name, host, n);
		name[n] = '\0';
	}
	if (hport) {
		char *e;
		long p;

		if (*hport < '0' || *hport > '9')
			return false;
		errno = 0;
		p = strtol(hport, &e, 10);
		if (*e || errno || p != port)
			return false;
	}
	return host[0] == '[' || inet_pton(AF_INET, name, buf) == 1 || strcasecmp(name, "localhost") == 0 ||
	       (bound_host && strcasecmp(name, bound_host) == 0) ||
	       (hostname && hostname[0] && strcasecmp(name, hostname) == 0) ||
	       (hn && strlen(name) == hn && strncasecmp(name, hostname, hn) == 0);
}

void control_set_anonymous_read(struct control *ctl, bool on)
{
	ctl->anonymous_read = on;
}

void control_set_credentials(struct control *ctl, const char *user, const char *password)
{
	free(ctl->user);
	free(ctl->password);
	ctl->user = user && password ? xstrdup(user) : NULL;
	ctl->password = user && password ? xstrdup(password) : NULL;
}

/* True when the peer's primary or supplementary groups have gid (its /proc status says which). */
static bool peer_in_group(const struct conn *c, gid_t gid)
{
	char path[64], *data = NULL, *line;
	bool in = c->gid == gid;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	if (in || c->pid <= 0 || read_file(path, 1 << 16, &data, NULL) < 0)
		return in;
	line = strstr(data, "\nGroups:");
	if (line) {
		char *p = line + 9, *end;

		for (;;) {
			long g = strtol(p, &end, 10);

			if (end == p || *p == '\n')
				break;
			in |= g == (long)gid;
			p = end;
		}
	}
	free(data);
	return in;
}

static bool conn_idle(const struct conn *c)
{
	return !c->in_flight && !c->complete && c->in.len == 0 && c->parser.nread == 0 &&
	       c->out.len == 0;
}

/*
 * Room for one more connection from a client (a TCP address, or a uid on
 * the unix socket)?  1: a normal slot; 0: a slot of the reserve (public
 * routes only); -1: none.  A client other than tend's owner and root may
 * hold CONTROL_MAX_PER_CLIENT connections.  At the limit, the oldest idle
 * connection (nothing sent yet, nothing owed) of that client (any, for the
 * owner and root) makes way, so idle sockets can never lock the CLI out.
 * Beyond it the reserve takes the connection, so a health check never
 * starves: when the reserve is full its oldest connection goes.
 */
int control_admit(struct control *ctl, bool tcp, uid_t uid, const char *peer)
{
	struct conn *oldest = NULL, *oldest_reserve = NULL;
	size_t mine = 0, nreserve = 0;
	bool priv = privileged(tcp, uid);

	for (struct conn *c = ctl->conns; c; c = c->next) {
		if (c->reserve) {
			nreserve++;
			oldest_reserve = c; /* the list is newest first: the last match is the oldest */
			continue;
		}
		mine += same_client(c, tcp, uid, peer);
	}
	if (priv || mine < CONTROL_MAX_PER_CLIENT) {
		if (ctl->nconns - nreserve < CONTROL_MAX_CONNS)
			return 1;
		for (struct conn *c = ctl->conns; c; c = c->next)
			if (!c->reserve && conn_idle(c) && (priv || same_client(c, tcp, uid, peer)))
				oldest = c;
		if (oldest) {
			conn_close(oldest);
			return 1;
		}
	} else {
		/* at its quota: its own oldest idle connection makes way */
		for (struct conn *c = ctl->conns; c; c = c->next)
			if (!c->reserve && conn_idle(c) && same_client(c, tcp, uid, peer))
				oldest = c;
		if (oldest) {
			conn_close(oldest);
			return 1;
		}
	}
	if (nreserve < CONTROL_RESERVE)
		return 0;
	if (!oldest_reserve)
		return -1;
	conn_close(oldest_reserve);
	return 0;
}

/*
 * What the request on c may do.  The unix socket: its peer's credentials
 * (owner and root everything, the socket's chown= owner and group write,
 * its group read).  TCP: the Host header, then the configured credentials
 * (with failed logins counted per address), else status only.
 */
void control_rights(struct conn *c, struct request *req)
{
	if (!c->tcp) {
		req->may_write = c->uid == 0 || c->uid == geteuid() ||
				(c->ctl->chowned && (c->uid == c->ctl->owner_uid || peer_in_group(c, c->ctl->sock_gid)));
		req->may_read = req->may_write || c->gid == c->ctl->sock_gid;
		req->may_status = req->may_read;
	} else {
		req->wrong_host = !control_host_ok(req->host, c->ctl->tcp_host, c->ctl->tcp_port, c->ctl->hostname);
		if (c->ctl->user) {
			/* credentials configured: they give every right, their absence none */
			if (req->authorization && login_blocked(c->ctl, c->peer)) {
				req->login_blocked = true;
			} else {
				req->may_read = req->may_write = basic_auth_ok(c->ctl, req->authorization);
				if (!req->may_read && req->authorization)
					login_failed(c->ctl, c->peer);
			}
			req->may_status = req->may_read;
			req->need_auth = !req->may_read;
		} else {
			/* no credentials configured: status over TCP, logs only if the config says so */
			req->may_status = true;
			req->may_read = c->ctl->anonymous_read;
		}
	}
}
