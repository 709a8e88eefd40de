/*
 * System-wide process scan from /proc: one read of /proc/PID/stat per
 * process (state, parent, group, session, CPU ticks, start time, RSS, kernel
 * thread flag), used by `tend ps` (no daemon needed) and by the daemon's
 * metrics.  Also: the summary the seeds' dashboard shows, zombies, orphans.
 */
#ifndef TEND_PROCSCAN_H
#define TEND_PROCSCAN_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_info {
	pid_t pid;
	pid_t ppid;
	pid_t pgrp;
	pid_t sid;
	char state;         /* R, S, D, Z, T, I ... */
	bool kthread;
	char comm[32];
	uint64_t cpu_ticks; /* utime + stime */
	uint64_t start_ticks; /* since boot */
	uint64_t rss_bytes;
	double cpu_percent; /* filled by proc_sample: over the interval, or over its life */
};

struct proc_table {
	struct proc_info *v;
	size_t n;
	double uptime;      /* seconds since boot, when scanned */
	long hz;
};

/* Read one process's /proc/PID/stat (cpu_percent 0).  0, or -ESRCH when it is gone. */
int proc_read(pid_t pid, struct proc_info *ret);

/* Read every process.  0 or -errno; the table is sorted by pid. */
int proc_scan(struct proc_table *t);
void proc_table_done(struct proc_table *t);

/*
 * The same scan in steps, for a daemon that must not stop for all of it
 * (10,000 processes take about 190 ms on a small VM): proc_scan_begin, then
 * proc_scan_step until it returns 1, when sc->t is the table (sorted, as
 * proc_scan's); proc_scanner_done frees what is left.  A process that comes
 * or goes during the scan may or may not be in it.
 */
struct proc_scanner {
	DIR *d;
	size_t cap;
	long page;
	struct proc_table t;
};
int proc_scan_begin(struct proc_scanner *sc);
/* Read up to max more entries of /proc: 1 when the scan is complete, else 0, or -errno. */
int proc_scan_step(struct proc_scanner *sc, size_t max);
void proc_scanner_done(struct proc_scanner *sc);
/* The entry for pid, or NULL (binary search). */
const struct proc_info *proc_find(const struct proc_table *t, pid_t pid);

/*
 * Scan, and fill cpu_percent: with interval_s > 0 from two scans that far
 * apart (percent of one CPU, like top), else averaged over each process's
 * lifetime (like ps).
 */
int proc_sample(struct proc_table *t, double interval_s);

/* CPU percent of every process of t over the time since before was scanned. */
void proc_rate(struct proc_table *t, const struct proc_table *before);

struct proc_summary {
	size_t total, running, sleeping, zombie, other;
	uint64_t rss_total;
	const struct proc_info *top_cpu[10], *top_mem[10];
	size_t ntop_cpu, ntop_mem;
};
void proc_summarize(const struct proc_table *t, struct proc_summary *s);

/* Seconds since the process started (for a zombie: an upper bound of how long it is one). */
double proc_age(const struct proc_table *t, const struct proc_info *p);

/*
 * Orphans, by this rule: not a kernel thread, not PID 1; its parent is PID 1
 * or a known child subreaper (tendd, tini, dumb-init, catatonit, s6-svscan,
 * systemd --user); it does not lead its own session (init's daemons call
 * setsid); and the leader of its session is gone (it was left behind when its
 * session's process exited).
 */
bool proc_is_orphan(const struct proc_table *t, const struct proc_info *p);

#endif
