/*
 * cgroups: one tree per daemon, below tend's own cgroup (or cgroup_root=),
 * named after its socket so that a tend started again after a crash finds
 * the tree of the one before:
 *
 *     <own cgroup>/tend.<hash>/_tend          tend itself
 *     <own cgroup>/tend.<hash>/<instance>     one leaf per program instance
 *
 * Backends behind one interface (struct cg_ops: what differs is how limits
 * are written and how OOM kills are watched; paths, killing and figures are
 * read from whichever hierarchies a leaf has):
 *  - v2: the unified hierarchy with the memory, cpu and pids controllers
 *    (memory.max + memory.oom.group, cpu.max, pids.max; cgroup.kill; OOM
 *    kills counted in memory.events, watched with EPOLLPRI);
 *  - v1: the memory, cpu, cpuacct and pids hierarchies, each with tend's tree
 *    (memory.limit_in_bytes with an eventfd on memory.oom_control,
 *    cpu.cfs_quota_us, pids.max), plus a leaf in the unified hierarchy when
 *    one is mounted (this machine's hybrid setup), used for cgroup.kill and
 *    the CPU time (cpu.stat).  A leaf is made only in the hierarchies the
 *    instance needs: unified always, memory with memory_limit (or without
 *    a unified leaf, for the listing), cpu with cpu_quota, pids with
 *    tasks_max, cpuacct without a unified leaf; in the others its
 *    processes stay in tend's own leaf (_tend).  Without a memory leaf the
 *    memory figure is the summed RSS of the leaf's processes;
 *  - off: no cgroups (rlimits, process groups and RSS polling instead).
 *
 * An instance's leaf is made (and its limits written) at its first start
 * and kept across its restarts: its main process's exit empties it (one
 * read of cgroup.procs; a kill only when something is left), the next start
 * joins it again.  It is removed with the instance (a reload that removes
 * the program or changes it, tend exiting); a changed limit comes with a new
 * instance, so a new leaf.  Everything tend creates is removed when it
 * exits.  A child is made in its unified leaf (clone3 CLONE_INTO_CGROUP)
 * and joins its v1 leaves itself, before exec, through cgroup.procs fds the
 * parent opened (the unified one's too where clone3 cannot).
 */
#ifndef TEND_CGROUP_H
#define TEND_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sbuf;

enum cg_kind {
	CG_OFF,
	CG_V1,
	CG_V2,
};

enum { CG_MEM, CG_CPU, CG_CPUACCT, CG_PIDS, CG_UNIFIED, CG_NDIRS };

#define CG_MAX_PROCS_FDS CG_NDIRS

struct cg_leaf;
struct cg_limits;

/* What a backend does its own way. */
struct cg_ops {
	const char *name;     /* "v2", "v1", "off" */
	uint32_t oom_events;  /* epoll events of a leaf's oom_fd (0: none) */
	int (*limit)(struct cg_leaf *l, const struct cg_limits *lim); /* write limits; opens oom_fd */
	void (*oom_ack)(int oom_fd); /* consume the event, so the next one wakes again */
};

struct cg_root {
	enum cg_kind kind;
	const struct cg_ops *ops;
	char *own[CG_NDIRS];  /* the cgroup tend started in, per hierarchy (NULL: none) */
	char *tree[CG_NDIRS]; /* tend.<hash> below it */
	bool self_moved;      /* tend joined tree/_tend */
};

struct cg_limits {
	uint64_t memory;      /* bytes, 0: none */
	unsigned cpu_percent; /* of one CPU, 0: none */
	unsigned tasks;       /* 0: none */
};

struct cg_leaf {
	char *dir[CG_NDIRS];
	uint64_t oom_kills;   /* OOM kills counted so far */
	enum cg_kind kind;    /* its root's: which hierarchy has which figures */
	int oom_fd;           /* v1: eventfd on memory.oom_control; v2: memory.events (EPOLLPRI); -1 */
	int oom_ctl_fd;       /* v1: memory.oom_control, kept open for the eventfd; -1 */
	bool memory_limit;    /* made with one: OOM kills are counted */
	bool killed;          /* its cgroup.kill was written: from then on this kernel
			       * (6.18) kills every child clone3 makes in it at birth
			       * (docs/decisions.md), so its children join through
			       * cgroup.procs */
};

