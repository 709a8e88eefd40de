#include "daemon/pidrec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/spawn.h"
#include "sys/procscan.h"

/* The record is read whole at start: at most this much of it. */
#define PIDREC_MAX_BYTES (16 * 1024 * 1024)

struct pidrec_entry {
	pid_t pid;
	unsigned long long start;
};

struct pidrec {
	char *path;
	int fd;
	struct pidrec_entry *v; /* the processes alive now */
	size_t n, cap;
	size_t lines;           /* in the file */
};

/* A process's start time in clock ticks since boot (procscan's reader).  0 or -errno. */
static int start_ticks(pid_t pid, unsigned long long *ret)
{
	struct proc_info p;
	int r = proc_read(pid, &p);

	if (r < 0)
		return r;
	*ret = (unsigned long long)p.start_ticks;
	return 0;
}

static void add(struct pidrec *r, pid_t pid, unsigned long long start)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].pid == pid) {
			r->v[i].start = start;
			return;
		}
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n++] = (struct pidrec_entry){ pid, start };
}

static void del(struct pidrec *r, pid_t pid)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].pid == pid) {
			r->v[i] = r->v[--r->n];
			return;
		}
	}
}

/* Parse "+ PID START" and "- PID" lines into r's set. */
static void parse(struct pidrec *r, const char *data)
{
	for (const char *line = data; *line;) {
		const char *nl = strchrnul(line, '\n');
		unsigned long long start;
		int pid;
		char op;

		if (sscanf(line, "%c %d %llu", &op, &pid, &start) == 3 && op == '+' && pid > 1)
			add(r, pid, start);
		else if (sscanf(line, "%c %d", &op, &pid) == 2 && op == '-')
			del(r, pid);
		line = *nl ? nl + 1 : nl;
	}
}

/*
 * SIGKILL what is left of the recorded processes: each one whose pidfd
 * shows the recorded start time (read after the pidfd is open, so the pidfd
 * is that process), with its process group; then wait up to a second.
 */
static unsigned kill_leftovers(struct pidrec *r)
{
	struct pollfd *pfd = xcalloc(r->n + 1, sizeof(*pfd));
	unsigned killed = 0;
	size_t np = 0;
	int64_t end;

	for (size_t i = 0; i < r->n; i++) {
		int fd = (int)syscall(SYS_pidfd_open, r->v[i].pid, 0);
		unsigned long long start;

		if (fd < 0)
			continue;
		if (start_ticks(r->v[i].pid, &start) < 0 || start != r->v[i].start) {
			close(fd); /* gone, and the pid is another process's now */
			continue;
		}
		/* the leader is alive and pins its group id: its group goes first */
		if (getpgid(r->v[i].pid) == r->v[i].pid)
			kill(-r->v[i].pid, SIGKILL);
		pidfd_kill(fd, SIGKILL);
		killed++;
		pfd[np++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	end = mono_ns() + NSEC_PER_SEC;
	for (size_t left = np; left > 0 && mono_ns() < end;) {
		if (poll(pfd, np, (int)((end - mono_ns()) / NSEC_PER_MSEC) + 1) <= 0)
			break;
		left = 0;
		for (size_t i = 0; i < np; i++) {
			if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP))) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
			left += pfd[i].fd >= 0;
		}
	}
	for (size_t i = 0; i < np; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	free(pfd);
	return killed;
}

/* Read the previous record if it is ours (never one another user could have written). */
static void read_previous(struct pidrec *r)
{
	char why[160], *data = NULL;
	int fd = open_owned(r->path, O_WRONLY | O_APPEND, 0600, why, sizeof(why));

	if (fd < 0)
		return;
	close(fd);
	if (read_file(r->path, PIDREC_MAX_BYTES, &data, NULL) == 0)
		parse(r, data);
	free(data);
}

/* Write the live set to a new file and put it in place of the record. */
static int rewrite(struct pidrec *r)
{
	char *tmp = xasprintf("%s.XXXXXX", r->path);
	struct sbuf b = SBUF_INIT;
	int fd = mkostemp(tmp, O_CLOEXEC | O_APPEND), ret = 0;

	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	for (size_t i = 0; i < r->n; i++)
		sbuf_printf(&b, "+ %d %llu\n", (int)r->v[i].pid, r->v[i].start);
	if ((b.len && write_all(fd, b.s, b.len) < 0) || rename(tmp, r->path) < 0) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (r->fd >= 0)
		close(r->fd);
	r->fd = fd;
	r->lines = r->n;
out:
	sbuf_done(&b);
	free(tmp);
	return ret;
}

int pidrec_open(struct pidrec **ret, const char *path, unsigned *ret_killed)
{
	struct pidrec *r = xcalloc(1, sizeof(*r));
	int e;

	r->path = xstrdup(path);
	r->fd = -1;
	read_previous(r);
	*ret_killed = r->n ? kill_leftovers(r) : 0;
	r->n = 0;
	e = rewrite(r); /* empty, fresh: whatever lay at the path is replaced */
	if (e < 0) {
		pidrec_close(r, false);
		return e;
	}
	*ret = r;
	return 0;
}

static void append(struct pidrec *r, const char *line, size_t len)
{
	if (r->fd >= 0 && write_all(r->fd, line, len) == 0)
		r->lines++;
}

void pidrec_started(struct pidrec *r, pid_t pid)
{
	unsigned long long start;
	char line[64];
	int n;

	if (!r || start_ticks(pid, &start) < 0)
		return;
	add(r, pid, start);
	n = snprintf(line, sizeof(line), "+ %d %llu\n", (int)pid, start);
	append(r, line, (size_t)n);
}

void pidrec_reaped(struct pidrec *r, pid_t pid)
{
	char line[32];
	int n;

	if (!r)
		return;
	del(r, pid);
	if (r->lines > 2 * r->n + 64 && rewrite(r) == 0)
		return;
	n = snprintf(line, sizeof(line), "- %d\n", (int)pid);
	append(r, line, (size_t)n);
}

void pidrec_close(struct pidrec *r, bool remove)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (remove)
		unlink(r->path);
	free(r->v);
	free(r->path);
	free(r);
}
