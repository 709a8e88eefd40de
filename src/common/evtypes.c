#include "common/evtypes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

static const char *const names[EVT_COUNT] = {
	[EVT_PROCESS_STATE_STOPPED] = "PROCESS_STATE_STOPPED",
	[EVT_PROCESS_STATE_EXITED] = "PROCESS_STATE_EXITED",
	[EVT_PROCESS_STATE_STARTING] = "PROCESS_STATE_STARTING",
	[EVT_PROCESS_STATE_STOPPING] = "PROCESS_STATE_STOPPING",
	[EVT_PROCESS_STATE_BACKOFF] = "PROCESS_STATE_BACKOFF",
	[EVT_PROCESS_STATE_FATAL] = "PROCESS_STATE_FATAL",
	[EVT_PROCESS_STATE_RUNNING] = "PROCESS_STATE_RUNNING",
	[EVT_PROCESS_STATE_UNKNOWN] = "PROCESS_STATE_UNKNOWN",
	[EVT_PROCESS_COMMUNICATION_STDOUT] = "PROCESS_COMMUNICATION_STDOUT",
	[EVT_PROCESS_COMMUNICATION_STDERR] = "PROCESS_COMMUNICATION_STDERR",
	[EVT_PROCESS_LOG_STDOUT] = "PROCESS_LOG_STDOUT",
	[EVT_PROCESS_LOG_STDERR] = "PROCESS_LOG_STDERR",
	[EVT_REMOTE_COMMUNICATION] = "REMOTE_COMMUNICATION",
	[EVT_SUPERVISOR_STATE_CHANGE_RUNNING] = "SUPERVISOR_STATE_CHANGE_RUNNING",
	[EVT_SUPERVISOR_STATE_CHANGE_STOPPING] = "SUPERVISOR_STATE_CHANGE_STOPPING",
	[EVT_TICK_5] = "TICK_5",
	[EVT_TICK_60] = "TICK_60",
	[EVT_TICK_3600] = "TICK_3600",
	[EVT_PROCESS_GROUP_ADDED] = "PROCESS_GROUP_ADDED",
	[EVT_PROCESS_GROUP_REMOVED] = "PROCESS_GROUP_REMOVED",
	[EVT_POOL_SCALED] = "POOL_SCALED",
};

/* The abstract types: supervisord's classes that are never raised themselves. */
static const struct {
	const char *name;
	uint32_t mask;
} abstract[] = {
	{ "EVENT", EVT_MASK_EVENT },
	{ "PROCESS_STATE", EVT_MASK_PROCESS_STATE },
	{ "PROCESS_COMMUNICATION",
	  EVT_BIT(EVT_PROCESS_COMMUNICATION_STDOUT) | EVT_BIT(EVT_PROCESS_COMMUNICATION_STDERR) },
	{ "PROCESS_LOG", EVT_BIT(EVT_PROCESS_LOG_STDOUT) | EVT_BIT(EVT_PROCESS_LOG_STDERR) },
	{ "SUPERVISOR_STATE_CHANGE",
	  EVT_BIT(EVT_SUPERVISOR_STATE_CHANGE_RUNNING) | EVT_BIT(EVT_SUPERVISOR_STATE_CHANGE_STOPPING) },
	{ "TICK", EVT_MASK_TICK },
	{ "PROCESS_GROUP", EVT_BIT(EVT_PROCESS_GROUP_ADDED) | EVT_BIT(EVT_PROCESS_GROUP_REMOVED) },
};

const char *evtype_name(enum evtype t)
{
	return (unsigned)t < EVT_COUNT ? names[t] : "UNKNOWN";
}

static bool name_is(const char *want, const char *name, size_t len)
{
	return strlen(want) == len && strncasecmp(want, name, len) == 0;
}

uint32_t evtype_mask(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(abstract); i++)
		if (name_is(abstract[i].name, name, len))
			return abstract[i].mask;
	for (int t = 0; t < EVT_COUNT; t++)
		if (name_is(names[t], name, len))
			return EVT_BIT(t);
	return 0;
}

int evtype_mask_parse(const char *list, uint32_t *ret_mask, char *bad, size_t badlen)
{
	static const char sep[] = ", \t\r\n";
	uint32_t mask = 0;
	const char *p = list;

	for (;;) {
		size_t len;
		uint32_t m;

		p += strspn(p, sep);
		if (!*p)
			break;
		len = strcspn(p, sep);
		m = evtype_mask(p, len);
		if (!m) {
			if (bad && badlen)
				snprintf(bad, badlen, "%.*s", (int)MIN(len, (size_t)200), p);
			return -EINVAL;
		}
		mask |= m;
		p += len;
	}
	if (!mask)
		return -ENODATA;
	*ret_mask = mask;
	return 0;
}

enum evtype evtype_of_state(int state)
{
	switch (state) {
	case 0:
		return EVT_PROCESS_STATE_STOPPED;
	case 10:
		return EVT_PROCESS_STATE_STARTING;
	case 20:
		return EVT_PROCESS_STATE_RUNNING;
	case 30:
		return EVT_PROCESS_STATE_BACKOFF;
	case 40:
		return EVT_PROCESS_STATE_STOPPING;
	case 100:
		return EVT_PROCESS_STATE_EXITED;
	case 200:
		return EVT_PROCESS_STATE_FATAL;
	default:
		return EVT_PROCESS_STATE_UNKNOWN;
	}
}
