/*
 * Futexes, deadlines and the process-shared lock used by the queue.
 *
 * The lock word is 64 bits: 0 when free, else the owner's token (tid and
 * thread start time, see tend__token).  Locking is one CAS and unlocking one
 * exchange.  A waiter sleeps with FUTEX_WAIT on the word's low half (tid and
 * the waiters bit) and is woken by the unlock.  A killed owner never unlocks,
 * so a waiter sleeps in slices and, between them, asks /proc whether the
 * owner still lives: a thread that is gone, a zombie, or a thread with the
 * same tid but another start time (the tid was reused) is dead, and the lock
 * is taken over with a CAS from exactly the dead owner's word.  Liveness is
 * only checked while a lock is held by someone else, so an idle queue costs
 * nothing.  (Priority-inheritance futexes were tried first: they name the
 * owner by tid alone and mis-handle tids that were reused, which a kill loop
 * on a machine with pid_max 32768 produces within seconds.)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/sync.h"

#define TID_MASK 0x3fffffffu
#define LOCK_SPINS 256
#define SLICE_MIN_NS 1000000ull    /* first sleep of a waiter: 1 ms */
#define SLICE_MAX_NS 100000000ull  /* then doubling up to 100 ms */

void (*tend__fault_hook)(int point);

static __thread uint64_t tls_token __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t proc_token;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
unsigned tend__fork_gen;

static void reset_token_in_child(void)
{
	tls_token = 0;
	atomic_store_explicit(&proc_token, 0, memory_order_relaxed);
	tend__fork_gen++;
}

static void register_atfork(void)
{
	/* Without it a forked child would lock with its parent's token. */
	(void)pthread_atfork(NULL, NULL, reset_token_in_child);
}

/* Read /proc/<path>/stat: the state letter and the start time.  Returns 0,
 * -ENOENT when there is no such task, or another -errno. */
static int read_stat(const char *path, char *ret_state, uint64_t *ret_start)
{
	char buf[1024], *p;
	unsigned long long start;
	ssize_t n;
	int fd, i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 && errno == ESRCH ? -ENOENT : -EIO;
	buf[n] = 0;
	/* "pid (comm) S ppid ..." where comm may hold spaces and parentheses */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EIO;
	*ret_state = p[2];
	p += 2;
	/* starttime is field 22; the state is field 3 */
	for (i = 3; i < 22; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	start = strtoull(p, NULL, 10);
	*ret_start = start;
	return 0;
}

uint64_t tend__token(void)
{
	uint64_t start = 0;
	uint32_t tid;
	char state;

	if (__builtin_expect(tls_token != 0, 1))
		return tls_token;
	pthread_once(&atfork_once, register_atfork);
	tid = (uint32_t)syscall(SYS_gettid) & TID_MASK;
	if (read_stat("/proc/thread-self/stat", &state, &start) < 0)
		start = 0;
	tls_token = (uint64_t)(uint32_t)start << 32 | tid;
	return tls_token;
}

uint64_t tend__proc_token(void)
{
	uint64_t t = atomic_load_explicit(&proc_token, memory_order_relaxed), start = 0;
	uint32_t pid;
	char state;

	if (__builtin_expect(t != 0, 1))
		return t;
	pthread_once(&atfork_once, register_atfork);
	pid = (uint32_t)getpid() & TID_MASK;
	if (read_stat("/proc/self/stat", &state, &start) < 0)
		start = 0;
	t = (uint64_t)(uint32_t)start << 32 | pid;
	atomic_store_explicit(&proc_token, t, memory_order_relaxed);
	return t;
}

bool tend__owner_alive(uint64_t token)
{
	char path[48], state;
	uint64_t start;
	int r;

	snprintf(path, sizeof(path), "/proc/%u/stat", (unsigned)(token & TID_MASK));
	r = read_stat(path, &state, &start);
	if (r == -ENOENT || r == -ESRCH)
		return false;
	if (r < 0)
		return true; /* cannot tell: never steal from the living */
	if (state == 'Z' || state == 'X' || state == 'x')
		return false;
	return (uint32_t)start == (uint32_t)(token >> 32);
}

uint64_t tend__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void ns_to_ts(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

void tend__deadline_init(struct tend__deadline *d, int64_t timeout_ns)
{
	d->forever = timeout_ns < 0;
	d->nowait = timeout_ns == 0;
	d->at.tv_sec = 0;
	d->at.tv_nsec = 0;
	if (timeout_ns > 0)
		ns_to_ts(tend__now_ns() + (uint64_t)timeout_ns, &d->at);
}

bool tend__deadline_passed(const struct tend__deadline *d)
{
	struct timespec now;

	if (d->forever)
		return false;
	if (d->nowait)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->at.tv_sec || (now.tv_sec == d->at.tv_sec && now.tv_nsec >= d->at.tv_nsec);
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts, uint32_t val3)
{
	return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, val3);
}

int tend__futex_wait(_Atomic uint32_t *w, uint32_t val, const struct tend__deadline *d)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	if (futex(w, FUTEX_WAIT_BITSET, val, d->forever ? NULL : &d->at, FUTEX_BITSET_MATCH_ANY) == 0)
		return 0;
	if (errno == ETIMEDOUT || errno == EINTR)
		return -errno;
	return 0; /* EAGAIN: the value had changed already */
}

