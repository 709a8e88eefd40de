#include "daemon/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"

#ifdef __x86_64__
#include <linux/sched.h> /* struct clone_args, CLONE_INTO_CGROUP */
#endif

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int pidfd_kill(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* ---- in the child: only what is safe between clone and exec ---------------- */

/*
 * The child runs on a private stack in tend's memory (CLONE_VM): AddressSanitizer
 * cannot follow that stack switch, so the child's own code is not instrumented.
 */
#define CHILD_CODE __attribute__((no_sanitize_address))

/*
 * The child shares tend's memory (CLONE_VM) and tend waits until it has
 * exec'd or exited (CLONE_VFORK): why it failed is written where tend reads
 * it once the clone returns, as glibc's posix_spawn does.
 */
CHILD_CODE static void child_fail(struct spawn_report *rep, int err, const char *what)
{
	strncpy(rep->what, what, sizeof(rep->what) - 1);
	rep->err = err;
	_exit(127);
}

/* tend's own stdout and stderr, saved in the child before its stdio replaces them. */
struct saved_stdio {
	int out;
	int err;
};

/* Whether the stream goes to tend's own stdout or stderr. */
CHILD_CODE static bool want_saved(const struct spawn_stdio *s)
{
	return s->fd < 0 && (s->kind == LOGDEST_STDOUT || s->kind == LOGDEST_STDERR);
}

/*
 * The child's end of one stdio stream, as child_dup takes it: an fd above
 * stdio (the slots, tend's own pipes and files) is used as it is; the rest
 * are duplicated above 2 first (a copy of tend's stdout, /dev/null), so
 * that no dup2 onto 0..2 replaces a source still to be used.
 */
CHILD_CODE static int child_stdio(const struct spawn_stdio *s, const struct saved_stdio *saved)
{
	int fd;

	if (s->fd > STDERR_FILENO)
		return s->fd;
	if (s->fd >= 0) {
		fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
		return fd >= 0 ? fd : -errno;
	}
	if (s->kind == LOGDEST_STDOUT || s->kind == LOGDEST_STDERR) {
		fd = s->kind == LOGDEST_STDOUT ? saved->out : saved->err;
		fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
		if (fd >= 0)
			return fd;
	}
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* Put fd on to; an fd that is not src (the request's own, left to close at exec) was made for this: closed. */
CHILD_CODE static void child_dup(int fd, int src, int to, struct spawn_report *rep, const char *what)
{
	if (fd < 0)
		child_fail(rep, -fd, what);
	if (fd != to) {
		if (dup2(fd, to) < 0)
			child_fail(rep, errno, what);
		if (fd != src)
			close(fd);
	} else {
		fcntl(fd, F_SETFD, 0);
	}
}

CHILD_CODE static const char *env_get(char *const *envp, const char *key)
{
	size_t n = strlen(key);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* execve with a PATH search taken from the program's own environment. */
CHILD_CODE static void child_exec(const struct spawn_req *r, struct spawn_report *rep)
{
	const char *file = r->argv[0], *path, *p;
	char buf[PATH_MAX];
	int err = ENOENT;

	if (strchr(file, '/')) {
		execve(file, r->argv, r->envp);
		child_fail(rep, errno, "exec");
	}
	path = env_get(r->envp, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen + 1 + strlen(file) + 1 <= sizeof(buf)) {
			if (dlen) {
				memcpy(buf, p, dlen);
				buf[dlen] = '/';
				strcpy(buf + dlen + 1, file);
			} else {
				strcpy(buf, file);
			}
			execve(buf, r->argv, r->envp);
			/* keep the most telling error: EACCES beats ENOENT */
			if (errno == EACCES)
				err = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				err = errno;
		}
		if (!*end)
			break;
		p = end;
	}
	child_fail(rep, err, "exec");
}

/* The kernel's struct sigaction; all zero is SIG_DFL with no flags and an empty mask. */
struct kernel_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/* Signals whose disposition in tend is not SIG_DFL (bit s-1 for signal s). */
static uint64_t non_default;

void spawn_init(void)
{
	non_default = 0;
	for (int s = 1; s < NSIG && s <= 64; s++) {
		struct kernel_sigaction old;

		if (s == SIGKILL || s == SIGSTOP)
			continue;
		/* the raw call also sees the signals glibc reserves (32, 33) */
		if (syscall(SYS_rt_sigaction, s, NULL, &old, sizeof(old.mask)) == 0 &&
		    old.handler != SIG_DFL)
			non_default |= 1ULL << (s - 1);
	}
}

CHILD_CODE static void __attribute__((noreturn)) child(const struct spawn_req *r, struct spawn_report *rep)
{
	struct kernel_sigaction dfl = { 0 };
	struct saved_stdio saved;
	sigset_t none;

	/* first the cgroups, so that nothing the child does escapes its limits */
	for (int i = 0; i < r->ncgroup_fds; i++)
		if (write(r->cgroup_fds[i], "0", 1) < 0)
			child_fail(rep, errno, "cgroup");

	for (int s = 1; s <= 64; s++)
		if (non_default & (1ULL << (s - 1)))
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(dfl.mask));
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		child_fail(rep, errno, "setsid");
	if (r->core != -1) {
		struct rlimit rl = { .rlim_cur = r->core == -2 ? RLIM_INFINITY : (rlim_t)r->core };

		rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			child_fail(rep, errno, "core");
	}
	if (r->nice != NICE_UNSET && setpriority(PRIO_PROCESS, 0, r->nice) < 0)
		child_fail(rep, errno, "nice");
	{
		/* tend may protect itself from the OOM killer; its programs must not inherit that */
		char adj[16];
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), n;

		n = snprintf(adj, sizeof(adj), "%d", r->oom_score_adj);
		if (fd >= 0) {
			if (write(fd, adj, (size_t)n) < 0 && r->oom_score_adj != 0)
				child_fail(rep, errno, "oom_score_adj");
			close(fd);
		}
	}

	/* tend's own stdout and stderr, for a stream that goes there (kept
	 * before stdin and stdout replace them) */
	saved.out = saved.err = -1;
	if (want_saved(&r->out) || (!r->redirect_stderr && want_saved(&r->err))) {
		saved.out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		saved.err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	}
	child_dup(r->in_fd > STDERR_FILENO ? r->in_fd
		  : r->in_fd >= 0	   ? fcntl(r->in_fd, F_DUPFD_CLOEXEC, 3)
					   : open("/dev/null", O_RDONLY | O_CLOEXEC),
		  r->in_fd, STDIN_FILENO, rep, "stdin");
	child_dup(child_stdio(&r->out, &saved), r->out.fd, STDOUT_FILENO, rep, "stdout");
	if (r->redirect_stderr) {
		if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
			child_fail(rep, errno, "redirect_stderr");
	} else {
		child_dup(child_stdio(&r->err, &saved), r->err.fd, STDERR_FILENO, rep, "stderr");
	}

	if (r->listen_fd >= 0) {
		/* socket activation: the shared listening socket is fd 3 (see close_range below) */
		if (r->listen_fd != 3 && dup2(r->listen_fd, 3) < 0)
			child_fail(rep, errno, "listen");
		if (r->listen_pid) {
			/* LISTEN_PID is our own pid: written by hand, no stdio in here */
			char digits[16];
			int nd = 0;

			for (unsigned v = (unsigned)getpid(); v || nd == 0; v /= 10)
				digits[nd++] = (char)('0' + v % 10);
			for (size_t i = 0; i < r->listen_pid_len; i++)
				r->listen_pid[i] = i < (size_t)nd ? digits[nd - 1 - i] : '\0';
		}
	}

	if (r->switch_user) {
		if (setgroups((size_t)r->ngroups, r->groups) < 0)
			child_fail(rep, errno, "setgroups");
		if (setresgid(r->gid, r->gid, r->gid) < 0)
			child_fail(rep, errno, "setresgid");
		if (setresuid(r->uid, r->uid, r->uid) < 0)
			child_fail(rep, errno, "setresuid");
		if (getuid() != r->uid || geteuid() != r->uid || getgid() != r->gid)
			child_fail(rep, EPERM, "setresuid");
	}
	if (r->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(rep, errno, "no_new_privs");
	if (r->directory && chdir(r->directory) < 0)
		child_fail(rep, errno, "chdir");
	if (r->umask >= 0)
		umask((mode_t)r->umask);

	/* everything tend holds (sockets, pidfds, other children's pipes) closes at exec */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < 65536; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (r->listen_fd >= 0 && fcntl(3, F_SETFD, 0) < 0)
		child_fail(rep, errno, "listen");
	/* last: tend's own limit is raised, and with many programs the fds this
	 * child opens or duplicates above may lie beyond the program's limit */
	if (r->nofile && setrlimit(RLIMIT_NOFILE, r->nofile) < 0)
		child_fail(rep, errno, "nofile");
	child_exec(r, rep);
	_exit(127);
}

struct child_args {
	const struct spawn_req *req;
	struct spawn_report *rep; /* zeroed; the child's reason, if it fails */
	unsigned keep; /* > 0: the table is shared (CLONE_FILES); unshare it keeping [0, keep) */
	int files_err; /* set by the child when it could not: errno */
};

CHILD_CODE static int child_entry(void *arg)
{
	struct child_args *a = arg;

	if (a->keep) {
		/*
		 * First of all, and nothing before it: this table is tend's own.
		 * The kernel copies fds [0, keep) (stdio and the slots) into a
		 * table of the child's and leaves the rest behind.
		 */
		if (syscall(SYS_close_range, a->keep, ~0U, CLOSE_RANGE_UNSHARE) < 0) {
			a->files_err = errno;
			_exit(127);
		}
	}
	child(a->req, a->rep);
}

/* ---- in the parent ------------------------------------------------------- */

/*
 * The slots (spawn.h): fds from 3 up, held on /dev/null while no spawn is
 * under way; the index says what the next child finds in one.
 */
enum {
	SLOT_IN,
	SLOT_OUT,
	SLOT_ERR,
	SLOT_LISTEN,
	SLOT_CG,
	NSLOTS = SLOT_CG + SPAWN_MAX_CGROUP_FDS,
};

static int slot_fd[NSLOTS];
static int slot_null = -1; /* /dev/null: what a slot points at between spawns */
static unsigned slot_keep; /* 0: no slots, clone copies the table; else the child keeps [0, slot_keep) */

static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "/vgpreload_");
}

