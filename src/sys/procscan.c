#include "sys/procscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

#define PF_KTHREAD 0x00200000

static int cmp_pid(const void *a, const void *b)
{
	const struct proc_info *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The next space-separated decimal field of a stat line (a '-' allowed), or false. */
static bool stat_field(const char **s, int64_t *ret)
{
	const char *p = *s;
	bool neg;
	uint64_t v = 0;

	while (*p == ' ')
		p++;
	if ((neg = *p == '-'))
		p++;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	*s = p;
	*ret = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

/*
 * Parse /proc/PID/stat; the name may hold spaces and parentheses: the last
 * ')' ends it.  By hand: /metrics and the scans read every process's, and
 * sscanf took 5,000 instructions for each (the fields are numbers after a
 * one-letter state).
 */
static bool parse_stat(const char *buf, struct proc_info *p, long page)
{
	/* after the state, fields 4..24 of proc(5): ppid pgrp session tty_nr tpgid flags minflt
	 * cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads
	 * itrealvalue starttime vsize rss; f[i] is field i + 4 */
	enum { PPID, PGRP, SID, FLAGS = 5, UTIME = 10, STIME, START = 18, RSS = 20, NF };
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')'), *q;
	int64_t f[NF];
	size_t n;

	if (!open || !close || close < open || close[1] != ' ' || !close[2])
		return false;
	n = MIN((size_t)(close - open - 1), sizeof(p->comm) - 1);
	memcpy(p->comm, open + 1, n);
	p->comm[n] = '\0';
	p->state = close[2];
	q = close + 3;
	for (int i = 0; i < NF; i++)
		if (!stat_field(&q, &f[i]))
			return false;
	p->ppid = (pid_t)f[PPID];
	p->pgrp = (pid_t)f[PGRP];
	p->sid = (pid_t)f[SID];
	p->kthread = (uint64_t)f[FLAGS] & PF_KTHREAD;
	p->cpu_ticks = (uint64_t)f[UTIME] + (uint64_t)f[STIME];
	p->start_ticks = (uint64_t)f[START];
	p->rss_bytes = f[RSS] > 0 ? (uint64_t)f[RSS] * (uint64_t)page : 0;
	return true;
}

/* Read DIR/stat (DIR relative to dfd, or absolute) of process pid into p.
 * 0, or -errno (-ESRCH when it is gone or unparsable). */
static int read_stat_at(int dfd, const char *dir, pid_t pid, struct proc_info *p, long page)
{
	char path[300], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/stat", dir);
	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return parse_stat(buf, p, page) ? 0 : -ESRCH;
}

int proc_read(pid_t pid, struct proc_info *ret)
{
	char dir[32];

	if (pid <= 0)
		return -ESRCH;
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	return read_stat_at(AT_FDCWD, dir, pid, ret, sysconf(_SC_PAGESIZE));
}

int proc_scan_begin(struct proc_scanner *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->page = sysconf(_SC_PAGESIZE);
	sc->t.hz = sysconf(_SC_CLK_TCK);
	{
		struct timespec ts;

		clock_gettime(CLOCK_BOOTTIME, &ts);
		sc->t.uptime = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	sc->d = opendir("/proc");
	if (!sc->d)
		return -errno;
	sc->cap = 1024;
	sc->t.v = xmalloc(sc->cap * sizeof(*sc->t.v));
	return 0;
}

int proc_scan_step(struct proc_scanner *sc, size_t max)
{
	struct dirent *de;

	for (size_t k = 0; k < max; k++) {
		de = readdir(sc->d);
		if (!de) {
			closedir(sc->d);
			sc->d = NULL;
			qsort(sc->t.v, sc->t.n, sizeof(*sc->t.v), cmp_pid);
			return 1;
		}
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (sc->t.n == sc->cap) {
			sc->cap *= 2;
			sc->t.v = xrealloc(sc->t.v, sc->cap * sizeof(*sc->t.v));
		}
		if (read_stat_at(dirfd(sc->d), de->d_name, (pid_t)atoi(de->d_name), &sc->t.v[sc->t.n],
				 sc->page) == 0)
			sc->t.n++; /* else gone meanwhile */
	}
	return 0;
}

void proc_scanner_done(struct proc_scanner *sc)
{
	if (sc->d)
		closedir(sc->d);
	proc_table_done(&sc->t);
	memset(sc, 0, sizeof(*sc));
}

int proc_scan(struct proc_table *t)
{
	struct proc_scanner sc;
	int r = proc_scan_begin(&sc);

	if (r == 0)
		r = proc_scan_step(&sc, SIZE_MAX);
	if (r < 0) {
		proc_scanner_done(&sc);
		memset(t, 0, sizeof(*t));
		return r;
	}
	*t = sc.t; /* the table is the caller's now */
	return 0;
}

void proc_table_done(struct proc_table *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

const struct proc_info *proc_find(const struct proc_table *t, pid_t pid)
{
	struct proc_info key = { .pid = pid };

	return bsearch(&key, t->v, t->n, sizeof(*t->v), cmp_pid);
}

double proc_age(const struct proc_table *t, const struct proc_info *p)
{
	double a = t->uptime - (double)p->start_ticks / (double)t->hz;

	return a > 0 ? a : 0;
}

int proc_sample(struct proc_table *t, double interval_s)
{
	struct proc_table before;
	int r;

	if (interval_s <= 0) {
		r = proc_scan(t);
		if (r < 0)
			return r;
		for (size_t i = 0; i < t->n; i++) {
			double age = proc_age(t, &t->v[i]);

			t->v[i].cpu_percent = age > 0 ? (double)t->v[i].cpu_ticks / (double)t->hz / age * 100 : 0;
		}
		return 0;
	}
	r = proc_scan(&before);
	if (r < 0)
		return r;
	{
		struct timespec ts = { (time_t)interval_s,
				       (long)((interval_s - (double)(time_t)interval_s) * 1e9) };

		nanosleep(&ts, NULL);
	}
	r = proc_scan(t);
	if (r == 0)
		proc_rate(t, &before);
	proc_table_done(&before);
	return r;
}

void proc_rate(struct proc_table *t, const struct proc_table *before)
{
	double wall = t->uptime - before->uptime;

	for (size_t i = 0; i < t->n; i++) {
		const struct proc_info *b = proc_find(before, t->v[i].pid);

		t->v[i].cpu_percent = 0;
		/* the same process if it started at the same tick (not a reused pid) */
		if (b && b->start_ticks == t->v[i].start_ticks && wall > 0 && t->v[i].cpu_ticks >= b->cpu_ticks)
			t->v[i].cpu_percent = (double)(t->v[i].cpu_ticks - b->cpu_ticks) / (double)t->hz /
					      wall * 100;
	}
}

static void insert_top(const struct proc_info **top, size_t *n, const struct proc_info *p,
		       bool by_cpu)
{
	size_t i = *n;

	if (*n == 10) {
		const struct proc_info *last = top[9];

		if (by_cpu ? p->cpu_percent <= last->cpu_percent : p->rss_bytes <= last->rss_bytes)
			return;
		i = 9;
	} else {
		(*n)++;
	}
	while (i > 0 && (by_cpu ? top[i - 1]->cpu_percent < p->cpu_percent
				: top[i - 1]->rss_bytes < p->rss_bytes)) {
		top[i] = top[i - 1];
		i--;
	}
	top[i] = p;
}

void proc_summarize(const struct proc_table *t, struct proc_summary *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < t->n; i++) {
		const struct proc_info *p = &t->v[i];

		s->total++;
		if (p->state == 'R')
			s->running++;
		else if (p->state == 'S' || p->state == 'I') /* I: an idle kernel thread sleeps too (as top counts it) */
			s->sleeping++;
		else if (p->state == 'Z')
			s->zombie++;
		else
			s->other++;
		s->rss_total += p->rss_bytes;
		/* a list of what uses something: no padding with 0.0 % or 0 bytes (kernel threads) */
		if (p->cpu_percent > 0)
			insert_top(s->top_cpu, &s->ntop_cpu, p, true);
		if (p->rss_bytes > 0)
			insert_top(s->top_mem, &s->ntop_mem, p, false);
	}
}

static bool known_subreaper(const struct proc_info *p)
{
	static const char *const names[] = { "tendd", "tini", "dumb-init", "catatonit", "s6-svscan",
					     "systemd" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(p->comm, names[i]) == 0)
			return true;
	return false;
}

bool proc_is_orphan(const struct proc_table *t, const struct proc_info *p)
{
	const struct proc_info *parent;

	if (p->kthread || p->pid == 1 || p->ppid == 0 || p->sid <= 0 || p->state == 'Z')
		return false;
	if (p->sid == p->pid)
		return false; /* leads its own session: a daemon started on purpose */
	if (proc_find(t, p->sid))
		return false; /* its session's leader is still there */
	if (p->ppid == 1)
		return true;
	parent = proc_find(t, p->ppid);
	return parent && known_subreaper(parent);
}
