/*
 * tend top: a live terminal view of the daemon's programs (ncurses).
 *
 *   header   load, processes, zombies and orphans of the system, states
 *   table    name, state, pid, CPU%, memory, restarts, uptime
 *   keys     up/down or j/k select, s start, x stop, r restart,
 *            o change the sort (name, cpu, memory, restarts, state), q quit
 *
 * Refreshes every second; CPU% is computed here from two readings of each
 * instance's cpu_seconds.  The terminal is restored on quit, on Ctrl-C and
 * when the daemon goes away.
 */
#include <curses.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"
#include "sys/procscan.h"

struct row {
	char name[128];
	char state[16];
	int pid;
	double cpu_s;     /* cpu_seconds */
	double cpu_pct;   /* since the previous refresh */
	double mem_mb;
	int restarts;
	double uptime;
};

enum sort_key { SORT_NAME, SORT_CPU, SORT_MEM, SORT_RESTARTS, SORT_STATE, SORT_COUNT };
static const char *const sort_names[] = { "name", "cpu", "memory", "restarts", "state" };

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static enum sort_key sort_by;

static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	switch (sort_by) {
	case SORT_CPU:
		return (y->cpu_pct > x->cpu_pct) - (y->cpu_pct < x->cpu_pct);
	case SORT_MEM:
		return (y->mem_mb > x->mem_mb) - (y->mem_mb < x->mem_mb);
	case SORT_RESTARTS:
		return y->restarts - x->restarts;
	case SORT_STATE:
		return strcmp(x->state, y->state);
	default:
		return strcmp(x->name, y->name);
	}
}

/* Fetch the programs; fill rows (keeping CPU% from the previous reading). */
static int fetch(struct client *c, struct row **rows, size_t *n, double dt)
{
	json_t *j = NULL, *p, *progs;
	struct row *old = *rows, *nw;
	size_t nold = *n, i;
	long status = 0;
	int r = client_call(c, "GET", "/v1/programs", NULL, &status, &j);

	if (r < 0 || status != 200) {
		json_decref(j);
		return r < 0 ? r : -EIO;
	}
	progs = json_object_get(j, "programs");
	nw = xcalloc(json_array_size(progs) + 1, sizeof(*nw));
	json_array_foreach(progs, i, p) {
		struct row *w = &nw[i];

		snprintf(w->name, sizeof(w->name), "%s", json_string_value(json_object_get(p, "name")) ?: "?");
		snprintf(w->state, sizeof(w->state), "%s", json_string_value(json_object_get(p, "state")) ?: "?");
		w->pid = (int)json_integer_value(json_object_get(p, "pid"));
		w->cpu_s = json_number_value(json_object_get(p, "cpu_seconds"));
		w->mem_mb = json_number_value(json_object_get(json_object_get(p, "memory"), "current")) / 1e6;
		w->restarts = (int)json_integer_value(json_object_get(p, "restarts"));
		w->uptime = json_number_value(json_object_get(p, "uptime"));
		for (size_t k = 0; k < nold && dt > 0; k++)
			if (strcmp(old[k].name, w->name) == 0 && old[k].pid == w->pid && w->cpu_s >= old[k].cpu_s)
				w->cpu_pct = (w->cpu_s - old[k].cpu_s) / dt * 100;
	}
	*n = json_array_size(progs);
	free(old);
	*rows = nw;
	json_decref(j);
	qsort(*rows, *n, sizeof(**rows), cmp_rows);
	return 0;
}

