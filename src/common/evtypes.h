/*
 * supervisord's event types and their hierarchy (supervisor/events.py):
 * the concrete types tend raises, the abstract names a listener's events=
 * may also name (PROCESS_STATE is every PROCESS_STATE_*, EVENT is all of
 * them), as bit masks.  Pure data, shared by the config (events=) and the
 * daemon (the bus, the listeners, /v1/events).
 */
#ifndef TEND_EVTYPES_H
#define TEND_EVTYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum evtype {
	EVT_PROCESS_STATE_STOPPED,
	EVT_PROCESS_STATE_EXITED,
	EVT_PROCESS_STATE_STARTING,
	EVT_PROCESS_STATE_STOPPING,
	EVT_PROCESS_STATE_BACKOFF,
	EVT_PROCESS_STATE_FATAL,
	EVT_PROCESS_STATE_RUNNING,
	EVT_PROCESS_STATE_UNKNOWN,
	EVT_PROCESS_COMMUNICATION_STDOUT,
	EVT_PROCESS_COMMUNICATION_STDERR,
	EVT_PROCESS_LOG_STDOUT,
	EVT_PROCESS_LOG_STDERR,
	EVT_REMOTE_COMMUNICATION,
	EVT_SUPERVISOR_STATE_CHANGE_RUNNING,
	EVT_SUPERVISOR_STATE_CHANGE_STOPPING,
	EVT_TICK_5,
	EVT_TICK_60,
	EVT_TICK_3600,
	EVT_PROCESS_GROUP_ADDED,
	EVT_PROCESS_GROUP_REMOVED,
	EVT_SUPERVISORD_COUNT, /* the types above are supervisord's; below, tend's own */
	EVT_POOL_SCALED = EVT_SUPERVISORD_COUNT, /* an autoscaled pool resized (/v1/events only) */
	EVT_COUNT,
};

#define EVT_BIT(t) (UINT32_C(1) << (t))
/* Every supervisord type: what events=EVENT subscribes to. */
#define EVT_MASK_EVENT (EVT_BIT(EVT_SUPERVISORD_COUNT) - 1)
#define EVT_MASK_PROCESS_STATE (EVT_BIT(EVT_PROCESS_STATE_UNKNOWN + 1) - 1)
#define EVT_MASK_TICK (EVT_BIT(EVT_TICK_5) | EVT_BIT(EVT_TICK_60) | EVT_BIT(EVT_TICK_3600))

/* The type's name as supervisord writes it in eventname: ("PROCESS_STATE_RUNNING"). */
const char *evtype_name(enum evtype t);

/*
 * The mask of one name, concrete or abstract (EVENT, PROCESS_STATE,
 * PROCESS_COMMUNICATION, PROCESS_LOG, SUPERVISOR_STATE_CHANGE, TICK,
 * PROCESS_GROUP), in any case.  tend's own types are named too
 * (POOL_SCALED).  0 when the name is unknown.  This function can't fail.
 */
uint32_t evtype_mask(const char *name, size_t len);

/*
 * Parse a list of names separated by commas and/or white space into their
 * union.  Returns 0, or -EINVAL with the first unknown name copied to bad
 * (cut at badlen) or -ENODATA when the list names nothing.
 */
int evtype_mask_parse(const char *list, uint32_t *ret_mask, char *bad, size_t badlen);

/* The PROCESS_STATE_* type of a supervisord state code (0 STOPPED ... 1000 UNKNOWN). */
enum evtype evtype_of_state(int state);

#endif
