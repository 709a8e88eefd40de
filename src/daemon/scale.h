/*
 * The autoscaler's decision, kept pure so it can be tested with made-up CPU
 * figures (tests/unit/test_scale.c); the supervisor measures and applies it.
 *
 * A pool runs between numprocs_min and numprocs_max instances.  Every
 * scale_interval the pool's CPU time is measured (its instances' cgroups, or
 * their processes) and divided by the running instances: above
 * scale_cpu_target percent of one CPU per instance one is added, below half
 * of it one is removed, never outside the bounds and never sooner than
 * scale_cooldown after the last change.
 */
#ifndef TEND_SCALE_H
#define TEND_SCALE_H

#include <stddef.h>
#include <stdint.h>

struct scale_input {
	int min, max;          /* the pool's bounds */
	int current;           /* instances running or starting */
	double cpu_percent;    /* per running instance, over the last interval (100 = one CPU) */
	int target;            /* scale_cpu_target */
	int64_t since_change_ns; /* time since the last change */
	int64_t cooldown_ns;
};

/* The count to run now, and why in reason ("" when it stays). */
int scale_decide(const struct scale_input *in, char *reason, size_t n);

#endif