void tend__futex_wake_all(_Atomic uint32_t *w)
{
	(void)futex(w, FUTEX_WAKE, INT_MAX, NULL, 0);
}

/* The low half of a lock word (tid and waiters bit), which waiters sleep on. */
static inline _Atomic uint32_t *low_half(_Atomic uint64_t *w)
{
	return (_Atomic uint32_t *)(void *)w; /* little-endian: the low 32 bits come first */
}

int tend__lock(_Atomic uint64_t *w, uint64_t token, const struct tend__deadline *d)
{
	struct tend__deadline slice;
	uint64_t v = 0, owner, now, slice_ns = SLICE_MIN_NS, end;
	int i;

	if (atomic_compare_exchange_strong_explicit(w, &v, token, memory_order_seq_cst, memory_order_relaxed))
		return 0;
	/* Owners hold it for well under a microsecond: spin a little first. */
	for (i = 0; i < LOCK_SPINS; i++) {
		tend__cpu_relax();
		v = atomic_load_explicit(w, memory_order_relaxed);
		if (v == 0 && atomic_compare_exchange_strong_explicit(w, &v, token, memory_order_seq_cst,
								      memory_order_relaxed))
			return 0;
	}
	for (;;) {
		v = atomic_load_explicit(w, memory_order_relaxed);
		if (v == 0) {
			if (atomic_compare_exchange_strong_explicit(w, &v, token, memory_order_seq_cst,
								    memory_order_relaxed))
				return 0;
			continue;
		}
		owner = v & ~TEND__LOCK_WAITERS;
		if (owner == token || !tend__owner_alive(owner)) {
			/* Its owner is dead (or was this very thread, which can
			 * only be a leftover): take it over from exactly that word. */
			if (atomic_compare_exchange_strong_explicit(w, &v, token | (v & TEND__LOCK_WAITERS),
								    memory_order_seq_cst, memory_order_relaxed))
				return 1;
			continue;
		}
		if (d->nowait)
			return -EAGAIN;
		if (!(v & TEND__LOCK_WAITERS)) {
			if (!atomic_compare_exchange_strong_explicit(w, &v, v | TEND__LOCK_WAITERS,
								     memory_order_relaxed, memory_order_relaxed))
				continue;
			v |= TEND__LOCK_WAITERS;
		}
		/* Sleep until the unlock, the caller's deadline or the end of a
		 * slice, after which the owner's liveness is checked again. */
		now = tend__now_ns();
		end = now + slice_ns;
		slice.forever = false;
		slice.nowait = false;
		if (!d->forever) {
			uint64_t at = (uint64_t)d->at.tv_sec * 1000000000u + (uint64_t)d->at.tv_nsec;

			if (at <= now)
				return -ETIMEDOUT;
			if (at < end)
				end = at;
		}
		ns_to_ts(end, &slice.at);
		(void)tend__futex_wait(low_half(w), (uint32_t)v, &slice);
		if (slice_ns < SLICE_MAX_NS)
			slice_ns *= 2;
	}
}

void tend__unlock(_Atomic uint64_t *w)
{
	uint64_t old = atomic_exchange_explicit(w, 0, memory_order_seq_cst);

	if (old & TEND__LOCK_WAITERS)
		tend__futex_wake_all(low_half(w));
}
