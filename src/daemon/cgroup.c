#include "daemon/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static const char *const v1_names[] = { [CG_MEM] = "memory", [CG_CPU] = "cpu",
					[CG_CPUACCT] = "cpuacct", [CG_PIDS] = "pids" };

#define SELF_LEAF "_tend"

/* ---- small file helpers ---------------------------------------------------- */

static int write_str(const char *dir, const char *file, const char *val)
{
	char *path = xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	free(path);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static char *read_str(const char *dir, const char *file)
{
	char *path = xasprintf("%s/%s", dir, file), *data = NULL;

	if (read_file(path, 1 << 20, &data, NULL) < 0)
		data = NULL;
	free(path);
	return data;
}

/*
 * One number from a small cgroup file, or the value of the line "key N" of
 * a keyed one (cpu.stat), read without allocating: tend status --json reads
 * these for every instance.  false when the file is missing or holds no
 * number ("max").
 */
static bool read_u64(const char *dir, const char *file, const char *key, uint64_t *ret)
{
	char path[PATH_MAX], buf[1024], *p = buf, *end;
	unsigned long long v;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (key) {
		size_t klen = strlen(key);

		while (p && !(strncmp(p, key, klen) == 0 && p[klen] == ' '))
			p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
		if (!p)
			return false;
		p += klen + 1;
	}
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p)
		return false;
	*ret = v;
	return true;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- discovery ----------------------------------------------------------- */

/* Mount points: the unified hierarchy and the v1 ones of our controllers. */
static void find_mounts(char *mounts[CG_NDIRS])
{
	char *data = NULL, *line, *save = NULL;

	if (read_file("/proc/self/mountinfo", 1 << 20, &data, NULL) < 0)
		return;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[12] = { 0 }, *save2 = NULL, *dash;
		int nf = 0;

		dash = strstr(line, " - ");
		if (!dash)
			continue;
		*dash = '\0';
		for (char *t = strtok_r(line, " ", &save2); t && nf < 12; t = strtok_r(NULL, " ", &save2))
			f[nf++] = t;
		if (nf < 5)
			continue;
		/* after " - ": fstype source superoptions */
		{
			char *rest = dash + 3, *fstype = strtok_r(rest, " ", &save2), *src, *opts;

			src = strtok_r(NULL, " ", &save2);
			opts = strtok_r(NULL, " ", &save2);
			(void)src;
			if (!fstype)
				continue;
			if (strcmp(fstype, "cgroup2") == 0 && !mounts[CG_UNIFIED]) {
				mounts[CG_UNIFIED] = xstrdup(f[4]);
			} else if (strcmp(fstype, "cgroup") == 0 && opts) {
				for (int i = 0; i < CG_UNIFIED; i++) {
					char *o, *save3 = NULL, *copy = xstrdup(opts);

					for (o = strtok_r(copy, ",", &save3); o; o = strtok_r(NULL, ",", &save3))
						if (strcmp(o, v1_names[i]) == 0 && !mounts[i])
							mounts[i] = xstrdup(f[4]);
					free(copy);
				}
			}
		}
	}
	free(data);
}

/* Our own cgroup per hierarchy, from /proc/self/cgroup. */
static void find_own(char *mounts[CG_NDIRS], char *own[CG_NDIRS])
{
	char *data = NULL, *line, *save = NULL;

	if (read_file("/proc/self/cgroup", 1 << 20, &data, NULL) < 0)
		return;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *ctls, *path;

		if (!c2)
			continue;
		*c2 = '\0';
		ctls = c1 + 1;
		path = c2 + 1;
		if (!*ctls) {
			if (mounts[CG_UNIFIED])
				own[CG_UNIFIED] = xasprintf("%s%s", mounts[CG_UNIFIED], strcmp(path, "/") ? path : "");
			continue;
		}
		for (int i = 0; i < CG_UNIFIED; i++) {
			char *o, *save2 = NULL, *copy = xstrdup(ctls);

			for (o = strtok_r(copy, ",", &save2); o; o = strtok_r(NULL, ",", &save2))
				if (strcmp(o, v1_names[i]) == 0 && mounts[i] && !own[i])
					own[i] = xasprintf("%s%s", mounts[i], strcmp(path, "/") ? path : "");
			free(copy);
		}
	}
	free(data);
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

