#include "daemon/scale.h"

#include <stdio.h>

int scale_decide(const struct scale_input *in, char *reason, size_t n)
{
	reason[0] = '\0';
	if (in->current < in->min) {
		snprintf(reason, n, "%d running, below numprocs_min %d", in->current, in->min);
		return in->min;
	}
	if (in->current > in->max) {
		snprintf(reason, n, "%d running, above numprocs_max %d", in->current, in->max);
		return in->max;
	}
	if (in->since_change_ns < in->cooldown_ns)
		return in->current;
	if (in->cpu_percent > in->target && in->current < in->max) {
		snprintf(reason, n, "cpu %.0f%% per instance > target %d%%", in->cpu_percent, in->target);
		return in->current + 1;
	}
	if (in->cpu_percent < in->target / 2.0 && in->current > in->min) {
		snprintf(reason, n, "cpu %.0f%% per instance < half the target %d%%", in->cpu_percent, in->target);
		return in->current - 1;
	}
	return in->current;
}
