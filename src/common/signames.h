/* Signal names <-> numbers, as supervisord accepts them (with or without SIG). */
#ifndef TEND_SIGNAMES_H
#define TEND_SIGNAMES_H

/*
 * Parse "TERM", "SIGTERM", "term", "sigterm" or a number ("15") into a signal
 * number.  Returns the signal (1..64) or -EINVAL.
 */
int sig_from_name(const char *s);

/* Name without the SIG prefix ("TERM"), or NULL for an unknown number. */
const char *sig_name(int sig);

#endif
