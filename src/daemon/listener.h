/*
 * [eventlistener:x]: pools of event listeners speaking supervisord's
 * protocol (supervisor/dispatchers.py PEventListenerDispatcher, process.py
 * EventListenerPool), unchanged, so supervisor.childutils listeners and the
 * superlance plugins run as they do under supervisord:
 *
 *  - a listener writes "READY\n" on its stdout; tend sends one event on its
 *    stdin (event_envelope: a header line, then len characters of payload);
 *    the listener answers "RESULT <len>\n" and <len> bytes: "OK" (done) or
 *    anything else (the default result handler: the event is sent again);
 *    then READY again.  Anything else on its stdout puts it in the UNKNOWN
 *    state: it gets no more events until it restarts.
 *  - a pool (one per [eventlistener:x]) subscribes to the bus with its
 *    events= and keeps what it could not send yet in a buffer of
 *    buffer_size events, oldest first; a full buffer drops its oldest event
 *    (logged).  An event goes to the first listener of the pool that is
 *    RUNNING and ready; one that is rejected, or whose listener exits before
 *    answering, goes back to the front of the buffer, with its serials.
 *
 * The listener processes are ordinary instances (slot.c starts them with
 * the pipes from lproc_stdout_pipe and tap_stdin_pipe); the pools follow the
 * config (listeners_sync after a reload).
 */
#ifndef TEND_LISTENER_H
#define TEND_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

struct supervisor;
struct listeners;
struct event;

/* The pools of s's config, subscribed to s->bus (which must exist). */
struct listeners *listeners_new(struct supervisor *s);
/* Unsubscribe and free every pool and what it buffered; the listener instances must be gone.  Accepts NULL. */
void listeners_free(struct listeners *ls);
/* The config changed: a pool per listener program, with its new events= and buffer_size. */
void listeners_sync(struct listeners *ls);

/* ---- the pieces, pure, for the unit tests ---------------------------------------------- */

/* A pool's buffer: events and their pool serials, oldest first, at most size. */
struct lbuf_item {
	struct event *e;
	uint64_t poolserial;
};

struct lbuf {
	struct lbuf_item *v;
	size_t n, cap;
};

/*
 * Add an event (a reference is taken) at the back, or at the front (an event
 * sent again); a buffer holding size events first drops its oldest (front)
 * one, whose serial goes to *ret_dropped (true returned).  supervisord's
 * _acceptEvent.
 */
bool lbuf_add(struct lbuf *b, size_t size, struct event *e, uint64_t poolserial, bool front,
	      uint64_t *ret_dropped);
/* Take the oldest event (the reference is the caller's); false when empty. */
bool lbuf_take(struct lbuf *b, struct lbuf_item *ret);
void lbuf_done(struct lbuf *b);

/* A listener's protocol state, as supervisord names them. */
enum lstate { LS_ACKNOWLEDGED, LS_READY, LS_BUSY, LS_UNKNOWN };

/* What a listener's stdout said, fed in pieces. */
struct lproto {
	enum lstate state;
	struct sbuf buf;   /* unparsed output */
	long resultlen;    /* -1: the RESULT line is not read yet */
	struct sbuf result; /* LP_RESULT: the result's bytes (until the next step) */
	char bad[128];     /* LP_BAD: what was wrong, for the log */
};

enum lproto_out {
	LP_NONE,     /* nothing decided yet */
	LP_READY,    /* ACKNOWLEDGED -> READY */
	LP_RESULT,   /* a whole result (in result): BUSY -> ACKNOWLEDGED; the result handler decides */
	LP_BAD,      /* not the protocol: -> UNKNOWN (when BUSY, the event goes back) */
};

void lproto_init(struct lproto *p);
void lproto_done(struct lproto *p);
/*
 * Append output; then decide the next step: call lproto_step until it
 * returns LP_NONE (each call acts on what is buffered: one READY, one
 * result, one violation).  The caller moves to BUSY itself when it sends an
 * event (p->state = LS_BUSY).
 */
void lproto_feed(struct lproto *p, const char *data, size_t len);
enum lproto_out lproto_step(struct lproto *p);

/*
 * The result handlers a listener's result_handler may name (supervisord
 * runs Python code there; tend knows these two):
 *   supervisor.dispatchers:default_handler  "OK" is done, anything else is
 *                                           rejected (the event is sent again)
 *   supervisor_stdout:event_handler         the result is the event echoed
 *                                           back; each line of its data goes
 *                                           to tend's stdout as "process
 *                                           channel | line" (docker images)
 * Returns true when the event is done, false when it is rejected; out gets
 * what goes to tend's stdout (may stay empty).
 */
bool lresult_handle(int handler, const char *result, size_t len, struct sbuf *out);

#endif
