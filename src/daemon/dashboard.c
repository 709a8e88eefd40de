/*
 * The web dashboard (dashboard.html, served on GET /) is part of the binary:
 * the assembler copies the file in, so tend needs no asset directory and the
 * page cannot drift from the daemon that serves it.  The Makefile makes this
 * object depend on the HTML file.  Here too: its routes, GET / and the
 * system panel's GET /v1/system.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/api-internal.h"

__asm__(".section .rodata\n"
	".global dashboard_html\n"
	".type dashboard_html, @object\n"
	"dashboard_html:\n"
	".incbin \"src/daemon/dashboard.html\"\n"
	".global dashboard_html_end\n"
	".type dashboard_html_end, @object\n"
	"dashboard_html_end:\n"
	".byte 0\n"
	".previous\n");

/* ---- GET /v1/system: the dashboard's system panel --------------------------- */

static void json_procs(struct sbuf *b, const struct proc_info *const *v, size_t n)
{
	sbuf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(b, "%s{\"pid\":%d,\"ppid\":%d,\"state\":\"%c\",\"command\":", i ? "," : "",
			    (int)v[i]->pid, (int)v[i]->ppid, v[i]->state);
		api_json_str(b, v[i]->comm);
		sbuf_printf(b, ",\"cpu_percent\":%.1f,\"rss\":%llu}", v[i]->cpu_percent,
			    (unsigned long long)v[i]->rss_bytes);
	}
	sbuf_addc(b, ']');
}

void r_system(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct proc_table t;
	struct proc_summary sum;
	const struct proc_info *zombies[20];
	size_t nz = 0, norphans = 0;
	struct sbuf b = SBUF_INIT;
	double load[3] = { 0 };

	(void)req;
	(void)args;
	if (proc_scan(&t) < 0) {
		conn_reply_error(c, 500, "proc", "cannot read /proc: %s", strerror(errno));
		return;
	}
	if (a->last_scan.n) {
		proc_rate(&t, &a->last_scan);
	} else { /* the first call: over each process's life */
		for (size_t i = 0; i < t.n; i++) {
			double age = proc_age(&t, &t.v[i]);

			t.v[i].cpu_percent = age > 0 ? (double)t.v[i].cpu_ticks / (double)t.hz / age * 100 : 0;
		}
	}
	proc_summarize(&t, &sum);
	for (size_t i = 0; i < t.n; i++) {
		if (t.v[i].state == 'Z' && nz < ARRAY_SIZE(zombies))
			zombies[nz++] = &t.v[i];
		norphans += proc_is_orphan(&t, &t.v[i]);
	}
	getloadavg(load, 3);
	sbuf_printf(&b,
		    "{\"processes\":{\"total\":%zu,\"running\":%zu,\"sleeping\":%zu,\"zombie\":%zu,"
		    "\"other\":%zu},\"orphans\":%zu,\"rss_total\":%llu,\"load\":[%.2f,%.2f,%.2f],"
		    "\"ncpu\":%ld,\"zombies\":",
		    sum.total, sum.running, sum.sleeping, sum.zombie, sum.other, norphans,
		    (unsigned long long)sum.rss_total, load[0], load[1], load[2], sysconf(_SC_NPROCESSORS_ONLN));
	json_procs(&b, zombies, nz);
	sbuf_adds(&b, ",\"top_cpu\":");
	json_procs(&b, sum.top_cpu, sum.ntop_cpu);
	sbuf_adds(&b, ",\"top_mem\":");
	json_procs(&b, sum.top_mem, sum.ntop_mem);
	sbuf_addc(&b, '}');
	conn_reply(c, 200, "application/json", b.s, b.len);
	sbuf_done(&b);
	proc_table_done(&a->last_scan);
	a->last_scan = t;
}

/* ---- GET /: the page ---------------------------------------------------------- */

extern const char dashboard_html[];
extern const char dashboard_html_end[];

void r_dashboard(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	(void)a;
	(void)req;
	(void)args;
	conn_reply_headers(c, 200, "text/html; charset=utf-8",
			   "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
			   "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'\r\n"
			   "X-Content-Type-Options: nosniff\r\n",
			   dashboard_html, (size_t)(dashboard_html_end - dashboard_html));
}
