/*
 * The control API: a fixed table of routes over struct supervisor, JSON in
 * and out (jansson).  No reflective lookup: a path either matches a row of
 * the table or is 404.
 *
 *   GET  /v1/programs               every instance (?view=brief: what `tend status` shows)
 *   GET  /v1/programs/NAME          NAME as tend status takes it (name, group:*, all)
 *   POST /v1/programs/NAME/start    answers once started (or failed); ?wait=0 at once
 *   POST /v1/programs/NAME/stop     answers once stopped
 *   POST /v1/programs/NAME/restart
 *   POST /v1/programs/NAME/signal   ?signal=HUP or {"signal": "HUP"}
 *   POST /v1/programs/NAME/rotate   rotate its log files now
 *   GET  /v1/logs/NAME              ?stream=stdout|stderr&lines=N (10); &follow=1 streams
 *   POST /v1/reload                 re-read the config (?dry_run=1: the plan only); 422 + errors
 *   POST /v1/shutdown               ordered shutdown, answers at once
 *   GET  /v1/daemon                 pid, version, state, uptime
 *   GET  /v1/events                 a stream (NDJSON) of state changes
 *   GET  /metrics                   Prometheus text format (also over TCP)
 *   GET  /healthz                   200 while the loop answers (also over TCP)
 *   GET  /readyz                    200 when every autostart program is RUNNING, else 503
 *   GET  /v1/system                 process counts, zombies, orphans, top CPU and memory
 *   POST /RPC2                      supervisord's XML-RPC interface (rpc.c)
 *   GET  /logtail/NAME[/stdout|stderr]  supervisorctl tail -f: the last KiB, then live
 *   GET  /mainlogtail               supervisorctl maintail -f: tend's own log, live
 *   GET  /                          the dashboard (dashboard.html, embedded)
 *
 * Over TCP, requests need the [inet_http_server] credentials when they are
 * set (401 otherwise, except /healthz, /readyz, /metrics) and may only read
 * when none are set; a POST whose Origin or Sec-Fetch-Site names another
 * site is refused.
 */
#ifndef TEND_API_H
#define TEND_API_H

#include "daemon/control.h"
#include "daemon/program.h"

void api_handle(struct conn *c, const struct request *req);

#endif