/*
 * Pick a backend (mode: "auto", "v2", "v1" or "off") and make tend's tree
 * under root (NULL: tend's own cgroups), named after key.  A tree left by a
 * tend that died is emptied (its processes are killed) and removed first;
 * *ret_killed counts the processes killed.  Returns 0 with kind CG_OFF when
 * no usable cgroup is found in auto mode; -errno, with a message in
 * *ret_error (caller frees), when a forced mode cannot be had.
 */
int cg_root_init(struct cg_root *r, const char *mode, const char *root, const char *key,
		 unsigned *ret_killed, char **ret_error);

/* Leave the tree and remove it (all leaves must be gone).  Accepts an off root. */
void cg_root_done(struct cg_root *r);

/* The backend's name: "v2", "v1" (with "+unified" when a v2 leaf tracks too), "off". */
const char *cg_root_describe(const struct cg_root *r);

/* The directories of tend's tree, one per hierarchy, appended to B with a
 * space before each (nothing for an off root). */
void cg_root_trees(const struct cg_root *r, struct sbuf *b);

/* Whether memory limits are enforced by a cgroup (else RSS polling is needed). */
bool cg_root_has_memory(const struct cg_root *r);

/* Make an instance's leaf (name: its full name) in the hierarchies it needs
 * and apply limits, at its first start.  0 or -errno. */
int cg_leaf_create(struct cg_root *r, struct cg_leaf *l, const char *name, const struct cg_limits *lim);

/*
 * Open what a child needs to join the leaf: its unified directory in
 * *ret_into (-1: none), for the child to be made in it (clone3's
 * CLONE_INTO_CGROUP), and the other hierarchies' cgroup.procs files
 * (O_WRONLY|O_CLOEXEC) for the child to join by writing "0" (the unified
 * one's too when its directory cannot be opened).  Returns the number of
 * fds put in fds; the caller closes them and *ret_into.
 */
int cg_leaf_procs_fds(const struct cg_leaf *l, int fds[CG_MAX_PROCS_FDS], int *ret_into);

/*
 * SIGKILL everything in the leaf and wait (at most timeout_ms) until it is
 * empty.  An empty leaf costs one read of its process list and no kill.
 * Returns the number of processes killed, or -EBUSY.
 */
int cg_leaf_kill(struct cg_leaf *l, int timeout_ms);

/* Send sig to every process in the leaf (the stop signal for escapees). */
void cg_leaf_signal(struct cg_leaf *l, int sig);

/* Number of processes in the leaf (-errno on error). */
int cg_leaf_count(const struct cg_leaf *l);

/* The epoll events to watch a leaf's oom_fd for, and consuming one of them. */
uint32_t cg_root_oom_events(const struct cg_root *r);
void cg_root_oom_ack(const struct cg_root *r, const struct cg_leaf *l);

/* OOM kills counted in the leaf so far (memory.events / memory.oom_control);
 * 0 for a leaf without a memory limit. */
uint64_t cg_leaf_oom_kills(const struct cg_leaf *l);

struct cg_stats {
	uint64_t mem_current; /* bytes */
	uint64_t mem_peak;    /* 0: unknown */
	uint64_t cpu_usec;    /* CPU time used by the leaf */
	bool have_mem, have_cpu;
	bool mem_rss;         /* no memory controller: mem_current sums the RSS of the leaf's processes */
};
void cg_leaf_stats(const struct cg_leaf *l, struct cg_stats *ret);
/*
 * Bring the unified hierarchy's CPU figures of the whole tree up to date in
 * one go (a read of the tree's cpu.stat), before the leaves are read one by
 * one: a leaf's cpu.stat flushes what its siblings have pending too, so
 * 10,000 fresh leaves read one by one cost 9 s instead of 1 (issue 18).
 */
void cg_root_flush_stats(const struct cg_root *r);

/*
 * Remove the leaf when the instance goes; closes its fds.  A leaf that still
 * holds processes (rmdir says EBUSY) has them killed first, waiting up to
 * timeout_ms; an empty one (the common case) costs its rmdirs only.
 */
void cg_leaf_remove(struct cg_leaf *l, int timeout_ms);

/* A leaf with nothing created: all dirs NULL, fds -1. */
void cg_leaf_init(struct cg_leaf *l);

#endif
