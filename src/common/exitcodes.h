/*
 * Exit codes of tend and tendd, a documented table (DESIGN §1, README
 * "Exit codes"): said once, here.
 */
#ifndef TEND_EXITCODES_H
#define TEND_EXITCODES_H

enum {
	EXIT_OK = 0,
	EXIT_NOT_WANTED = 1,  /* a program is not in the wanted state */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_REFUSED = 4,     /* permission */
	EXIT_CONFIG = 5,      /* config error: nothing was started */
};

#endif
