/*
 * The answers that list instances: each as a JSON object (GET /v1/programs,
 * the answers of start, stop and restart) and `tend status`'s table as text
 * (?view=table).  With 10,000 programs these are the daemon's largest
 * answers; they are written by hand, without printf (issue 18).
 */
#include "daemon/api-internal.h"

#include <string.h>

#include "common/signames.h"
#include "common/util.h"
#include "daemon/history.h"
#include "daemon/logstream.h"
#include "daemon/maps.h"

/* Nanoseconds to milliseconds, rounded: the JSON's seconds have three decimals. */
static int64_t ms_of(int64_t ns)
{
	return ns >= 0 ? (ns + 500000) / 1000000 : -((-ns + 500000) / 1000000);
}

/* The bytes a JSON string holds as they are: printable ASCII but '"' (0x22) and '\\' (0x5c). */
static const unsigned char json_plain[256] = {
	[0x20 ... 0x21] = 1,
	[0x23 ... 0x5b] = 1,
	[0x5d ... 0x7f] = 1,
};

/* Append s as a JSON string; invalid UTF-8 becomes U+FFFD, so the output always parses. */
void api_json_str(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	if (!s) {
		sbuf_adds(b, "null");
		return;
	}
	sbuf_addc(b, '"');
	while (*p) {
		size_t len = 1;
		const unsigned char *q = p;

		while (json_plain[*q])
			q++;
		if (q > p) { /* a run that needs no escape, added whole */
			sbuf_add(b, p, (size_t)(q - p));
			p = q;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			sbuf_addc(b, '\\');
			sbuf_addc(b, (char)*p);
		} else if (*p < 0x20) {
			sbuf_printf(b, "\\u%04x", *p);
		} else if (*p < 0x80) {
			sbuf_addc(b, (char)*p);
		} else {
			size_t need = utf8_seq_len(p, strnlen((const char *)p, 4));

			if (need) {
				sbuf_add(b, p, need);
				len = need;
			} else {
				sbuf_adds(b, "\\ufffd");
			}
		}
		p += len;
	}
	sbuf_addc(b, '"');
}

/* ---- instances as JSON ------------------------------------------------------- */

/* "history": the dashboard's sparklines (CPU %, memory) and exit timeline. */
static void json_history(struct sbuf *b, const struct history *h)
{
	unsigned cpu;
	uint64_t mem;

	sbuf_adds(b, ",\"history\":{\"interval\":");
	sbuf_add_i64(b, HIST_INTERVAL_NS / NSEC_PER_SEC);
	sbuf_adds(b, ",\"cpu\":[");
	for (uint32_t i = 0; h && i < h->nsamples; i++) {
		history_sample_at(h, i, &cpu, &mem);
		if (i)
			sbuf_addc(b, ',');
		sbuf_add_fixed(b, cpu, 1);
	}
	sbuf_adds(b, "],\"memory\":[");
	for (uint32_t i = 0; h && i < h->nsamples; i++) {
		history_sample_at(h, i, &cpu, &mem);
		if (i)
			sbuf_addc(b, ',');
		sbuf_add_u64(b, mem);
	}
	sbuf_adds(b, "],\"exits\":[");
	for (uint32_t i = 0; h && i < h->nexits; i++) {
		const struct hist_exit *x = history_exit_at(h, i);

		sbuf_printf(b, "%s{\"time\":%.3f,\"kind\":\"%s\",\"%s\":%d}", i ? "," : "", (double)x->wall_ms / 1e3,
			    exit_kind_name((enum exit_kind)x->kind) ? exit_kind_name((enum exit_kind)x->kind) : "exit",
			    x->code < 0 ? "signal" : "code", x->code < 0 ? -x->code : x->code);
	}
	sbuf_adds(b, "]}");
}

