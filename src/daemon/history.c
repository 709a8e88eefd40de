#include "daemon/history.h"

#include "common/util.h"
#include "daemon/supervisor-internal.h"

static struct history *get(struct history **h)
{
	if (!*h)
		*h = xcalloc(1, sizeof(**h));
	return *h;
}

void history_sample(struct history **hp, int64_t now, uint64_t cpu_usec, uint64_t mem, bool alive)
{
	struct history *h = get(hp);
	uint64_t cpu = 0;

	if (h->last_ns && now - h->last_ns < HIST_INTERVAL_NS)
		return;
	/* a new process counts from 0: what it used since it started, over the interval */
	if (alive && h->last_ns && now > h->last_ns) {
		uint64_t used = cpu_usec >= h->last_cpu_usec ? cpu_usec - h->last_cpu_usec : cpu_usec;

		cpu = used * 1000 / (uint64_t)MAX((now - h->last_ns) / 1000, (int64_t)1);
	}
	if (h->last_ns) {
		h->cpu[h->pos] = (uint16_t)MIN(cpu, (uint64_t)UINT16_MAX);
		h->mem[h->pos] = alive ? (uint32_t)MIN(mem >> 10, (uint64_t)UINT32_MAX) : 0;
		h->pos = (h->pos + 1) % HIST_SAMPLES;
		if (h->nsamples < HIST_SAMPLES)
			h->nsamples++;
	}
	h->last_ns = now;
	h->last_cpu_usec = alive ? cpu_usec : 0;
}

void history_exit(struct history **hp, int64_t wall_ns, int kind, int code)
{
	struct history *h = get(hp);

	h->exits[h->epos] = (struct hist_exit){ .wall_ms = wall_ns / 1000000, .kind = (uint8_t)kind,
						.code = (int16_t)code };
	h->epos = (h->epos + 1) % HIST_EXITS;
	if (h->nexits < HIST_EXITS)
		h->nexits++;
}

void history_sample_at(const struct history *h, uint32_t i, unsigned *ret_cpu_permille, uint64_t *ret_mem)
{
	uint32_t k = (h->pos + HIST_SAMPLES - h->nsamples + i) % HIST_SAMPLES;

	*ret_cpu_permille = h->cpu[k];
	*ret_mem = (uint64_t)h->mem[k] << 10;
}

const struct hist_exit *history_exit_at(const struct history *h, uint32_t i)
{
	return &h->exits[(h->epos + HIST_EXITS - h->nexits + i) % HIST_EXITS];
}

const struct history *sv_history(struct inst *in, const struct sv_usage *u)
{
	struct slot *sl = slot_of(in);

	history_sample(&sl->hist, mono_ns(), u->cpu_usec, u->mem_current, in->pid != 0);
	return sl->hist;
}

void sv_history_exit(struct inst *in)
{
	history_exit(&slot_of(in)->hist, in->last_wall, in->last_kind, in->last_sig ? -in->last_sig : in->last_code);
}