/* ---- killing ------------------------------------------------------------- */

/* The directory whose cgroup.procs lists the leaf's processes. */
static const char *procs_dir(char *const dir[CG_NDIRS])
{
	static const int order[] = { CG_UNIFIED, CG_MEM, CG_PIDS, CG_CPU, CG_CPUACCT };

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (dir[order[i]])
			return dir[order[i]];
	return NULL;
}

static int count_procs(const char *dir)
{
	char *s = dir ? read_str(dir, "cgroup.procs") : NULL;
	int n = 0;

	if (!s)
		return dir ? -ENOENT : 0;
	for (char *p = s; *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

/*
 * Call fn(pid, arg) for every process dir/cgroup.procs lists; the sum of
 * what it returns, or -1 when the list cannot be read.
 */
static int each_proc(const char *dir, int (*fn)(pid_t pid, void *arg), void *arg)
{
	char *s = dir ? read_str(dir, "cgroup.procs") : NULL, *p, *end;
	int n = 0;

	if (!s)
		return -1;
	for (p = s; *p; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0)
			n += fn((pid_t)pid, arg);
	}
	free(s);
	return n;
}

/* each_proc: signal one process (through a pidfd), 1 when it was there. */
static int signal_one(pid_t pid, void *arg)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pfd < 0)
		return 0;
	syscall(SYS_pidfd_send_signal, pfd, *(const int *)arg, NULL, 0);
	close(pfd);
	return 1;
}

/* Signal every process listed in dir/cgroup.procs; how many were signalled. */
static int signal_procs(const char *dir, int sig)
{
	int n = each_proc(dir, signal_one, &sig);

	return n > 0 ? n : 0;
}

/*
 * Whether dir/cgroup.procs lists no process (or cannot be read): one open and
 * one read into a stack buffer.  An exited process that is not reaped yet is
 * not listed, so this holds as soon as a program's last process exited.
 */
static bool procs_empty(const char *dir)
{
	char path[PATH_MAX], c;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, &c, 1);
	close(fd);
	return n <= 0;
}

static int kill_dirs(char *const dir[CG_NDIRS], int timeout_ms, bool *ret_kill_written)
{
	const char *pd = procs_dir(dir);
	int64_t end;
	int killed = 0;

	/* the common case, a program that left nothing behind: one read, no kill */
	if (!pd || procs_empty(pd))
		return 0;
	end = mono_ns() + (int64_t)timeout_ms * NSEC_PER_MSEC;
	if (dir[CG_UNIFIED]) {
		killed = count_procs(pd);
		if (write_str(dir[CG_UNIFIED], "cgroup.kill", "1") < 0)
			killed = signal_procs(pd, SIGKILL);
		else if (ret_kill_written)
			*ret_kill_written = true;
	} else {
		killed = signal_procs(pd, SIGKILL);
	}
	for (;;) {
		struct timespec ts = { 0, 1000 * 1000 };
		int n = count_procs(pd);

		if (n <= 0)
			return killed;
		if (mono_ns() >= end)
			return -EBUSY;
		/* whatever was forked during the kill gets it too (cgroup.kill covers that) */
		if (!dir[CG_UNIFIED])
			signal_procs(pd, SIGKILL);
		nanosleep(&ts, NULL);
	}
}

/* ---- the tree ------------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Kill and remove what a dead tend left in the tree; returns processes killed. */
static unsigned clean_leftovers(struct cg_root *r)
{
	unsigned killed = 0;
	char **names = NULL;
	size_t n = 0;

	/* the leaf names are the same in every hierarchy: list them once per hierarchy */
	for (int h = 0; h < CG_NDIRS; h++) {
		DIR *d;
		struct dirent *de;

		if (!r->tree[h] || !(d = opendir(r->tree[h])))
			continue;
		while ((de = readdir(d))) {
			bool seen = false;

			if (de->d_name[0] == '.' || de->d_type != DT_DIR)
				continue;
			for (size_t i = 0; i < n && !seen; i++)
				seen = strcmp(names[i], de->d_name) == 0;
			if (!seen) {
				names = xrealloc(names, (n + 1) * sizeof(*names));
				names[n++] = xstrdup(de->d_name);
			}
		}
		closedir(d);
	}
	for (size_t i = 0; i < n; i++) {
		char *dir[CG_NDIRS] = { 0 };
		int k;

		for (int h = 0; h < CG_NDIRS; h++) {
			char *p = r->tree[h] ? xasprintf("%s/%s", r->tree[h], names[i]) : NULL;

			if (p && is_dir(p))
				dir[h] = p;
			else
				free(p);
		}
		k = kill_dirs(dir, 2000, NULL);
		if (k > 0)
			killed += (unsigned)k;
		for (int h = 0; h < CG_NDIRS; h++) {
			if (dir[h])
				rmdir(dir[h]);
			free(dir[h]);
		}
		free(names[i]);
	}
	free(names);
	return killed;
}

