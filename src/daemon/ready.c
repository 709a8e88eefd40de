#include "daemon/ready.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/log.h"
#include "daemon/inst.h"

/* ---- listeners ------------------------------------------------------------ */

struct listener {
	struct listener *next;
	char *program;
	char *spec;
	char *unix_path; /* unlinked when closed */
	int fd;
};

static struct listener *listeners;

static int bind_tcp(const char *host, int port, int backlog)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char portbuf[8];
	int fd = -1, r, err = EADDRNOTAVAIL;

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	r = getaddrinfo(host, portbuf, &hints, &res);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;

		/* blocking on purpose: the flag is shared with every worker that inherits it */
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : -err;
}

static int bind_unix(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* a stale socket from an earlier run goes; anything else at the path stays */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int listener_get(const struct prog_config *pc)
{
	struct listener *l;
	int fd, backlog;

	for (l = listeners; l; l = l->next)
		if (strcmp(l->program, pc->program) == 0 && strcmp(l->spec, pc->listen) == 0)
			return l->fd;
	backlog = pc->socket_backlog > 0 ? pc->socket_backlog : SOMAXCONN;
	fd = pc->listen_kind == LISTEN_TCP ? bind_tcp(pc->listen_host, pc->listen_port, backlog)
					   : bind_unix(pc->listen_path, backlog);
	if (fd < 0)
		return fd;
	if (pc->kind == PROC_FCGI && pc->listen_kind == LISTEN_UNIX) {
		/* supervisord's socket_mode (0700) and socket_owner (else the program's user) */
		int uid = pc->socket_uid >= 0 ? pc->socket_uid : pc->user ? (int)pc->uid : -1;
		int gid = pc->socket_uid >= 0 ? pc->socket_gid : pc->user ? (int)pc->gid : -1;

		if (chmod(pc->listen_path, (mode_t)(pc->socket_mode >= 0 ? pc->socket_mode : 0700)) < 0 ||
		    (uid >= 0 && chown(pc->listen_path, (uid_t)uid, (gid_t)gid) < 0)) {
			int e = errno;

			close(fd);
			unlink(pc->listen_path);
			return -e;
		}
	}
	l = xcalloc(1, sizeof(*l));
	l->program = xstrdup(pc->program);
	l->spec = xstrdup(pc->listen);
	l->unix_path = pc->listen_kind == LISTEN_UNIX ? xstrdup(pc->listen_path) : NULL;
	l->fd = fd;
	l->next = listeners;
	listeners = l;
	log_info("%s: listening on %s (fd %d of every instance)", pc->program, pc->listen,
		 pc->kind == PROC_FCGI ? 0 : 3);
	return fd;
}

static bool listener_used(const struct listener *l, const struct config *cfg)
{
	for (size_t i = 0; cfg && i < cfg->nprocs; i++)
		if (cfg->procs[i]->listen && strcmp(cfg->procs[i]->program, l->program) == 0 &&
		    strcmp(cfg->procs[i]->listen, l->spec) == 0)
			return true;
	return false;
}

void listener_sweep(const struct config *cfg)
{
	for (struct listener **pl = &listeners; *pl;) {
		struct listener *l = *pl;

		if (listener_used(l, cfg)) {
			pl = &l->next;
			continue;
		}
		*pl = l->next;
		close(l->fd);
		if (l->unix_path)
			unlink(l->unix_path);
		free(l->program);
		free(l->spec);
		free(l->unix_path);
		free(l);
	}
}

/* ---- probes ----------------------------------------------------------------- */

enum probe_phase { P_IDLE, P_CONNECTING, P_READING };

struct probe {
	struct probe *next;     /* every probe, for probe_reaped() */
	struct loop *loop;
	struct inst *in;
	enum ready_kind kind;
	pid_t pid;              /* the instance's process being probed */
	bool armed;
	bool done;              /* ready seen, or the instance moved on: probing stopped */
	struct timer tick;
	/* tcp, http: one attempt at a time */
	enum probe_phase phase;
	int fd;
	struct io_watch w;
	int64_t attempt_ns;
	struct sbuf resp;
	/* exec */
	probe_spawn_fn *spawn;
	pid_t exec_pid;         /* the probe's child, its own process group; 0: none */
	int64_t exec_ns;
	bool exec_warned;
	/* notify */
	int nfd;
	struct io_watch nw;
	char notify_path[64];
};

static struct probe *probes;

static void probe_tick(struct loop *l, struct timer *t);

static void close_attempt(struct probe *p)
{
	if (p->fd >= 0) {
		loop_io_del(p->loop, &p->w);
		close(p->fd);
		p->fd = -1;
	}
	p->phase = P_IDLE;
	sbuf_reset(&p->resp);
}

/* Stop probing (the timer, a connection in progress); the notify socket stays till free. */
static void halt(struct probe *p)
{
	p->done = true;
	loop_timer_stop(p->loop, &p->tick);
	close_attempt(p);
	if (p->exec_pid)
		kill(-p->exec_pid, SIGKILL); /* no longer wanted (and what it started); probe_reaped() still reaps it */
}

/* Still worth probing: the instance is STARTING with the process we armed for. */
static bool relevant(struct probe *p)
{
	return p->in->state == PS_STARTING && p->in->pid == p->pid;
}

static void ready(struct probe *p, const char *how)
{
	struct inst *in = p->in;

	halt(p);
	log_info("ready: %s (%s)", in->cfg->fullname, how);
	inst_event(in, EV_READY, NULL); /* last: it may change anything */
}

static void on_attempt_io(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct probe *p = container_of(w, struct probe, w);
	const struct prog_config *pc = p->in->cfg;

	(void)l;
	if (!relevant(p)) {
		halt(p);
		return;
	}
	if (p->phase == P_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err || (revents & EPOLLERR)) {
			close_attempt(p);
			return;
		}
		if (p->kind == READY_TCP) {
			ready(p, pc->ready);
			return;
		}
		{
			char req[512];
			int n = snprintf(req, sizeof(req),
					 "GET %s HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: tend-ready\r\n\r\n",
					 pc->ready_path, pc->ready_host, pc->ready_port);

			if (n >= (int)sizeof(req) || write(p->fd, req, (size_t)n) != n) {
				close_attempt(p);
				return;
			}
		}
		p->phase = P_READING;
		loop_io_mod(l, &p->w, EPOLLIN);
		return;
	}
	/* P_READING: the status line is all we need */
	{
		char buf[256];
		ssize_t n = read(p->fd, buf, sizeof(buf));
		char *eol;
		int code;

		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0)
			sbuf_add(&p->resp, buf, (size_t)n);
		eol = p->resp.s ? strstr(p->resp.s, "\r\n") : NULL;
		if (!eol && n > 0 && p->resp.len < 4096)
			return;
		if (p->resp.s && sscanf(p->resp.s, "HTTP/%*d.%*d %d", &code) == 1 && code >= 200 && code < 300) {
			char how[64];

			snprintf(how, sizeof(how), "GET %.32s: %d", pc->ready_path, code);
			ready(p, how);
			return;
		}
		close_attempt(p);
	}
}