/* ,"maps":[...] for in's program (nothing when it names none) */
static void json_maps(struct sbuf *b, const struct inst *in)
{
	struct map_view *v;
	size_t n = maps_views_of(in, &v);

	if (n == 0)
		return;
	sbuf_adds(b, ",\"maps\":[");
	for (size_t i = 0; i < n; i++) {
		const struct tend_map_stats *st = &v[i].st;

		sbuf_adds(b, i ? ",{\"name\":" : "{\"name\":");
		api_json_str(b, v[i].name);
		sbuf_adds(b, ",\"shm\":");
		api_json_str(b, v[i].shm);
		if (v[i].exists)
			sbuf_printf(b,
				    ",\"exists\":true,\"items\":%llu,\"bytes\":%llu,\"mem_used\":%llu,\"mem_total\":%llu,"
				    "\"capacity\":%llu,\"hits\":%llu,\"misses\":%llu,\"evictions\":%llu,"
				    "\"expirations\":%llu}",
				    (unsigned long long)st->items, (unsigned long long)st->bytes,
				    (unsigned long long)st->mem_used, (unsigned long long)st->mem_total,
				    (unsigned long long)st->capacity, (unsigned long long)st->hits,
				    (unsigned long long)st->misses, (unsigned long long)st->evictions,
				    (unsigned long long)st->expirations);
		else
			sbuf_adds(b, ",\"exists\":false}");
	}
	sbuf_addc(b, ']');
	maps_views_free(v, n);
}

/*
 * One instance as a JSON object.  Written by hand rather than with jansson:
 * `tend status` with 1000 programs spends most of its time here.  brief
 * keeps what the status table needs.
 */
static void inst_json(struct sbuf *b, const struct inst *in, bool brief, bool paths)
{
	const struct prog_config *pc = in->cfg;
	int64_t now = mono_ns();
	bool alive = in->pid != 0;
	char desc[256];

	inst_describe(in, desc, sizeof(desc));
	sbuf_adds(b, "{\"name\":");
	api_json_str(b, pc->fullname);
	sbuf_adds(b, ",\"state\":\"");
	sbuf_adds(b, pstate_name(in->state));
	sbuf_adds(b, "\",\"statecode\":");
	sbuf_add_i64(b, in->state);
	sbuf_adds(b, ",\"pid\":");
	sbuf_add_i64(b, alive ? in->pid : 0);
	sbuf_adds(b, ",\"description\":");
	api_json_str(b, desc);
	sbuf_adds(b, in->pending_start ? ",\"pending_start\":true" : ",\"pending_start\":false");
	sbuf_adds(b, in->draining ? ",\"draining\":true" : ",\"draining\":false");
	sbuf_adds(b, inst_wanted(in) ? ",\"wanted\":true" : ",\"wanted\":false");
	sbuf_adds(b, ",\"last_exit\":");
	if (in->last_kind == EXIT_NONE) {
		sbuf_adds(b, "null");
	} else {
		sbuf_adds(b, "{\"kind\":\"");
		sbuf_adds(b, exit_kind_name(in->last_kind));
		sbuf_adds(b, "\",\"code\":");
		if (in->last_sig || in->last_kind == EXIT_EXEC)
			sbuf_adds(b, "null");
		else
			sbuf_add_i64(b, in->last_code);
		sbuf_adds(b, ",\"signal\":");
		api_json_str(b, in->last_sig ? sig_name(in->last_sig) : NULL);
		sbuf_adds(b, ",\"reason\":");
		api_json_str(b, inst_reason(in));
		sbuf_adds(b, ",\"time\":");
		sbuf_add_fixed(b, ms_of(in->last_wall), 3);
		sbuf_addc(b, '}');
	}
	if (!brief) {
		struct sv_usage u;

		sbuf_adds(b, ",\"group\":");
		api_json_str(b, pc->group);
		sbuf_adds(b, ",\"program\":");
		api_json_str(b, pc->program);
		sbuf_adds(b, ",\"process_name\":");
		api_json_str(b, pc->name);
		sbuf_adds(b, ",\"uptime\":");
		sbuf_add_fixed(b, alive ? ms_of(now - in->start_ns) : 0, 3);
		sbuf_adds(b, ",\"start_time\":");
		sbuf_add_fixed(b, ms_of(in->start_wall), 3);
		sbuf_adds(b, ",\"restarts\":");
		sbuf_add_u64(b, in->restarts);
		sbuf_adds(b, ",\"retries\":");
		sbuf_add_u64(b, in->retries);
		sbuf_adds(b, pc->autostart ? ",\"autostart\":true" : ",\"autostart\":false");
		/* paths are for callers who may read (status-only TCP clients see null) */
		sbuf_adds(b, ",\"stdout_logfile\":");
		api_json_str(b, paths ? inst_log_path(in, false) : NULL);
		sbuf_adds(b, ",\"stderr_logfile\":");
		api_json_str(b, paths ? inst_log_path(in, true) : NULL);
		sv_usage((struct inst *)in, SV_USAGE_LISTED, &u);
		/* no process, no memory: what a cgroup still holds (page cache) is not its */
		sbuf_adds(b, ",\"memory\":{\"current\":");
		sbuf_add_u64(b, in->pid ? u.mem_current : 0);
		sbuf_adds(b, ",\"peak\":");
		sbuf_add_u64(b, u.mem_peak);
		sbuf_adds(b, ",\"limit\":");
		sbuf_add_u64(b, pc->memory_limit);
		sbuf_adds(b, ",\"source\":\"");
		sbuf_adds(b, u.source);
		sbuf_adds(b, "\"},\"cpu_seconds\":");
		sbuf_add_fixed(b, (int64_t)((u.cpu_usec + 500) / 1000), 3);
		json_history(b, sv_history((struct inst *)in, &u));
		for (int i = 0; i < 2; i++) {
			struct logstream *ls = sv_logstream((struct inst *)in, i == 1);
			struct logstream_stats st;

			if (!ls)
				continue;
			logstream_stats(ls, &st);
			sbuf_adds(b, i ? ",\"stderr_log\":{\"bytes\":" : ",\"stdout_log\":{\"bytes\":");
			sbuf_add_u64(b, st.bytes);
			sbuf_adds(b, ",\"dropped\":");
			sbuf_add_u64(b, st.dropped);
			sbuf_adds(b, ",\"rotations\":");
			sbuf_add_u64(b, st.rotations);
			sbuf_adds(b, ",\"error\":");
			api_json_str(b, paths || !st.error ? st.error : "(hidden: needs read access)");
			sbuf_addc(b, '}');
		}
		json_maps(b, in);
		if (in->state == PS_BACKOFF) {
			int64_t left = in->delay_ns - (now - in->state_ns);

			sbuf_adds(b, ",\"restart_in\":");
			sbuf_add_fixed(b, ms_of(MAX(left, 0)), 3);
		}
	}
	sbuf_addc(b, '}');
}