static void free_dirs(char *dirs[CG_NDIRS])
{
	for (int i = 0; i < CG_NDIRS; i++) {
		free(dirs[i]);
		dirs[i] = NULL;
	}
}

/* ---- the backends ----------------------------------------------------------- */

/* v2: memory.max (+ memory.oom.group), cpu.max, pids.max; OOM kills from memory.events. */
static int v2_limit(struct cg_leaf *l, const struct cg_limits *lim)
{
	const char *d = l->dir[CG_UNIFIED];
	char val[64];
	int rc;

	if (!d)
		return 0;
	if (lim->memory) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->memory);
		if ((rc = write_str(d, "memory.max", val)) < 0)
			return rc;
		write_str(d, "memory.oom.group", "1");
	}
	if (lim->cpu_percent) {
		snprintf(val, sizeof(val), "%u 100000", lim->cpu_percent * 1000);
		if ((rc = write_str(d, "cpu.max", val)) < 0)
			return rc;
	}
	if (lim->tasks) {
		snprintf(val, sizeof(val), "%u", lim->tasks);
		if ((rc = write_str(d, "pids.max", val)) < 0)
			return rc;
	}
	if (lim->memory) {
		char *p = xasprintf("%s/memory.events", d);

		l->oom_fd = open(p, O_RDONLY | O_CLOEXEC);
		free(p);
	}
	return 0;
}

/* Reading memory.events again re-arms EPOLLPRI. */
static void v2_oom_ack(int fd)
{
	char buf[512];

	(void)!pread(fd, buf, sizeof(buf), 0);
}

/* v1: memory.limit_in_bytes with an eventfd on memory.oom_control, cpu.cfs_quota_us, pids.max. */
static int v1_limit(struct cg_leaf *l, const struct cg_limits *lim)
{
	char val[64];
	int rc;

	if (lim->memory && l->dir[CG_MEM]) {
		char *p;

		snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->memory);
		if ((rc = write_str(l->dir[CG_MEM], "memory.limit_in_bytes", val)) < 0)
			return rc;
		/* an eventfd that counts OOM events of this leaf */
		p = xasprintf("%s/memory.oom_control", l->dir[CG_MEM]);
		l->oom_ctl_fd = open(p, O_RDONLY | O_CLOEXEC);
		free(p);
		l->oom_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->oom_fd >= 0 && l->oom_ctl_fd >= 0) {
			snprintf(val, sizeof(val), "%d %d", l->oom_fd, l->oom_ctl_fd);
			write_str(l->dir[CG_MEM], "cgroup.event_control", val);
		}
	}
	if (lim->cpu_percent && l->dir[CG_CPU]) {
		snprintf(val, sizeof(val), "%u", lim->cpu_percent * 1000);
		write_str(l->dir[CG_CPU], "cpu.cfs_period_us", "100000");
		if ((rc = write_str(l->dir[CG_CPU], "cpu.cfs_quota_us", val)) < 0)
			return rc;
	}
	if (lim->tasks && l->dir[CG_PIDS]) {
		snprintf(val, sizeof(val), "%u", lim->tasks);
		if ((rc = write_str(l->dir[CG_PIDS], "pids.max", val)) < 0)
			return rc;
	}
	return 0;
}

/* Drain the eventfd. */
static void v1_oom_ack(int fd)
{
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
}