static void start_attempt(struct probe *p)
{
	const struct prog_config *pc = p->in->cfg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%d", pc->ready_port);
	/* numeric hosts only in practice (127.0.0.1, ::1): no resolver stall in the loop */
	hints.ai_flags |= AI_NUMERICHOST;
	if (getaddrinfo(pc->ready_host, port, &hints, &res) != 0) {
		hints.ai_flags &= ~AI_NUMERICHOST;
		if (getaddrinfo(pc->ready_host, port, &hints, &res) != 0)
			return;
	}
	p->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->fd < 0) {
		freeaddrinfo(res);
		return;
	}
	r = connect(p->fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (r < 0 && errno != EINPROGRESS) {
		close(p->fd);
		p->fd = -1;
		return;
	}
	p->phase = P_CONNECTING;
	p->attempt_ns = mono_ns();
	p->w = (struct io_watch)IO_WATCH_INIT;
	if (loop_io_add(p->loop, &p->w, p->fd, EPOLLOUT, on_attempt_io) < 0)
		close_attempt(p);
}

static void start_exec(struct probe *p)
{
	pid_t pid;
	int exec_err = 0, r = p->spawn(p->in, p->in->cfg->ready_argv, &pid, &exec_err);

	if ((r < 0 || exec_err) && !p->exec_warned) {
		/* once per process probed: the probe runs every READY_PROBE_NS */
		p->exec_warned = true;
		log_warn("%s: ready probe '%s': %s", p->in->cfg->fullname, p->in->cfg->ready_argv[0],
			 strerror(r < 0 ? -r : exec_err));
	}
	if (r < 0)
		return;
	/* a child that could not exec exits 127 soon: a failed attempt like any other */
	p->exec_pid = pid;
	p->exec_ns = mono_ns();
}

