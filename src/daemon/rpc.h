/*
 * supervisord's XML-RPC interface (API version 3.0) on POST /RPC2, so the
 * real supervisorctl, and the scripts and Ansible modules built on it, drive
 * tend unchanged.
 *
 * Methods come from a fixed table (namespace "supervisor." and "system."):
 * a name either matches a row or is fault UNKNOWN_METHOD; nothing is looked
 * up by reflection, so "supervisor.__init__" or a dotted path is just an
 * unknown name.  Faults and state codes are supervisord's.  Methods that
 * change something need write rights (the socket's owner or root; over TCP,
 * the [inet_http_server] credentials), else fault FAILED "not allowed".
 *
 * Where tend differs (documented in docs/decisions.md): system.multicall
 * wraps each result in a one-element array, as its own docstring and the
 * XML-RPC multicall convention say (supervisord 4.2 does not); descriptions
 * are tend's ("exited with status 1; restart 2 in 4.0s"); programs have no
 * stdin pipe, so sendProcessStdin is fault NO_FILE.
 */
#ifndef TEND_RPC_H
#define TEND_RPC_H

#include "daemon/control.h"

enum rpc_fault {
	RPC_UNKNOWN_METHOD = 1,
	RPC_INCORRECT_PARAMETERS = 2,
	RPC_BAD_ARGUMENTS = 3,
	RPC_SIGNATURE_UNSUPPORTED = 4,
	RPC_SHUTDOWN_STATE = 6,
	RPC_BAD_NAME = 10,
	RPC_BAD_SIGNAL = 11,
	RPC_NO_FILE = 20,
	RPC_NOT_EXECUTABLE = 21,
	RPC_FAILED = 30,
	RPC_ABNORMAL_TERMINATION = 40,
	RPC_SPAWN_ERROR = 50,
	RPC_ALREADY_STARTED = 60,
	RPC_NOT_RUNNING = 70,
	RPC_SUCCESS = 80,
	RPC_ALREADY_ADDED = 90,
	RPC_STILL_RUNNING = 91,
	RPC_CANT_REREAD = 92,
};

struct rpc;
struct supervisor;

/*
 * The XML-RPC interface over supervisor s.  It keeps what supervisord's
 * reloadConfig stages for addProcessGroup and getAllConfigInfo: the config
 * file as last reread, until the whole file is put in force again.
 */
struct rpc *rpc_new(struct supervisor *s);
void rpc_free(struct rpc *r);

/* POST /RPC2: answer one <methodCall> (now, or once its processes settle). */
void rpc_handle(struct rpc *r, struct conn *c, const struct request *req);

#endif