static int off_limit(struct cg_leaf *l, const struct cg_limits *lim)
{
	(void)l;
	(void)lim;
	return 0;
}

static void off_oom_ack(int fd)
{
	(void)fd;
}

static const struct cg_ops v2_ops = { "v2", EPOLLPRI, v2_limit, v2_oom_ack };
static const struct cg_ops v1_ops = { "v1", EPOLLIN, v1_limit, v1_oom_ack };
static const struct cg_ops off_ops = { "off", 0, off_limit, off_oom_ack };

static void set_kind(struct cg_root *r, enum cg_kind kind)
{
	r->kind = kind;
	r->ops = kind == CG_V2 ? &v2_ops : kind == CG_V1 ? &v1_ops : &off_ops;
}

int cg_root_init(struct cg_root *r, const char *mode, const char *root, const char *key,
		 unsigned *ret_killed, char **ret_error)
{
	char *mounts[CG_NDIRS] = { 0 }, name[32], *ctls = NULL;
	bool want_v2 = strcmp(mode, "v2") == 0, want_v1 = strcmp(mode, "v1") == 0;
	bool v2_ok = false, v1_ok = false;
	char pid[32];
	int r2;

	memset(r, 0, sizeof(*r));
	set_kind(r, CG_OFF);
	*ret_killed = 0;
	*ret_error = NULL;
	if (strcmp(mode, "off") == 0)
		return 0;
	find_mounts(mounts);
	find_own(mounts, r->own);
	free_dirs(mounts);
	if (root) {
		/* cgroup_root= replaces our own cgroup in every hierarchy it names */
		for (int i = 0; i < CG_NDIRS; i++) {
			if (!r->own[i])
				continue;
			free(r->own[i]);
			r->own[i] = NULL;
		}
		if (is_dir(root)) {
			char *c = read_str(root, "cgroup.controllers");

			r->own[c ? CG_UNIFIED : CG_MEM] = xstrdup(root);
			free(c);
		}
	}

	/* v2 with controllers: they must be available in our cgroup */
	if (r->own[CG_UNIFIED]) {
		ctls = read_str(r->own[CG_UNIFIED], "cgroup.controllers");
		v2_ok = ctls && has_word(ctls, "memory") && has_word(ctls, "pids") && has_word(ctls, "cpu");
	}
	v1_ok = r->own[CG_MEM] || r->own[CG_CPU] || r->own[CG_PIDS];
	if (want_v2 && !v2_ok) {
		*ret_error = xasprintf("cgroups = v2: no cgroup2 hierarchy with the memory, cpu and pids "
				       "controllers%s%s",
				       r->own[CG_UNIFIED] ? " at " : "", r->own[CG_UNIFIED] ? r->own[CG_UNIFIED] : "");
		goto out_fail;
	}
	if (want_v1 && !v1_ok) {
		*ret_error = xstrdup("cgroups = v1: no cgroup v1 memory, cpu or pids hierarchy is mounted");
		goto out_fail;
	}
	if (v2_ok && !want_v1)
		set_kind(r, CG_V2);
	else if (v1_ok && !want_v2)
		set_kind(r, CG_V1);
	else
		goto out_off;

	snprintf(name, sizeof(name), "tend.%012llx", (unsigned long long)(fnv1a(key) & 0xffffffffffffULL));
	for (int i = 0; i < CG_NDIRS; i++) {
		if (!r->own[i] || (r->kind == CG_V2 && i != CG_UNIFIED))
			continue;
		r->tree[i] = xasprintf("%s/%s", r->own[i], name);
		if (mkdir(r->tree[i], 0755) < 0 && errno != EEXIST) {
			r2 = -errno;
			if (i == CG_UNIFIED && r->kind == CG_V1) {
				/* the unified leaf only helps killing: go on without it */
				free(r->tree[i]);
				r->tree[i] = NULL;
				continue;
			}
			*ret_error = xasprintf("cannot create %s: %s", r->tree[i], strerror(-r2));
			goto out_fail;
		}
	}
	*ret_killed = clean_leftovers(r);

	/* tend joins its own leaf (v2: the tree may hold no process once controllers are on) */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (int i = 0; i < CG_NDIRS; i++) {
		char *leaf;

		if (!r->tree[i])
			continue;
		leaf = xasprintf("%s/" SELF_LEAF, r->tree[i]);
		if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) && write_str(leaf, "cgroup.procs", pid) == 0)
			r->self_moved = true;
		free(leaf);
	}
	if (r->kind == CG_V2) {
		/* hand the controllers down: our cgroup -> the tree */
		write_str(r->own[CG_UNIFIED], "cgroup.subtree_control", "+memory +cpu +pids");
		r2 = write_str(r->tree[CG_UNIFIED], "cgroup.subtree_control", "+memory +cpu +pids");
		if (r2 < 0) {
			*ret_error = xasprintf("cannot enable the memory, cpu and pids controllers in %s: %s",
					       r->tree[CG_UNIFIED], strerror(-r2));
			if (want_v2) {
				cg_root_done(r);
				free(ctls);
				return r2;
			}
			/* auto: fall back to v1 if there is one */
			cg_root_done(r);
			free(ctls);
			free(*ret_error);
			*ret_error = NULL;
			return v1_ok ? cg_root_init(r, "v1", root, key, ret_killed, ret_error)
				     : cg_root_init(r, "off", root, key, ret_killed, ret_error);
		}
	}
	free(ctls);
	return 0;

