/*
 * Readiness and shared sockets for pools of workers.
 *
 * A listener is a socket tend binds once per program (listen = tcp://HOST:PORT
 * or unix:PATH) and hands to every instance as fd 3, with LISTEN_FDS=1,
 * LISTEN_PID and LISTEN_FDNAMES: systemd's socket-activation convention, so
 * prefork servers of any language accept on the same socket and a restarted
 * worker never finds the port taken.
 *
 * A probe decides when a STARTING instance is ready (ready = ...):
 *   tcp:[HOST:]PORT          a connect() succeeds
 *   http://HOST:PORT/path    a GET answers 2xx
 *   exec:COMMAND             the command exits 0 (run as the instance's own processes
 *                            run: its user, groups, environment, directory, limits,
 *                            cgroup, no_new_privs; stdio /dev/null; its own process group)
 *   notify                   the program sends READY=1 to $NOTIFY_SOCKET (sd_notify)
 * Probes run every READY_PROBE_NS from the daemon's loop without blocking it;
 * the instance's state machine gets EV_READY on the first success.
 */
#ifndef TEND_READY_H
#define TEND_READY_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"
#include "daemon/loop.h"

#define READY_PROBE_NS (100 * NSEC_PER_MSEC)
#define READY_HTTP_TIMEOUT_NS (2 * NSEC_PER_SEC)

struct inst;
struct probe;

/*
 * The listening socket for pc (bound at the first call, shared by every
 * instance of its program while the address stays the same).  Returns the
 * fd, or -errno (the address is taken, the path is not writable...).
 */
int listener_get(const struct prog_config *pc);
/* Close listeners no instance of cfg uses any more (after a reload), or all (cfg NULL). */
void listener_sweep(const struct config *cfg);

/*
 * How an exec probe is started: argv run as in's own processes run (its
 * user, groups, environment, directory...; the supervisor's slot.c builds
 * the same spawn request it builds for the program).  0 with the child's pid
 * in *ret_pid and, in *ret_exec_err, 0 or the errno of a failed exec (the
 * child then exits 127); -errno when no child was made.
 */
typedef int probe_spawn_fn(struct inst *in, char *const *argv, pid_t *ret_pid, int *ret_exec_err);

/*
 * Make a probe for in (in->cfg->ready_kind != READY_NONE); exec probes are
 * started with spawn.  For notify it binds the socket now, so its path can go
 * in the child's environment (probe_notify_path).  Nothing runs until
 * probe_arm().
 */
struct probe *probe_new(struct loop *l, struct inst *in, probe_spawn_fn *spawn);
const char *probe_notify_path(const struct probe *p);
/* The child is running as pid: begin probing. */
void probe_arm(struct probe *p, pid_t pid);
/* Stop and free; accepts NULL. */
void probe_free(struct probe *p);
/* A child that is not an instance exited: true when it was an exec probe's (now handled). */
bool probe_reaped(pid_t pid, const siginfo_t *si);

#endif