/* Answer {"programs": [...]} for a list of instances (paths: the caller may read them). */
void api_reply_list(struct conn *c, bool brief, bool paths, struct inst *const *list, size_t n)
{
	struct sbuf b = SBUF_INIT;

	/* built behind room for the headers and handed to the connection (no copy) */
	conn_body_begin(&b, n * (brief ? 160 : 560) + 48);
	if (!brief) {
		/* first, so that `tend status --json` has its exit code without parsing the rest */
		size_t not_wanted = 0;

		for (size_t i = 0; i < n; i++)
			not_wanted += !inst_wanted(list[i]);
		sbuf_adds(&b, "{\"not_wanted\":");
		sbuf_add_u64(&b, not_wanted);
		sbuf_adds(&b, ",\"programs\":[");
	} else {
		sbuf_adds(&b, "{\"programs\":[");
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			sbuf_addc(&b, ',');
		inst_json(&b, list[i], brief, paths);
	}
	sbuf_adds(&b, "]}");
	conn_reply_take(c, 200, "application/json", &b);
}

/*
 * ?view=table: `tend status`'s table as text, after a first line
 * "not_wanted N", how many instances are not where they were asked to be
 * (its exit code): the CLI prints it as it comes (as one JSON string, the
 * CLI's JSON parse of it was 87 M instructions of 98 M with 10,000 programs).
 */
/* s, then spaces up to width (at least one, as "%-*s " would) */
static void pad(struct sbuf *b, const char *s, size_t width)
{
	size_t len = strlen(s);

	sbuf_add(b, s, len);
	do
		sbuf_addc(b, ' ');
	while (++len < width);
}

void api_reply_table(struct conn *c, struct inst *const *list, size_t n)
{
	struct sbuf b = SBUF_INIT;
	size_t w = 0, not_wanted = 0;
	char desc[256];

	for (size_t i = 0; i < n; i++) {
		w = MAX(w, strlen(list[i]->cfg->fullname));
		not_wanted += !inst_wanted(list[i]);
	}
	w = MAX(w + 2, (size_t)20);
	conn_body_begin(&b, n * (w + 48) + 64);
	sbuf_printf(&b, "not_wanted %zu\n", not_wanted);
	for (size_t i = 0; i < n; i++) {
		inst_describe(list[i], desc, sizeof(desc));
		/* "%-*s %-10s %s\n" without printf (10,000 lines) */
		pad(&b, list[i]->cfg->fullname, w + 1);
		pad(&b, pstate_name(list[i]->state), 11);
		sbuf_adds(&b, desc);
		sbuf_addc(&b, '\n');
	}
	conn_reply_take(c, 200, "text/plain; charset=utf-8", &b);
}