out_off:
	free(ctls);
	for (int i = 0; i < CG_NDIRS; i++) {
		free(r->own[i]);
		r->own[i] = NULL;
	}
	set_kind(r, CG_OFF);
	return 0;

out_fail:
	free(ctls);
	cg_root_done(r);
	return -ENOENT;
}

/*
 * rmdir what is left below a tree at exit (each instance's leaf went with
 * it): an empty directory somebody made in tend's tree no longer keeps the
 * tree.  One with processes in it stays (EBUSY).
 */
static void sweep_empty_leaves(const char *tree)
{
	DIR *d = opendir(tree);
	struct dirent *de;
	int dfd;

	if (!d)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR)
			(void)unlinkat(dfd, de->d_name, AT_REMOVEDIR);
	closedir(d);
}

void cg_root_done(struct cg_root *r)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (int i = 0; i < CG_NDIRS; i++) {
		if (r->tree[i]) {
			char *leaf = xasprintf("%s/" SELF_LEAF, r->tree[i]);

			/* back where we came from, so our leaf and the tree can go */
			if (r->self_moved && r->own[i])
				write_str(r->own[i], "cgroup.procs", pid);
			rmdir(leaf);
			sweep_empty_leaves(r->tree[i]);
			rmdir(r->tree[i]);
			free(leaf);
		}
	}
	free_dirs(r->tree);
	free_dirs(r->own);
	set_kind(r, CG_OFF);
	r->self_moved = false;
}

const char *cg_root_describe(const struct cg_root *r)
{
	return r->kind == CG_V1 && r->tree[CG_UNIFIED] ? "v1+unified" : r->ops->name;
}

void cg_root_trees(const struct cg_root *r, struct sbuf *b)
{
	for (int i = 0; i < CG_NDIRS; i++) {
		bool seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = r->tree[j] && r->tree[i] && strcmp(r->tree[i], r->tree[j]) == 0;
		if (r->tree[i] && !seen)
			sbuf_printf(b, " %s", r->tree[i]);
	}
}

bool cg_root_has_memory(const struct cg_root *r)
{
	return r->kind == CG_V2 || (r->kind == CG_V1 && r->tree[CG_MEM]);
}

/* ---- leaves -------------------------------------------------------------- */

void cg_leaf_init(struct cg_leaf *l)
{
	memset(l, 0, sizeof(*l));
	l->oom_fd = l->oom_ctl_fd = -1;
}

/* Leaf names: the instance name, with what a cgroup name cannot hold replaced. */
static char *leaf_name(const char *name)
{
	char *n = xasprintf("%s", name);

	for (char *p = n; *p; p++)
		if (*p == '/' || *p == '\n')
			*p = '_';
	if (strcmp(n, SELF_LEAF) == 0 || n[0] == '.' || strncmp(n, "cgroup.", 7) == 0) {
		char *m = xasprintf("p-%s", n);

		free(n);
		n = m;
	}
	return n;
}

