/*
 * libtend internals: futex calls, deadlines, and a process-shared lock whose
 * word names its owner thread exactly, so that a lock whose owner was killed
 * is taken over instead of staying locked forever.
 */
#ifndef TEND_LIB_SYNC_H
#define TEND_LIB_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define TEND__HIDDEN __attribute__((visibility("hidden")))

/* A deadline on CLOCK_MONOTONIC; forever when .forever is set. */
struct tend__deadline {
	bool forever;
	bool nowait;
	struct timespec at;
};

/* Fill *d from a relative timeout (TEND_FOREVER, TEND_NOWAIT or > 0 ns).
 * This function can't fail. */
TEND__HIDDEN void tend__deadline_init(struct tend__deadline *d, int64_t timeout_ns);

/* True once the deadline has passed (never for forever). */
TEND__HIDDEN bool tend__deadline_passed(const struct tend__deadline *d);

/* Nanoseconds on CLOCK_MONOTONIC.  This function can't fail. */
TEND__HIDDEN uint64_t tend__now_ns(void);

/*
 * The calling thread's lock token: its kernel tid in the low 30 bits and the
 * low 32 bits of its start time (clock ticks after boot, from /proc) in the
 * high half.  Unlike a bare tid it is never reused by another thread while
 * the owner could still hold a lock.  Cached per thread, reset in the child
 * of a fork.  This function can't fail (without /proc the start time is 0).
 */
TEND__HIDDEN uint64_t tend__token(void);

/*
 * The calling process's token: its pid in the low 30 bits and the low 32
 * bits of its start time in the high half, in the form tend__owner_alive()
 * checks.  Names a process (a counter slot's claimer), not a thread.  Cached,
 * reset in the child of a fork.  This function can't fail.
 */
TEND__HIDDEN uint64_t tend__proc_token(void);

/* Counts the fork()s that made this process out of the one that first
 * called tend__token() or tend__proc_token(): a handle that remembers the
 * value can tell it was inherited by a child.  Only the atfork handler
 * writes it. */
extern TEND__HIDDEN unsigned tend__fork_gen;

/* FUTEX_WAIT on a shared futex until *w != val, a wake, a signal or the
 * deadline.  Returns 0 (woken or value changed), -ETIMEDOUT, -EINTR. */
TEND__HIDDEN int tend__futex_wait(_Atomic uint32_t *w, uint32_t val, const struct tend__deadline *d);

/* FUTEX_WAKE every waiter of a shared futex.  This function can't fail. */
TEND__HIDDEN void tend__futex_wake_all(_Atomic uint32_t *w);

/* Bit 31 of a lock word: someone sleeps on it. */
#define TEND__LOCK_WAITERS ((uint64_t)1 << 31)

/*
 * Lock a process-shared lock word (0 = free, else the owner's token, maybe
 * with TEND__LOCK_WAITERS).  A waiter spins briefly, then sleeps on the low
 * half of the word; while it waits it checks that the owner still lives
 * (same tid, same start time, not a zombie), and takes the lock over from a
 * dead one.  Returns 0 when the lock was free, 1 when it was taken over from
 * a dead owner (the caller repairs what the owner may have left half done),
 * -EAGAIN when d->nowait and a live owner holds it, or -ETIMEDOUT.
 */
TEND__HIDDEN int tend__lock(_Atomic uint64_t *w, uint64_t token, const struct tend__deadline *d);

/* Unlock a lock word held by token and wake its sleepers.  This function
 * can't fail. */
TEND__HIDDEN void tend__unlock(_Atomic uint64_t *w);

/* True while the thread that a lock token names is alive.  Reads /proc. */
TEND__HIDDEN bool tend__owner_alive(uint64_t token);

/* Fault injection for tests: when set, called at the numbered points of the
 * queue's put and get (see queue.c); a test makes it raise SIGKILL. */
extern TEND__HIDDEN void (*tend__fault_hook)(int point);

static inline void tend__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
