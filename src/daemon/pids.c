/*
 * pid -> instance, for sv_reap: open addressing, linear probing,
 * backward-shift deletion.  Each instance has at most one entry, under
 * slot.pid_key.
 */
#include "daemon/supervisor-internal.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"

static size_t pid_home(pid_t pid, size_t cap)
{
	return ((uint32_t)pid * 2654435761u) & (cap - 1);
}

static size_t pid_slot(const struct supervisor *s, pid_t pid)
{
	size_t i = pid_home(pid, s->cappids);

	while (s->pids[i].pid && s->pids[i].pid != pid)
		i = (i + 1) & (s->cappids - 1);
	return i;
}

static void pid_put(struct supervisor *s, pid_t pid, struct inst *in)
{
	size_t i;

	if ((s->npids + 1) * 2 > s->cappids) {
		struct sv_pid *old = s->pids;
		size_t oldcap = s->cappids;

		s->cappids = oldcap ? oldcap * 2 : 64;
		s->pids = xcalloc(s->cappids, sizeof(*s->pids));
		for (size_t k = 0; k < oldcap; k++)
			if (old[k].pid)
				s->pids[pid_slot(s, old[k].pid)] = old[k];
		free(old);
	}
	i = pid_slot(s, pid);
	if (!s->pids[i].pid)
		s->npids++;
	s->pids[i] = (struct sv_pid){ pid, in };
}

struct inst *sv_pid_find(struct supervisor *s, pid_t pid)
{
	size_t i;

	if (!s->cappids || pid <= 0)
		return NULL;
	i = pid_slot(s, pid);
	/* an entry whose instance has moved on (an exit not seen here) is no answer */
	return s->pids[i].pid && s->pids[i].in->pid == pid ? s->pids[i].in : NULL;
}

/* Empty entry i, then move later entries of its run back so every lookup still finds them. */
static void pid_vacate(struct supervisor *s, size_t i)
{
	size_t mask = s->cappids - 1, j = i;

	s->pids[i].pid = 0;
	s->npids--;
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (!s->pids[j].pid)
			return;
		k = pid_home(s->pids[j].pid, s->cappids);
		/* does j's home lie cyclically in (i, j]? then it stays */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		s->pids[i] = s->pids[j];
		s->pids[j].pid = 0;
		i = j;
	}
}

void sv_pid_del(struct supervisor *s, pid_t pid)
{
	size_t i;

	if (!s->cappids || pid <= 0)
		return;
	i = pid_slot(s, pid);
	if (s->pids[i].pid)
		pid_vacate(s, i);
}

/*
 * Drop sl's entry, if the table still holds it: reaped, it is gone, and its
 * pid may be another instance's by now.  An instance has at most one entry
 * (each spawn drops the last), so this is a lookup, not a walk of the
 * table: 10,000 instances freed at exit walked it 10,000 times (14% of
 * tendd's CPU in a stop of 10,000 programs).
 */
void sv_pid_forget(struct slot *sl)
{
	struct supervisor *s = sl->sv;
	size_t i;

	if (!s->cappids || sl->pid_key <= 0)
		return;
	i = pid_slot(s, sl->pid_key);
	if (s->pids[i].pid && s->pids[i].in == &sl->in)
		pid_vacate(s, i);
	sl->pid_key = 0;
}

void sv_pid_put(struct slot *sl)
{
	/* an exit not reaped here (a test's backend) left its entry */
	sv_pid_forget(sl);
	pid_put(sl->sv, sl->in.pid, &sl->in);
	sl->pid_key = sl->in.pid;
}