/*
 * Whether a v1 leaf needs hierarchy i, given the ones made so far (the
 * unified one first): memory always (the limit, OOM kills and the memory
 * figures); cpu and pids only for their limit; cpuacct, for the CPU figures,
 * only without a unified leaf (whose cpu.stat has them); pids also when
 * neither a unified nor a memory leaf lists the processes.  A process not
 * moved into a hierarchy's leaf stays in tend's own cgroup there
 * (<tree>/_tend): no limit, the accounting of tend's.
 */
static bool v1_needs(const struct cg_leaf *l, int i, const struct cg_limits *lim)
{
	switch (i) {
	case CG_UNIFIED:
		return true;
	case CG_MEM:
		/* the limit; or the listing, where there is no unified leaf.  Not
		 * for the figures alone: joining a v1 hierarchy costs every start
		 * an expedited RCU grace period (cgroup_threadgroup_rwsem), which
		 * a unified leaf joined at clone time does not (issue 18) */
		return lim->memory != 0 || !l->dir[CG_UNIFIED];
	case CG_CPU:
		return lim->cpu_percent != 0;
	case CG_CPUACCT:
		return !l->dir[CG_UNIFIED];
	case CG_PIDS:
		return lim->tasks != 0 || (!l->dir[CG_UNIFIED] && !l->dir[CG_MEM]);
	}
	return false;
}