int spawn_reserve_fds(void)
{
	int fd, max = 0;

	slot_keep = 0;
	/*
	 * valgrind knows clone() only as fork, vfork or a thread and exits on
	 * anything else (CLONE_FILES with CLONE_VFORK): there, copy the table.
	 */
	if (under_valgrind())
		return -ENOTSUP;
	/* close_range(2) with CLOSE_RANGE_UNSHARE (Linux 5.9): a no-op here, the
	 * table is not shared yet; ENOSYS on older kernels, EPERM under a seccomp
	 * filter that does not know it */
	if (syscall(SYS_close_range, ~0U, ~0U, CLOSE_RANGE_UNSHARE) < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (int i = 0; i < NSLOTS; i++) {
		slot_fd[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (slot_fd[i] < 0) {
			int e = errno;

			while (i-- > 0)
				close(slot_fd[i]);
			close(fd);
			return -e;
		}
		max = slot_fd[i] > max ? slot_fd[i] : max;
	}
	if (fd < 3) {
		/* tend started with 0, 1 or 2 closed: keep this one out of the way of stdio */
		slot_null = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		if (slot_null < 0) {
			int e = errno;

			for (int i = 0; i < NSLOTS; i++)
				close(slot_fd[i]);
			return -e;
		}
	} else {
		slot_null = fd;
	}
	slot_keep = (unsigned)max + 1;
	return 0;
}

/* Point slot i at fd (for the next child); false if it cannot. */
static bool slot_set(int i, int fd, unsigned *used)
{
	if (dup3(fd, slot_fd[i], O_CLOEXEC) < 0)
		return false;
	*used |= 1U << i;
	return true;
}

/* Back to /dev/null: a slot must not keep a pipe open (its reader would never see EOF). */
static void slots_release(unsigned used)
{
	for (int i = 0; i < NSLOTS; i++)
		if (used & (1U << i))
			(void)dup3(slot_null, slot_fd[i], O_CLOEXEC);
}

/*
 * *req with its fds moved into the slots (*sreq, cg: its cgroup fds).  False
 * if one cannot be (a bad fd: the copying path then fails it in the child, as
 * it always did); the slots set so far are in *used either way.
 */
static bool slots_fill(const struct spawn_req *req, struct spawn_req *sreq,
		       int cg[SPAWN_MAX_CGROUP_FDS], unsigned *used)
{
	*sreq = *req;
	if (req->ncgroup_fds > SPAWN_MAX_CGROUP_FDS)
		return false;
	if (req->in_fd >= 0) {
		if (!slot_set(SLOT_IN, req->in_fd, used))
			return false;
		sreq->in_fd = slot_fd[SLOT_IN];
	}
	if (req->out.fd >= 0) {
		if (!slot_set(SLOT_OUT, req->out.fd, used))
			return false;
		sreq->out.fd = slot_fd[SLOT_OUT];
	}
	if (req->err.fd >= 0) {
		if (!slot_set(SLOT_ERR, req->err.fd, used))
			return false;
		sreq->err.fd = slot_fd[SLOT_ERR];
	}
	if (req->listen_fd >= 0) {
		if (!slot_set(SLOT_LISTEN, req->listen_fd, used))
			return false;
		sreq->listen_fd = slot_fd[SLOT_LISTEN];
	}
	for (int i = 0; i < req->ncgroup_fds; i++) {
		if (!slot_set(SLOT_CG + i, req->cgroup_fds[i], used))
			return false;
		cg[i] = slot_fd[SLOT_CG + i];
	}
	sreq->cgroup_fds = cg;
	return true;
}

/* spawn_once(): the shared table could not be used, copy it instead */
#define SPAWN_COPY 1

/* clone3 with CLONE_INTO_CGROUP works here (cleared at its first ENOSYS,
 * E2BIG or EINVAL: a kernel before 5.7, or a seccomp filter refusing it) */
static bool into_ok = true;

#ifdef __x86_64__
/*
 * clone3 with the child on its own stack: the kernel starts it there with
 * the parent's registers, so it cannot return into this frame; it calls
 * fn(arg) and exits with its value (what glibc's clone3.S does; glibc 2.36
 * exports no clone3).  Returns the pid, or -errno.
 */
static long clone3_call(struct clone_args *ca, int (*fn)(void *), void *arg)
{
	register void *r8 __asm__("r8") = (void *)fn;
	register void *r9 __asm__("r9") = arg;
	long ret = SYS_clone3;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 /* the child */
			 "xor %%ebp, %%ebp\n\t"
			 "and $-16, %%rsp\n\t"
			 "mov %%r9, %%rdi\n\t"
			 "call *%%r8\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov %[exit], %%eax\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "+a"(ret)
			 : "D"(ca), "S"(sizeof(*ca)), "r"(r8), "r"(r9), [exit] "i"(SYS_exit)
			 : "rcx", "r11", "memory", "cc");
	return ret;
}
#endif

/* clone(2) as spawn_once calls it, made in the cgroup2 directory into
 * (CLONE_INTO_CGROUP).  The pid, or -1 with errno. */
static pid_t clone_into(int (*fn)(void *), char *stack, size_t size, int flags, int into, void *arg)
{
#ifdef __x86_64__
	struct clone_args ca = {
		.flags = ((uint64_t)flags & ~(uint64_t)0xff) | CLONE_INTO_CGROUP,
		.exit_signal = (uint64_t)flags & 0xff,
		.stack = (uint64_t)(uintptr_t)stack,
		.stack_size = size,
		.cgroup = (uint64_t)into,
	};
	long r = clone3_call(&ca, fn, arg);

	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (pid_t)r;
#else
	(void)fn, (void)stack, (void)size, (void)flags, (void)into, (void)arg;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * One clone.  shared: with CLONE_FILES, the fds the child needs in the slots.
 * 0, -errno, or SPAWN_COPY: the slots could not be set, or the child could
 * not unshare the table (it is reaped; slot_keep is 0 from then on).
 */
static int spawn_once(const struct spawn_req *req, bool shared, pid_t *ret_pid, struct spawn_report *ret_report)
{
	/* one child at a time runs on it: CLONE_VFORK holds tend until exec */
	static char stack[64 * 1024] __attribute__((aligned(64)));
	struct child_args a = { .req = req, .rep = ret_report };
	struct spawn_req sreq;
	int cg[SPAWN_MAX_CGROUP_FDS], r, flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
	unsigned used = 0;
	pid_t pid;

	memset(ret_report, 0, sizeof(*ret_report));
	if (shared) {
		if (!slots_fill(req, &sreq, cg, &used)) {
			slots_release(used);
			return SPAWN_COPY;
		}
		a.req = &sreq;
		a.keep = slot_keep;
		flags |= CLONE_FILES;
	}
	if (req->cgroup_into_fd >= 0)
		pid = clone_into(child_entry, stack, sizeof(stack), flags, req->cgroup_into_fd, &a);
	else
		pid = clone(child_entry, stack + sizeof(stack), flags, &a);
	r = pid < 0 ? -errno : 0;
	slots_release(used);
	if (r < 0)
		return r;
	if (a.files_err) {
		/* it exited at once, before any change: reap it here, nobody knows its pid */
		waitpid(pid, NULL, 0);
		slot_keep = 0;
		return SPAWN_COPY;
	}
	/* the child has exec'd (the report is still zero) or failed (it is not:
	 * child_fail's strncpy leaves the zeroed last byte of what) */
	*ret_pid = pid;
	return 0;
}

/* One spawn: through the shared table while it can be had, else copying it. */
static int spawn_table(const struct spawn_req *req, pid_t *ret_pid, struct spawn_report *ret_report)
{
	if (slot_keep) {
		int r = spawn_once(req, true, ret_pid, ret_report);

		if (r != SPAWN_COPY)
			return r;
	}
	return spawn_once(req, false, ret_pid, ret_report);
}

int spawn_process(const struct spawn_req *req, pid_t *ret_pid, struct spawn_report *ret_report)
{
	struct spawn_req joined;
	int cg[SPAWN_MAX_CGROUP_FDS], r;

	if (req->cgroup_into_fd >= 0 && into_ok && !under_valgrind()) {
		r = spawn_table(req, ret_pid, ret_report);
		/* no child was made for these: no clone3 or no room in the
		 * process table, as the fallback would find */
		if (r >= 0 || r == -EAGAIN || r == -ENOMEM)
			return r;
		if (r == -ENOSYS || r == -E2BIG || r == -EINVAL)
			into_ok = false;
	}
	if (req->cgroup_into_fd < 0)
		return spawn_table(req, ret_pid, ret_report);
	/* the child joins the directory's cgroup.procs itself, as the others */
	joined = *req;
	joined.cgroup_into_fd = -1;
	if (req->ncgroup_fds < SPAWN_MAX_CGROUP_FDS &&
	    (cg[req->ncgroup_fds] = openat(req->cgroup_into_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC)) >= 0) {
		if (req->ncgroup_fds)
			memcpy(cg, req->cgroup_fds, sizeof(int) * (size_t)req->ncgroup_fds);
		joined.cgroup_fds = cg;
		joined.ncgroup_fds = req->ncgroup_fds + 1;
	}
	r = spawn_table(&joined, ret_pid, ret_report);
	if (joined.ncgroup_fds > req->ncgroup_fds)
		close(cg[req->ncgroup_fds]);
	return r;
}