static void draw(struct row *rows, size_t n, size_t sel, const char *msg)
{
	struct proc_table t;
	size_t zombies = 0, orphans = 0, counts[4] = { 0 };
	double load[3] = { 0 };
	char up[32];
	FILE *f;

	erase();
	if ((f = fopen("/proc/loadavg", "r"))) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = load[1] = load[2] = 0;
		fclose(f);
	}
	if (proc_scan(&t) == 0) {
		for (size_t i = 0; i < t.n; i++) {
			zombies += t.v[i].state == 'Z';
			orphans += proc_is_orphan(&t, &t.v[i]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].state, "RUNNING") == 0)
			counts[0]++;
		else if (strcmp(rows[i].state, "FATAL") == 0 || strcmp(rows[i].state, "BACKOFF") == 0)
			counts[1]++;
		else if (strcmp(rows[i].state, "STARTING") == 0 || strcmp(rows[i].state, "STOPPING") == 0)
			counts[2]++;
		else
			counts[3]++;
	}
	mvprintw(0, 0, "tend top  load %.2f %.2f %.2f  processes %zu  zombies %zu  orphans %zu", load[0],
		 load[1], load[2], t.n, zombies, orphans);
	proc_table_done(&t);
	mvprintw(1, 0, "programs %zu: %zu running, %zu failing, %zu changing, %zu stopped   sort: %s", n,
		 counts[0], counts[1], counts[2], counts[3], sort_names[sort_by]);
	attron(A_REVERSE);
	mvprintw(3, 0, "%-32s %-9s %8s %6s %9s %8s %12s", "NAME", "STATE", "PID", "CPU%", "MEM MB",
		 "RESTARTS", "UPTIME");
	attroff(A_REVERSE);
	for (size_t i = 0; i < n && (int)i + 4 < LINES - 1; i++) {
		struct row *w = &rows[i];

		format_uptime(up, sizeof(up), (int64_t)w->uptime);
		if (i == sel)
			attron(A_BOLD | A_UNDERLINE);
		if (w->pid) {
			mvprintw((int)i + 4, 0, "%-32.32s %-9s %8d %6.1f %9.1f %8d %12s", w->name, w->state, w->pid,
				 w->cpu_pct, w->mem_mb, w->restarts, up);
		} else {
			/* no process (BACKOFF, STOPPED...): no pid, CPU or memory to show */
			mvprintw((int)i + 4, 0, "%-32.32s %-9s %8s %6s %9s %8d %12s", w->name, w->state, "-", "-", "-",
				 w->restarts, "-");
		}
		if (i == sel)
			attroff(A_BOLD | A_UNDERLINE);
	}
	mvprintw(LINES - 1, 0, "%s",
		 msg && *msg ? msg : "s start  x stop  r restart  o sort  j/k select  q quit");
	refresh();
}

static void act(struct client *c, const char *name, const char *action, char *msg, size_t n)
{
	char *esc = client_escape(name), *path = xasprintf("/v1/programs/%s/%s?wait=0", esc, action);
	json_t *j = NULL;
	long status = 0;
	int r = client_call(c, "POST", path, NULL, &status, &j);

	snprintf(msg, n, "%s %s: %s", action, name, r < 0 ? strerror(-r) : status < 300 ? "sent" : "refused");
	json_decref(j);
	free(path);
	free(esc);
}

int cli_top(const struct cli_opts *o, int argc, char **argv)
{
	struct client *c = NULL;
	struct row *rows = NULL;
	size_t n = 0, sel = 0;
	char msg[160] = "";
	int64_t last = 0;
	int r = EXIT_OK;
	json_t *probe = NULL;
	long status = 0;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tend top\n");
		return EXIT_USAGE;
	}
	c = cli_connect(o);
	if (!c)
		return 1;
	/* reach the daemon before taking over the terminal */
	r = client_call(c, "GET", "/v1/daemon", NULL, &status, &probe);
	json_decref(probe);
	if (r < 0) {
		r = client_report_unreachable(c, r);
		client_free(c);
		return r;
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	timeout(200);
	for (;;) {
		int64_t now = mono_ns();
		int ch;

		if (interrupted)
			break;
		if (now - last >= NSEC_PER_SEC) {
			if (fetch(c, &rows, &n, last ? (double)(now - last) / 1e9 : 0) < 0) {
				r = EXIT_UNREACHABLE;
				break;
			}
			last = now;
			if (n && sel >= n)
				sel = n - 1;
			draw(rows, n, sel, msg);
		}
		ch = getch();
		if (ch == ERR)
			continue;
		if (ch == 'q' || ch == 'Q')
			break;
		if ((ch == KEY_DOWN || ch == 'j') && sel + 1 < n)
			sel++;
		else if ((ch == KEY_UP || ch == 'k') && sel > 0)
			sel--;
		else if (ch == 'o') {
			sort_by = (sort_by + 1) % SORT_COUNT;
			qsort(rows, n, sizeof(*rows), cmp_rows);
		} else if (n && (ch == 's' || ch == 'x' || ch == 'r')) {
			act(c, rows[sel].name, ch == 's' ? "start" : ch == 'x' ? "stop" : "restart", msg,
			    sizeof(msg));
			last = 0; /* show the effect at once */
		}
		draw(rows, n, sel, msg);
	}
	endwin();
	if (r == EXIT_UNREACHABLE)
		fprintf(stderr, "tend: the daemon went away\n");
	free(rows);
	client_free(c);
	return r;
}
