/*
 * A little history per instance, for the dashboard's sparklines and exit
 * timeline: a fixed ring of CPU and memory samples and one of its last exits.
 * It costs nothing until somebody looks: samples are taken when the full
 * program list is asked for (GET /v1/programs), at most one per
 * HIST_INTERVAL_NS, never by a timer (an idle tend stays idle); the rings
 * are allocated on first use (an exit, or a sample).
 */
#ifndef TEND_HISTORY_H
#define TEND_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#define HIST_SAMPLES 36                 /* 3 minutes at one sample per 5 s */
#define HIST_INTERVAL_NS (5 * 1000000000LL)
#define HIST_EXITS 8

struct hist_exit {
	int64_t wall_ms;  /* when */
	uint8_t kind;     /* enum exit_kind */
	int16_t code;     /* exit status, or -signal */
};

struct history {
	int64_t last_ns;          /* monotonic time of the last sample (0: none) */
	uint64_t last_cpu_usec;   /* CPU time at the last sample */
	uint32_t nsamples;        /* samples held (at most HIST_SAMPLES) */
	uint32_t pos;             /* where the next one goes */
	uint16_t cpu[HIST_SAMPLES]; /* per-mille of one CPU over the interval before */
	uint32_t mem[HIST_SAMPLES]; /* KiB */
	uint32_t nexits, epos;
	struct hist_exit exits[HIST_EXITS];
};

/*
 * Record a sample at monotonic time now of an instance using cpu_usec of
 * CPU time so far and mem bytes, unless the last one is more recent than
 * HIST_INTERVAL_NS.  The first sample of a process (alive, its CPU time
 * smaller than the last) only sets the reference.  *h is allocated on
 * first use.  This function can't fail.
 */
void history_sample(struct history **h, int64_t now, uint64_t cpu_usec, uint64_t mem, bool alive);

/* Record an exit (kind: enum exit_kind; code: its status, or -signal).  This function can't fail. */
void history_exit(struct history **h, int64_t wall_ns, int kind, int code);

/* The i-th oldest sample (i < nsamples) / exit (i < nexits). */
void history_sample_at(const struct history *h, uint32_t i, unsigned *ret_cpu_permille, uint64_t *ret_mem);
const struct hist_exit *history_exit_at(const struct history *h, uint32_t i);

#endif
