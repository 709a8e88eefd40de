/*
 * What tend started, recorded on disk when there are no cgroups to find it
 * by (cgroups = off, or none to be had): a tend killed with SIGKILL leaves
 * its programs running, re-parented to PID 1, and the next tend on the same
 * socket must find and stop them before it starts its own copies, as it
 * does from its cgroup tree otherwise.
 *
 * The record is a file next to the socket ("SOCKET.pids"), appended one
 * line per event: "+ PID START" when a program's process started (START:
 * its start time in clock ticks since boot, /proc/PID/stat field 22), "- PID"
 * when it was reaped; rewritten whole when it grows to twice what is live.
 * It is used only if it is tend's user's own file (open_owned): a record
 * another user could write would let them name processes for tend to kill.
 * A recorded process is stopped only if a pidfd of it shows the same start
 * time (so a reused pid is never touched); its process group goes with it.
 */
#ifndef TEND_PIDREC_H
#define TEND_PIDREC_H

#include <stdbool.h>
#include <sys/types.h>

struct pidrec;

/*
 * Read the record at path, SIGKILL the processes (and their process
 * groups) a previous tend left that are still the same processes, wait up
 * to a second for them, and start a new record.  *ret_killed: how many
 * were killed.  Returns 0 with *ret, or -errno (the record could not be
 * made: tend goes on without one).
 */
int pidrec_open(struct pidrec **ret, const char *path, unsigned *ret_killed);

/* A program's process started / was reaped.  Accepts a NULL record. */
void pidrec_started(struct pidrec *r, pid_t pid);
void pidrec_reaped(struct pidrec *r, pid_t pid);

/* Close the record; remove = true when tend exits cleanly (nothing is left).  Accepts NULL. */
void pidrec_close(struct pidrec *r, bool remove);

#endif