int cg_leaf_create(struct cg_root *r, struct cg_leaf *l, const char *name, const struct cg_limits *lim)
{
	/* the order the v1 hierarchies are decided in: what v1_needs looks at first */
	static const int order[CG_NDIRS] = { CG_UNIFIED, CG_MEM, CG_CPU, CG_CPUACCT, CG_PIDS };
	char *n = leaf_name(name);
	int rc = 0, lr;

	for (int k = 0; k < CG_NDIRS; k++) {
		int i = order[k];

		if (!r->tree[i] || (r->kind == CG_V1 && !v1_needs(l, i, lim)))
			continue;
		l->dir[i] = xasprintf("%s/%s", r->tree[i], n);
		if (mkdir(l->dir[i], 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			free(l->dir[i]);
			l->dir[i] = NULL;
		}
	}
	free(n);
	l->kind = r->kind;
	l->memory_limit = lim->memory != 0;
	lr = r->ops->limit(l, lim);
	if (lr < 0)
		return lr;
	l->oom_kills = cg_leaf_oom_kills(l);
	return rc;
}

int cg_leaf_procs_fds(const struct cg_leaf *l, int fds[CG_MAX_PROCS_FDS], int *ret_into)
{
	char path[PATH_MAX];
	int n = 0;

	*ret_into = -1;
	if (l->dir[CG_UNIFIED] && !l->killed)
		*ret_into = open(l->dir[CG_UNIFIED], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* at every start: paths on the stack */
	for (int i = 0; i < CG_NDIRS; i++) {
		if (!l->dir[i] || (i == CG_UNIFIED && *ret_into >= 0) ||
		    (size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", l->dir[i]) >= sizeof(path))
			continue;
		fds[n] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[n] >= 0)
			n++;
	}
	return n;
}

int cg_leaf_kill(struct cg_leaf *l, int timeout_ms)
{
	return kill_dirs(l->dir, timeout_ms, &l->killed);
}

void cg_leaf_signal(struct cg_leaf *l, int sig)
{
	const char *pd = procs_dir(l->dir);

	if (pd)
		signal_procs(pd, sig);
}

int cg_leaf_count(const struct cg_leaf *l)
{
	return count_procs(procs_dir(l->dir));
}

uint32_t cg_root_oom_events(const struct cg_root *r)
{
	return r->ops->oom_events;
}

void cg_root_oom_ack(const struct cg_root *r, const struct cg_leaf *l)
{
	if (l->oom_fd >= 0)
		r->ops->oom_ack(l->oom_fd);
}

/*
 * From the hierarchy with the memory controller only (v2: memory.events; v1:
 * memory.oom_control; the unified leaf of a v1 root has no memory.events),
 * and only for a leaf with a memory limit: without one nothing is killed
 * over it, and a program's exit costs no read.
 */
uint64_t cg_leaf_oom_kills(const struct cg_leaf *l)
{
	uint64_t n = 0;

	if (!l->memory_limit)
		return 0;
	if (l->kind == CG_V2 && l->dir[CG_UNIFIED] && read_u64(l->dir[CG_UNIFIED], "memory.events", "oom_kill", &n))
		return n;
	if (l->kind == CG_V1 && l->dir[CG_MEM] && read_u64(l->dir[CG_MEM], "memory.oom_control", "oom_kill", &n))
		return n;
	return 0;
}

/* each_proc: add one process's resident set (its statm: two numbers
 * where stat has forty) to *(uint64_t *)arg. */
static int add_rss(pid_t pid, void *arg)
{
	static long page;
	char path[40], buf[128];
	unsigned long long size, rss;
	ssize_t n;
	int fd;

	if (!page)
		page = sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &rss) == 2)
		*(uint64_t *)arg += rss * (uint64_t)page;
	return 0;
}

/* The summed RSS of the processes dir/cgroup.procs lists (a leaf without a
 * memory controller: a program without memory_limit under v1).  False when
 * the list cannot be read. */
static bool leaf_rss(const char *dir, uint64_t *ret)
{
	*ret = 0;
	return each_proc(dir, add_rss, ret) >= 0;
}

/*
 * Memory from the hierarchy that has the memory controller (the unified one
 * under v2, memory's own under v1: the files of the other do not exist, and
 * are not tried), CPU time from cpuacct (v1) or cpu.stat, which every v2
 * cgroup has.  Three files per leaf; without a memory controller, the
 * leaf's process list and a statm per process.
 */
void cg_leaf_stats(const struct cg_leaf *l, struct cg_stats *st)
{
	const char *u = l->dir[CG_UNIFIED];
	uint64_t v;

	memset(st, 0, sizeof(*st));
	if (l->kind == CG_V2 && u) {
		st->have_mem = read_u64(u, "memory.current", NULL, &st->mem_current);
		if (st->have_mem)
			read_u64(u, "memory.peak", NULL, &st->mem_peak);
	} else if (l->kind == CG_V1 && l->dir[CG_MEM]) {
		st->have_mem = read_u64(l->dir[CG_MEM], "memory.usage_in_bytes", NULL, &st->mem_current);
		if (st->have_mem)
			read_u64(l->dir[CG_MEM], "memory.max_usage_in_bytes", NULL, &st->mem_peak);
	}
	if (!st->have_mem)
		st->have_mem = st->mem_rss = leaf_rss(procs_dir(l->dir), &st->mem_current);
	if (l->kind == CG_V1 && l->dir[CG_CPUACCT] && read_u64(l->dir[CG_CPUACCT], "cpuacct.usage", NULL, &v)) {
		st->cpu_usec = v / 1000;
		st->have_cpu = true;
	} else if (u) {
		st->have_cpu = read_u64(u, "cpu.stat", "usage_usec", &st->cpu_usec);
	}
}

void cg_root_flush_stats(const struct cg_root *r)
{
	uint64_t v;

	if (r->tree[CG_UNIFIED])
		read_u64(r->tree[CG_UNIFIED], "cpu.stat", "usage_usec", &v);
}

/* rmdir the leaf in every hierarchy; -EBUSY, with the rest kept, at one that still holds processes */
static int rmdir_leaf(struct cg_leaf *l)
{
	for (int i = 0; i < CG_NDIRS; i++) {
		if (!l->dir[i])
			continue;
		if (rmdir(l->dir[i]) < 0 && errno == EBUSY)
			return -EBUSY;
		free(l->dir[i]);
		l->dir[i] = NULL;
	}
	return 0;
}

void cg_leaf_remove(struct cg_leaf *l, int timeout_ms)
{
	if (l->oom_fd >= 0)
		close(l->oom_fd);
	if (l->oom_ctl_fd >= 0)
		close(l->oom_ctl_fd);
	l->oom_fd = l->oom_ctl_fd = -1;
	/* no read of cgroup.procs first: an empty leaf's rmdir is the answer */
	if (rmdir_leaf(l) == -EBUSY) {
		kill_dirs(l->dir, timeout_ms, NULL);
		rmdir_leaf(l);
	}
	free_dirs(l->dir);
}
