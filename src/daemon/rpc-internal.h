/*
 * What the XML-RPC method files share: a call in progress (struct rq) is
 * answered exactly once, with rpc_ret() or rpc_fault(), now or later.
 * rpc.c has the machinery, the method table, names, and the process info
 * and daemon methods; rpc-procs.c start, stop and signals; rpc-config.c the
 * config methods; rpc-logs.c the log methods.
 */
#ifndef TEND_RPC_INTERNAL_H
#define TEND_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "daemon/cmd.h"
#include "daemon/inst.h"
#include "daemon/rpc.h"
#include "daemon/xmlrpc.h"

struct rq;
typedef void rpc_fn(struct rq *rq, const struct xv *p);

/* Answer the call with v (taken). */
void rpc_ret(struct rq *rq, struct xv *v);
/* Answer with fault code and supervisord's text "NAME: detail" (fmt NULL: "NAME"). */
void rpc_fault(struct rq *rq, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parameter i: a string (NULL if it is not one), an int clamped to +-2^60 (dflt if absent). */
const char *rpc_str_at(const struct xv *p, size_t i);
long long rpc_int_at(const struct xv *p, size_t i, long long dflt);

/*
 * A namespec: "group:name", "group:*" / "group:" (the group), or "name"
 * (= "name:name").  Returns 0 with *ret_in for a process, 1 with the group's
 * members in t for a group, -ENOENT when nothing has that name.
 */
int rpc_lookup(struct rq *rq, const char *spec, struct targets *t, struct inst **ret_in);
/* The process a namespec names, or NULL with fault BAD_NAME given. */
struct inst *rpc_process(struct rq *rq, const char *spec);
/* One entry of a per-process result array: {name, group, status, description}. */
struct xv *rpc_result(const struct inst *in, int code, const char *desc);
struct supervisor *rpc_supervisor(const struct rq *rq);
const struct config *rpc_running_config(struct rq *rq);

/* What reloadConfig staged, for addProcessGroup and getAllConfigInfo (kept by struct rpc). */
struct rpc_staged {
	struct config *cfg;      /* the config file as last reread (NULL: none) */
	unsigned loads;          /* the supervisor's file_loads when it was staged */
};
struct rpc_staged *rpc_staged_of(struct rq *rq);

/* A call waiting for its processes to settle (kept by struct rq). */
struct rpc_wait {
	struct cmd_op *op;
	bool single;             /* answer a boolean (startProcess), not a list of results */
	bool stopping;
};
struct rpc_wait *rpc_wait_of(struct rq *rq);

/* rpc-procs.c */
rpc_fn rpc_m_startProcess, rpc_m_startProcessGroup, rpc_m_startAllProcesses, rpc_m_stopProcess,
	rpc_m_stopProcessGroup, rpc_m_stopAllProcesses, rpc_m_signalProcess, rpc_m_signalProcessGroup,
	rpc_m_signalAllProcesses, rpc_m_sendProcessStdin, rpc_m_sendRemoteCommEvent;

/* rpc-config.c */
rpc_fn rpc_m_reloadConfig, rpc_m_addProcessGroup, rpc_m_removeProcessGroup, rpc_m_getAllConfigInfo;

/* rpc-logs.c */
rpc_fn rpc_m_readLog, rpc_m_clearLog, rpc_m_readProcessStdoutLog, rpc_m_readProcessStderrLog,
	rpc_m_tailProcessStdoutLog, rpc_m_tailProcessStderrLog, rpc_m_clearProcessLogs, rpc_m_clearAllProcessLogs;

#endif