bool probe_reaped(pid_t pid, const siginfo_t *si)
{
	for (struct probe *p = probes; p; p = p->next) {
		if (p->exec_pid != pid)
			continue;
		p->exec_pid = 0;
		if (!p->done && relevant(p) && si->si_code == CLD_EXITED && si->si_status == 0)
			ready(p, p->in->cfg->ready);
		return true;
	}
	return false;
}

static void probe_tick(struct loop *l, struct timer *t)
{
	struct probe *p = container_of(t, struct probe, tick);

	if (!relevant(p)) {
		halt(p);
		return;
	}
	switch (p->kind) {
	case READY_TCP:
	case READY_HTTP:
		if (p->phase != P_IDLE && mono_ns() - p->attempt_ns > READY_HTTP_TIMEOUT_NS)
			close_attempt(p);
		if (p->phase == P_IDLE)
			start_attempt(p);
		break;
	case READY_EXEC:
		if (p->exec_pid && mono_ns() - p->exec_ns > 10 * NSEC_PER_SEC)
			kill(-p->exec_pid, SIGKILL); /* a hung probe: its exit counts as a failure */
		else if (!p->exec_pid)
			start_exec(p);
		break;
	default:
		break;
	}
	if (!p->done)
		loop_timer_start(l, &p->tick, READY_PROBE_NS, probe_tick);
}

/* sd_notify: datagrams of KEY=VALUE lines; READY=1 from the program (or its process group) */
static void on_notify(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct probe *p = container_of(w, struct probe, nw);
	char buf[4096], cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, sizeof(buf) - 1 };

	(void)l, (void)revents;
	for (;;) {
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct ucred *cred = NULL;
		ssize_t n = recvmsg(p->nfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		bool ok;

		if (n < 0)
			return;
		buf[n] = '\0';
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
				cred = (struct ucred *)CMSG_DATA(c);
		ok = cred && p->pid && (cred->pid == p->pid || getpgid(cred->pid) == p->pid);
		if (!ok || p->done || !relevant(p))
			continue;
		for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (strcmp(line, "READY=1") == 0) {
				ready(p, "READY=1");
				return;
			}
		}
	}
}

static int notify_socket(struct probe *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);
	int one = 1;

	/* An abstract address the kernel picks (autobind): nothing on disk to
	 * clean up or chmod, and no name another local user could take first. */
	p->nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->nfd < 0)
		return -errno;
	if (setsockopt(p->nfd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(p->nfd, (struct sockaddr *)&sa, len) < 0 ||
	    (len = sizeof(sa), getsockname(p->nfd, (struct sockaddr *)&sa, &len)) < 0 ||
	    loop_io_add(p->loop, &p->nw, p->nfd, EPOLLIN, on_notify) < 0) {
		int err = errno;

		close(p->nfd);
		p->nfd = -1;
		return -err;
	}
	/* "\0" and a few hex digits: sd_notify's "@" form */
	len -= (socklen_t)offsetof(struct sockaddr_un, sun_path);
	snprintf(p->notify_path, sizeof(p->notify_path), "@%.*s", (int)(len > 1 ? len - 1 : 0), sa.sun_path + 1);
	return 0;
}

struct probe *probe_new(struct loop *l, struct inst *in, probe_spawn_fn *spawn)
{
	struct probe *p = xcalloc(1, sizeof(*p));

	p->loop = l;
	p->in = in;
	p->spawn = spawn;
	p->kind = in->cfg->ready_kind;
	p->fd = p->nfd = -1;
	p->tick = (struct timer)TIMER_INIT;
	p->w = p->nw = (struct io_watch)IO_WATCH_INIT;
	if (p->kind == READY_NOTIFY && notify_socket(p) < 0)
		log_warn("%s: cannot make its NOTIFY_SOCKET: %s", in->cfg->fullname, strerror(errno));
	p->next = probes;
	probes = p;
	return p;
}

const char *probe_notify_path(const struct probe *p)
{
	return p && p->nfd >= 0 ? p->notify_path : NULL;
}

void probe_arm(struct probe *p, pid_t pid)
{
	p->pid = pid;
	p->armed = true;
	if (p->kind != READY_NOTIFY)
		loop_timer_start(p->loop, &p->tick, p->kind == READY_EXEC ? READY_PROBE_NS : 1, probe_tick);
}

void probe_free(struct probe *p)
{
	if (!p)
		return;
	halt(p);
	if (p->nfd >= 0) {
		loop_io_del(p->loop, &p->nw);
		close(p->nfd);
	}
	if (p->exec_pid)
		kill(-p->exec_pid, SIGKILL); /* reaped by the supervisor as an unknown child */
	for (struct probe **pp = &probes; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	sbuf_done(&p->resp);
	free(p);
}
