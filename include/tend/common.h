/*
 * Definitions shared by the libtend headers (queue.h, shm.h, counter.h).
 *
 * Every libtend call returns an int: >= 0 on success, a negative errno value
 * on failure.  Timeouts are nanoseconds on CLOCK_MONOTONIC, relative to the
 * call: TEND_FOREVER blocks until the operation can complete, TEND_NOWAIT
 * never blocks (the call returns -EAGAIN where it would have to wait).
 */
#ifndef TEND_COMMON_H
#define TEND_COMMON_H

/* every call returns a negative errno on failure (-EAGAIN, -ETIMEDOUT...): their names */
#include <errno.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TEND_API __attribute__((visibility("default")))
#else
#define TEND_API
#endif

#define TEND_FOREVER ((int64_t)-1)
#define TEND_NOWAIT ((int64_t)0)

#endif
