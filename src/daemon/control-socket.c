/* The control socket's listeners: the unix socket with its lock file, the TCP listener. */
#include "daemon/control-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"

static void on_accept(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct control *ctl = container_of(w, struct control, lw);

	(void)revents;
	control_accept(l, ctl, ctl->lfd, false);
}

static void on_accept_tcp(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct control *ctl = container_of(w, struct control, tw);

	(void)revents;
	control_accept(l, ctl, ctl->tfd, true);
}

int control_listen_tcp(struct control *ctl, const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *res = NULL;
	char portstr[16];
	int fd, one = 1, r;

	snprintf(portstr, sizeof(portstr), "%d", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0 || !res)
		return -EADDRNOTAVAIL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(res);
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		freeaddrinfo(res);
		return r;
	}
	freeaddrinfo(res);
	ctl->tfd = fd;
	free(ctl->tcp_host);
	ctl->tcp_host = xstrdup(host);
	ctl->tcp_port = port;
	if (gethostname(ctl->hostname, sizeof(ctl->hostname) - 1) < 0)
		ctl->hostname[0] = '\0';
	ctl->tw = (struct io_watch)IO_WATCH_INIT;
	r = loop_io_add(ctl->loop, &ctl->tw, fd, EPOLLIN, on_accept_tcp);
	if (r < 0) {
		close(fd);
		ctl->tfd = -1;
	}
	return r;
}

/* Is a daemon answering on path?  (connect succeeds) */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

/*
 * The lock file next to the socket (one daemon per socket): created
 * O_EXCL 0600; an existing one is used if it is tend's (a regular file of
 * tend's user with one link and no other writer).  One that is not (another
 * user planted it, perhaps to hold a lock on it and keep tend from
 * starting) never belongs to a tend of ours: unless a daemon answers on the
 * socket, it is removed and made again.  Returns the fd or -errno.
 */
static int open_lock(const char *lockpath, const char *sockpath)
{
	for (int tries = 0; tries < 3; tries++) {
		int fd = open(lockpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		struct stat st;

		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
		fd = open(lockpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    st.st_nlink == 1 && !(st.st_mode & 0022))
			return fd; /* ours, from an earlier run: flock works on it read-only */
		if (fd >= 0)
			close(fd);
		if (socket_alive(sockpath))
			return -EADDRINUSE;
		log_warn("control: %s is not tend's (another user's, a link, or writable by others): replacing it",
			 lockpath);
		if (unlink(lockpath) < 0) {
			int e = errno;

			log_crit("control: cannot remove %s, which is not tend's: %s", lockpath, strerror(e));
			return -EPERM;
		}
	}
	return -EEXIST;
}

static void control_free(struct control *ctl)
{
	free(ctl->path);
	free(ctl->lockpath);
	free(ctl->user);
	free(ctl->password);
	free(ctl->tcp_host);
	free(ctl);
}

int control_open(struct control **ret, struct loop *l, const char *path, mode_t mode,
		 request_handler *handler, void *ctx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *ctl;
	struct stat st;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->loop = l;
	ctl->lfd = ctl->lockfd = ctl->spare_fd = ctl->tfd = -1;
	ctl->path = xstrdup(path);
	ctl->lockpath = xasprintf("%s.lock", path);
	ctl->handler = handler;
	ctl->handler_ctx = ctx;
	ctl->lw = (struct io_watch)IO_WATCH_INIT;
	control_conns_init(ctl);

	/* one daemon per socket: hold a lock, and never steal a live socket */
	ctl->lockfd = open_lock(ctl->lockpath, path);
	if (ctl->lockfd < 0) {
		r = ctl->lockfd;
		goto out_free;
	}
	if (flock(ctl->lockfd, LOCK_EX | LOCK_NB) < 0 || socket_alive(path)) {
		if (lstat(path, &st) == 0 && st.st_uid != geteuid())
			log_crit("control: a socket of uid %u answers at %s: not tend's", (unsigned)st.st_uid, path);
		r = -EADDRINUSE;
		goto out_free;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			r = -EEXIST;
			goto out_free;
		}
		unlink(path);
	}
	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->lfd < 0) {
		r = -errno;
		goto out_free;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	old = umask(0177); /* no window in which the socket is more open than 0600 */
	r = bind(ctl->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		goto out_free;
	}
	if (chmod(path, mode) < 0 || listen(ctl->lfd, 128) < 0) {
		r = -errno;
		unlink(path);
		goto out_free;
	}
	ctl->sock_gid = stat(path, &st) == 0 ? st.st_gid : getegid();
	ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	r = loop_io_add(l, &ctl->lw, ctl->lfd, EPOLLIN, on_accept);
	if (r < 0) {
		unlink(path);
		goto out_free;
	}
	*ret = ctl;
	return 0;

out_free:
	if (ctl->lfd >= 0)
		close(ctl->lfd);
	if (ctl->lockfd >= 0)
		close(ctl->lockfd);
	control_free(ctl);
	return r;
}

int control_chown(struct control *ctl, uid_t uid, gid_t gid)
{
	if (chown(ctl->path, uid, gid) < 0)
		return -errno;
	ctl->chowned = true;
	ctl->owner_uid = uid;
	ctl->sock_gid = gid;
	return 0;
}

void control_close(struct control *ctl)
{
	if (!ctl)
		return;
	control_conns_close(ctl);
	if (ctl->tfd >= 0) {
		loop_io_del(ctl->loop, &ctl->tw);
		close(ctl->tfd);
	}
	if (ctl->lfd >= 0) {
		loop_io_del(ctl->loop, &ctl->lw);
		close(ctl->lfd);
		unlink(ctl->path);
	}
	if (ctl->spare_fd >= 0)
		close(ctl->spare_fd);
	if (ctl->lockfd >= 0) {
		unlink(ctl->lockpath);
		close(ctl->lockfd);
	}
	control_free(ctl);
}

size_t control_nconns(const struct control *ctl)
{
	return ctl->nconns;
}

