/*
 * The event bus: what happens in the supervisor, as supervisord's events.
 *
 * One observer of the supervisor (struct sv_observer) turns each thing that
 * happens (a state change, a chunk of a program's output, a group added or
 * removed, the daemon running or stopping, a client's remote communication,
 * a pool resized) into one struct event with a tend-wide serial, and hands
 * it to every subscriber whose mask has its type.  The timer of the TICK_*
 * events runs only while somebody subscribes to one (an idle tend wakes up
 * for nothing else).  Subscribers are the listener pools (listener.c, which
 * write supervisord's envelope) and the /v1/events streams (api.c, which
 * write JSON): one stream, two encodings.
 *
 * Also here, pure and unit-tested: supervisord's payload of each event
 * (event_payload), its envelope (event_envelope), and the capture mode
 * parser behind PROCESS_COMMUNICATION (struct capture).
 */
#ifndef TEND_EVENTS_H
#define TEND_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/evtypes.h"
#include "common/util.h"
#include "daemon/loop.h"

struct supervisor;
struct inst;

/* One event.  Reference counted: a pool keeps it in its buffer until a listener said OK. */
struct event {
	unsigned refs;
	enum evtype type;
	uint64_t serial;       /* tend-wide, in publication order, from 0 */
	int64_t wall_ns;       /* when it happened */
	/* PROCESS_STATE_*, PROCESS_LOG_*, PROCESS_COMMUNICATION_*: the instance */
	char *process;         /* its process name (supervisord's processname) */
	char *group;           /* its group; PROCESS_GROUP_*: the group */
	char *fullname;        /* tend's name, "group:process" */
	int from_state;        /* PROCESS_STATE_*: enum pstate codes */
	int to_state;
	pid_t pid;
	int expected;          /* PROCESS_STATE_EXITED: 1 when the exit code was expected */
	unsigned tries;        /* PROCESS_STATE_STARTING, _BACKOFF */
	bool draining;
	char *reason;          /* the last exit's reason, for a stopped or failing state; else NULL */
	/* PROCESS_LOG_*, PROCESS_COMMUNICATION_*, REMOTE_COMMUNICATION: the bytes */
	char *data;
	size_t len;
	char *comm_type;       /* REMOTE_COMMUNICATION's type */
	int64_t when;          /* TICK_*: the start of the time slice, seconds since the epoch */
	int scale_from, scale_to; /* POOL_SCALED (fullname: the program; reason: why) */
};

/* A new event of type t (one reference, serial 0, the time now); its fields are the caller's to fill. */
struct event *event_new(enum evtype t);
struct event *event_ref(struct event *e);
/* Drop a reference; accepts NULL. */
void event_unref(struct event *e);

/*
 * supervisord's payload of e, appended to out: e.g. "processname:web
 * groupname:web from_state:STARTING pid:12" or "processname:web
 * groupname:web pid:12 channel:stdout\n<data>".  Data that is not UTF-8 is
 * written as supervisord does ("Undecodable: b'...'").  This function
 * can't fail.
 */
void event_payload(const struct event *e, struct sbuf *out);

/*
 * The envelope a listener reads: the header line "ver:3.0 server:SERVER
 * serial:N pool:POOL poolserial:N eventname:TYPE len:N" and the payload.
 * len counts the payload's characters, as supervisord's Python does (what
 * supervisor.childutils reads from its text-mode stdin).
 */
void event_envelope(const struct event *e, const char *server, const char *pool, uint64_t poolserial,
		    struct sbuf *out);

/* Characters of a UTF-8 string (a byte that starts no valid sequence counts as one). */
size_t utf8_chars(const char *s, size_t len);

/* ---- the bus ------------------------------------------------------------------- */

struct event_sub;
typedef void event_deliver_cb(struct event_sub *sub, struct event *e);

/* A subscriber: deliver runs for every event whose type is in mask (it takes a reference to keep it). */
struct event_sub {
	struct event_sub *next;
	uint32_t mask;          /* EVT_BIT()s; change it, then call event_resubscribe() */
	event_deliver_cb *deliver;
};

struct event_bus;

/* The bus of supervisor s, observing it from now on.  NULL never (aborts on OOM). */
struct event_bus *event_bus_new(struct supervisor *s);
/* The loop is initialised: the TICK_* timer may run from now on. */
void event_bus_start(struct event_bus *b);
/* Stop observing and free; the subscribers must be gone.  Accepts NULL. */
void event_bus_free(struct event_bus *b);

void event_subscribe(struct event_bus *b, struct event_sub *sub);
void event_unsubscribe(struct event_bus *b, struct event_sub *sub);
/* A subscriber's mask changed (the tick timer follows what is wanted). */
void event_resubscribe(struct event_bus *b);

/* Give e (taken) a serial and deliver it; nobody wanting it frees it.  For the bus's own sources and tests. */
void event_publish(struct event_bus *b, struct event *e);

/* True when some subscriber wants events of type t (sources skip building the others). */
bool event_wanted(const struct event_bus *b, enum evtype t);

/* ---- capture mode: <!--XSUPERVISOR:BEGIN-->...<!--XSUPERVISOR:END--> ------------- */

#define CAPTURE_BEGIN "<!--XSUPERVISOR:BEGIN-->"
#define CAPTURE_END "<!--XSUPERVISOR:END-->"

/* The state of one output stream in capture mode (supervisord's POutputDispatcher). */
struct capture {
	uint64_t maxbytes;   /* the captured text keeps its last maxbytes bytes */
	bool capturing;      /* between the tokens */
	struct sbuf pending; /* the end of the output that may be the start of a token */
	struct sbuf text;    /* captured so far */
};

typedef void capture_cb(void *ctx, const char *data, size_t len);

/*
 * Feed output to c; cb(ctx, text, len) runs once per END token with what
 * was captured since the BEGIN before it.  This function can't fail.
 */
void capture_feed(struct capture *c, const char *data, size_t len, capture_cb *cb, void *ctx);
void capture_done(struct capture *c);

#endif
