/*
 * The supervisor's decisions (src/daemon/supervisor.c, reload.c,
 * autoscale.c) and the command layer (src/daemon/cmd.c) with a fake
 * backend: spawns and signals are recorded instead of performed, and the
 * test delivers the exits itself.  A real loop runs the passes.
 *
 * What is decided here: start order (priority, depends_on), stop order
 * (group priority batches, dependents first), what a reload does to each
 * instance, names in tend's and supervisord's styles, the outcome of a start
 * that cannot run, pool sizes, readiness, and supervisord's group view of a
 * reread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/cmd.h"
#include "daemon/log.h"
#include "daemon/supervisor-internal.h"

/* ---- the fake backend ------------------------------------------------------- */

static struct fake {
	char spawned[64][32]; /* full names, in order */
	int nspawned;
	char killed[64][32];
	int killsig[64];
	int nkilled;
	pid_t next_pid;
} F;

static int f_spawn(struct inst *in)
{
	if (F.nspawned < 64)
		snprintf(F.spawned[F.nspawned], sizeof(F.spawned[0]), "%s", in->cfg->fullname);
	F.nspawned++;
	in->pid = ++F.next_pid + 100000;
	return 0;
}

static int f_kill(struct inst *in, int sig, bool group)
{
	(void)group;
	if (sig == SIGCONT)
		return 0;
	if (F.nkilled < 64) {
		snprintf(F.killed[F.nkilled], sizeof(F.killed[0]), "%s", in->cfg->fullname);
		F.killsig[F.nkilled] = sig;
	}
	F.nkilled++;
	return 0;
}

static const struct sv_backend fake_backend = { f_spawn, f_kill };

static struct supervisor S;

static void spin(void)
{
	for (int i = 0; i < 20; i++)
		assert_int_equal(loop_run_once(&S.loop, false), 0);
}

static struct config *load(const char *text)
{
	struct config_diag d;
	struct config *c = NULL;
	int r = config_load_string("t.conf", text, &c, &d);

	for (size_t i = 0; i < d.nerrors; i++)
		print_error("%s\n", d.errors[i]);
	config_diag_done(&d);
	assert_int_equal(r, 0);
	return c;
}

static void setup_text(const char *text)
{
	sigset_t none;

	memset(&F, 0, sizeof(F));
	sv_init(&S, load(text), &fake_backend);
	sigemptyset(&none);
	assert_int_equal(loop_init(&S.loop, &none, NULL, NULL), 0);
}

static int teardown(void **state)
{
	(void)state;
	sv_done(&S);
	loop_done(&S.loop);
	return 0;
}

static struct inst *find(const char *name)
{
	for (size_t i = 0; i < S.ninst; i++)
		if (strcmp(S.insts[i]->cfg->fullname, name) == 0 && sv_visible(S.insts[i]))
			return S.insts[i];
	fail_msg("no instance '%s'", name);
	return NULL;
}

/* in's process exits (killed by sig, or status code when sig is 0), as reap.c reports it. */
static void exit_inst(struct inst *in, int sig, int code)
{
	struct exit_info ex = { .sig = sig, .code = code };

	sv_pid_del(&S, in->pid);
	inst_event(in, EV_EXIT, &ex);
}

static void exits(const char *name, int sig, int code)
{
	exit_inst(find(name), sig, code);
	spin();
}

static void assert_order(char (*v)[32], int n, const char *const *want, int nwant)
{
	assert_int_equal(n, nwant);
	for (int i = 0; i < nwant; i++)
		if (strcmp(v[i], want[i]) != 0)
			fail_msg("position %d: '%s', expected '%s'", i, v[i], want[i]);
}

#define PROG(name, extra) "[program:" name "]\ncommand=/bin/sh -c 'exec sleep 1000'\nstartsecs=0\n" extra "\n"

/* ---- start and stop order -------------------------------------------------------- */

static void test_start_order_priority_and_deps(void **state)
{
	static const char *const want1[] = { "b", "a" }, *const want2[] = { "b", "a", "c" };

	(void)state;
	/* a needs a second before it counts as started: its timer is fired by hand below */
	setup_text(PROG("a", "priority=10\nstartsecs=1") PROG("b", "priority=5")
		   PROG("c", "priority=1\ndepends_on=a"));
	sv_autostart(&S);
	spin();
	/* c has the lowest priority but waits for a */
	assert_order(F.spawned, F.nspawned, want1, 2);
	assert_int_equal(find("a")->state, PS_STARTING);
	assert_int_equal(find("b")->state, PS_RUNNING);
	assert_int_equal(find("c")->state, PS_STOPPED);
	assert_true(find("c")->pending_start);
	inst_event(find("a"), EV_TIMER, NULL); /* startsecs elapsed */
	assert_int_equal(find("a")->state, PS_RUNNING);
	spin();
	assert_order(F.spawned, F.nspawned, want2, 3);
	assert_int_equal(find("c")->state, PS_RUNNING);
}

/* priority_waits: each batch starts once the lower ones are RUNNING, or have failed. */
static void test_priority_waits(void **state)
{
	static const char *const want1[] = { "redis" }, *const want2[] = { "redis", "app", "web", "late" };

	(void)state;
	setup_text("[supervisord]\npriority_waits=true\n" PROG("app", "priority=15") PROG("redis", "priority=0\nstartsecs=1")
		   PROG("web", "priority=15") PROG("late", "priority=20\nstartsecs=1"));
	sv_autostart(&S);
	spin();
	assert_order(F.spawned, F.nspawned, want1, 1);
	assert_int_equal(find("app")->state, PS_STOPPED);
	assert_true(find("app")->pending_start);
	inst_event(find("redis"), EV_EXEC_OK, NULL);
	inst_event(find("redis"), EV_TIMER, NULL); /* startsecs elapsed: RUNNING */
	assert_int_equal(find("redis")->state, PS_RUNNING);
	spin();
	/* the whole batch of priority 15 at once; 20 waits for it (startsecs 0: RUNNING at once) */
	assert_order(F.spawned, F.nspawned, want2, 4);
	/* a batch that fails does not hold the next one: bounded */
	teardown(NULL);
	setup_text("[supervisord]\npriority_waits=true\n" PROG("db", "priority=0\nstartsecs=1\nstartretries=0")
		   PROG("app", "priority=15"));
	sv_autostart(&S);
	spin();
	assert_int_equal(F.nspawned, 1);
	exits("db", 0, 1); /* exits before startsecs: FATAL (no retries) */
	assert_int_equal(find("db")->state, PS_FATAL);
	assert_int_equal(F.nspawned, 2);
	assert_string_equal(F.spawned[1], "app");
	/* without priority_waits: all at once, in priority order (supervisord) */
	teardown(NULL);
	setup_text(PROG("app", "priority=15") PROG("redis", "priority=0\nstartsecs=1"));
	sv_autostart(&S);
	spin();
	assert_int_equal(F.nspawned, 2);
	assert_string_equal(F.spawned[0], "redis");
}

static void test_stop_order_dependents_first(void **state)
{
	static const char *const want[] = { "b", "c", "a" };

	(void)state;
	/* a would stop first by priority, but c depends on it; b (200) is its own batch */
	setup_text(PROG("a", "priority=300") PROG("b", "priority=200") PROG("c", "priority=100\ndepends_on=a"));
	sv_autostart(&S);
	spin();
	spin();
	assert_int_equal(F.nspawned, 3);
	sv_shutdown(&S, "test");
	spin();
	/* batch 300 (a) is held by c; batch 200 (b) goes; batch 100 (c) waits for b's batch */
	assert_int_equal(F.nkilled, 1);
	assert_string_equal(F.killed[0], "b");
	exits("b", SIGTERM, 0);
	assert_int_equal(F.nkilled, 2);
	assert_string_equal(F.killed[1], "c");
	exits("c", SIGTERM, 0);
	assert_order(F.killed, F.nkilled, want, 3);
	assert_int_equal(F.killsig[2], SIGTERM);
	exits("a", SIGTERM, 0);
	assert_true(pstate_is_stopped(find("a")->state));
}

/* ---- reload ------------------------------------------------------------------------- */

static const struct plan_entry *plan_find(const struct reload_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return &p->v[i];
	fail_msg("'%s' not in the plan", name);
	return NULL;
}

static void test_reload_plan_and_apply(void **state)
{
	struct reload_plan p;
	struct config *nc;
	pid_t keep_pid, change_pid;

	(void)state;
	setup_text(PROG("keep", "") PROG("change", "") PROG("update", "") PROG("gone", ""));
	sv_autostart(&S);
	spin();
	keep_pid = find("keep")->pid;
	change_pid = find("change")->pid;
	nc = load(PROG("keep", "") "[program:change]\ncommand=/bin/sh -c 'exec sleep 2000'\nstartsecs=0\n"
		  PROG("update", "autorestart=false") PROG("new", ""));
	/* a dry run changes nothing */
	assert_int_equal(sv_reload(&S, nc, false, &p), 0);
	assert_int_equal(plan_find(&p, "keep")->action, PLAN_KEEP);
	assert_int_equal(plan_find(&p, "change")->action, PLAN_CHANGE);
	assert_int_equal(plan_find(&p, "update")->action, PLAN_UPDATE);
	assert_int_equal(plan_find(&p, "gone")->action, PLAN_REMOVE);
	assert_int_equal(plan_find(&p, "new")->action, PLAN_ADD);
	assert_null(plan_find(&p, "new")->old_group);
	assert_string_equal(plan_find(&p, "change")->old_group, "change");
	assert_int_equal(p.count[PLAN_KEEP], 1);
	assert_int_equal(p.count[PLAN_ADD], 1);
	reload_plan_done(&p);
	assert_int_equal(F.nkilled, 0);
	/* applied: the kept one runs on, the changed and removed ones stop */
	assert_int_equal(sv_reload(&S, nc, true, NULL), 0);
	spin();
	assert_int_equal(find("keep")->pid, keep_pid);
	assert_false(find("update")->cfg->autorestart == AUTORESTART_UNEXPECTED);
	assert_int_equal(F.nkilled, 2);
	/* the new "change" waits until the old one is gone */
	assert_int_equal(find("change")->state, PS_STOPPED);
	assert_true(find("change")->pending_start);
	for (size_t i = 0; i < S.ninst; i++) {
		struct inst *in = S.insts[i];

		if (!sv_visible(in)) {
			struct exit_info ex = { .sig = SIGTERM };

			inst_event(in, EV_EXIT, &ex);
		}
	}
	spin();
	assert_int_equal(find("change")->state, PS_RUNNING);
	assert_true(find("change")->pid != change_pid);
	assert_int_equal(find("new")->state, PS_RUNNING);
	for (size_t i = 0; i < S.ninst; i++)
		assert_true(sv_visible(S.insts[i])); /* the retired ones are gone */
	assert_int_equal(S.ninst, 4);
}

static void test_reload_refused_in_shutdown(void **state)
{
	struct reload_plan p;
	struct config *nc;

	(void)state;
	setup_text(PROG("a", ""));
	sv_shutdown(&S, "test");
	nc = load(PROG("b", ""));
	assert_int_equal(sv_reload(&S, nc, true, &p), -ESHUTDOWN);
	assert_int_equal(p.n, 0);
	config_free(nc);
}

/* ---- names ---------------------------------------------------------------------------- */

static int resolve(const char *spec, enum name_style style, struct targets *t)
{
	memset(t, 0, sizeof(*t));
	return cmd_resolve(&S, spec, style, t);
}

static void test_names_both_styles(void **state)
{
	struct targets t;

	(void)state;
	setup_text("[program:web]\ncommand=/bin/true\nnumprocs=2\nprocess_name=%(program_name)s_%(process_num)d\n"
		   PROG("db", "") "[group:g]\nprograms=web\n");
	assert_int_equal(resolve("all", NAMES_TEND, &t), 3);
	targets_done(&t);
	assert_int_equal(resolve("web", NAMES_TEND, &t), 2); /* a program name: its instances */
	targets_done(&t);
	assert_int_equal(resolve("g:*", NAMES_TEND, &t), 2);
	targets_done(&t);
	assert_int_equal(resolve("g:web_1", NAMES_TEND, &t), 1);
	assert_string_equal(t.v[0]->cfg->name, "web_1");
	targets_done(&t);
	assert_int_equal(resolve("nope", NAMES_TEND, &t), -ENOENT);
	targets_done(&t);
	/* supervisord: a bare name is "name:name"; a program with numprocs needs its group */
	assert_int_equal(resolve("web", NAMES_SUPERVISORD, &t), -ENOENT);
	targets_done(&t);
	assert_int_equal(resolve("db", NAMES_SUPERVISORD, &t), 1);
	assert_null(t.group);
	targets_done(&t);
	assert_int_equal(resolve("g:", NAMES_SUPERVISORD, &t), 2);
	assert_string_equal(t.group, "g");
	targets_done(&t);
	assert_int_equal(resolve("g:web_0", NAMES_SUPERVISORD, &t), 1);
	assert_null(t.group);
	targets_done(&t);
	assert_true(cmd_group_in_use(&S, "g"));
	assert_false(cmd_group_in_use(&S, "web"));
}

/* ---- start through the command layer ------------------------------------------------------ */

static struct cmd_outcome got[8];
static size_t ngot;
static char got_reason[8][160], got_name[8][32];
static int answers;

static void record(void *ctx, const struct cmd_outcome *v, size_t n)
{
	(void)ctx;
	answers++;
	ngot = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		got[i] = v[i];
		snprintf(got_reason[i], sizeof(got_reason[i]), "%s", v[i].reason ? v[i].reason : "");
		/* the instance must still be there while the answer is made */
		snprintf(got_name[i], sizeof(got_name[i]), "%s", v[i].in->cfg->fullname);
	}
}

static void test_start_outcomes(void **state)
{
	struct targets t;

	(void)state;
	answers = 0;
	setup_text("[program:missing]\ncommand=/nonexistent/tend-test-binary\nautostart=false\n"
		   "[program:noexec]\ncommand=/etc/passwd\nautostart=false\n" PROG("ok", "autostart=false"));
	assert_int_equal(resolve("all", NAMES_TEND, &t), 3);
	cmd_run(&S, CMD_START, t.v, t.n, true, 10 * NSEC_PER_SEC, record, NULL);
	targets_done(&t);
	assert_int_equal(answers, 0); /* never before cmd_run returns */
	spin();
	assert_int_equal(answers, 1);
	assert_int_equal(ngot, 3);
	assert_int_equal(got[0].result, CMD_NO_FILE);
	assert_false(got[0].ok);
	assert_string_equal(got_reason[0], "can't find command '/nonexistent/tend-test-binary'");
	assert_int_equal(got[1].result, CMD_NOT_EXECUTABLE);
	assert_int_equal(got[2].result, CMD_OK);
	assert_true(got[2].ok);
	/* nothing was spawned for the two that cannot run */
	assert_int_equal(F.nspawned, 1);
	assert_string_equal(F.spawned[0], "ok");
	/* a second start: already started; a stop of a stopped one: not running */
	assert_int_equal(resolve("ok", NAMES_TEND, &t), 1);
	cmd_run(&S, CMD_START, t.v, t.n, true, 10 * NSEC_PER_SEC, record, NULL);
	spin();
	assert_int_equal(got[0].result, CMD_ALREADY);
	assert_true(got[0].ok);
	targets_done(&t);
	assert_int_equal(resolve("missing", NAMES_TEND, &t), 1);
	cmd_run(&S, CMD_STOP, t.v, t.n, true, 10 * NSEC_PER_SEC, record, NULL);
	spin();
	assert_int_equal(got[0].result, CMD_ALREADY);
	assert_string_equal(cmd_result_text(CMD_STOP, got[0].result), "not running");
	targets_done(&t);
}

static void test_cancelled_op_never_answers(void **state)
{
	struct targets t;
	struct cmd_op *op;

	(void)state;
	answers = 0;
	setup_text(PROG("a", "autostart=false"));
	assert_int_equal(resolve("a", NAMES_TEND, &t), 1);
	op = cmd_run(&S, CMD_START, t.v, t.n, false, NSEC_PER_SEC, record, NULL);
	cmd_cancel(op);
	spin();
	assert_int_equal(answers, 0);
	assert_int_equal(t.v[0]->state, PS_RUNNING); /* the start itself goes on */
	targets_done(&t);
}

/* A target removed by a reload while the start waits: the answer comes
 * before it is freed (ASan would see a read of freed memory otherwise). */
static void test_answer_before_a_target_goes(void **state)
{
	struct targets t;
	struct config *nc;

	(void)state;
	answers = 0;
	setup_text("[program:missing]\ncommand=/nonexistent/tend-test-binary\nautostart=false\n"
		   PROG("slow", "autostart=false\nstartsecs=5"));
	assert_int_equal(resolve("all", NAMES_TEND, &t), 2);
	cmd_run(&S, CMD_START, t.v, t.n, true, 10 * NSEC_PER_SEC, record, NULL);
	targets_done(&t);
	spin();
	assert_int_equal(answers, 0); /* slow is STARTING for 5 s */
	nc = load(PROG("slow", "autostart=false\nstartsecs=5"));
	assert_int_equal(sv_reload(&S, nc, true, NULL), 0);
	spin(); /* missing is buried: the waiter that names it answers first */
	assert_int_equal(answers, 1);
	assert_string_equal(got_name[0], "missing");
	assert_int_equal(got[0].result, CMD_NO_FILE);
	assert_string_equal(got_name[1], "slow");
	assert_int_equal(got[1].result, CMD_STARTING);
}

/* ---- pools and readiness ---------------------------------------------------------------- */

static void test_scale_and_readiness(void **state)
{
	struct cmd_ready rd;

	(void)state;
	setup_text("[program:w]\ncommand=/bin/true\nstartsecs=0\nnumprocs_min=1\nnumprocs_max=4\n"
		   "process_name=w%(process_num)d\n");
	sv_autostart(&S);
	spin();
	assert_int_equal(F.nspawned, 1); /* a pool starts at its minimum */
	assert_int_equal(cmd_ready(&S, NULL, &rd), 0);
	assert_true(rd.ready);
	cmd_ready_done(&rd);
	assert_int_equal(sv_scale(&S, "w", 3, "test"), 1);
	spin();
	assert_int_equal(F.nspawned, 3);
	assert_int_equal(sv_scale(&S, "w", 5, "test"), -ERANGE);
	assert_int_equal(sv_scale(&S, "w", 0, "test"), -ERANGE);
	assert_int_equal(sv_scale(&S, "nope", 1, "test"), -ENOENT);
	/* shrink from the top */
	assert_int_equal(sv_scale(&S, "w", 2, "test"), 3);
	spin();
	assert_int_equal(F.nkilled, 1);
	assert_string_equal(F.killed[0], "w:w2");
	/* a name is ready while one of its instances is */
	assert_int_equal(cmd_ready(&S, "w0", &rd), 0);
	assert_true(rd.ready);
	assert_int_equal(rd.n, 1);
	assert_string_equal(rd.v[0].state, "RUNNING");
	cmd_ready_done(&rd);
	assert_int_equal(cmd_ready(&S, "nope", &rd), -ENOENT);
	/* shutting down: never ready */
	sv_shutdown(&S, "test");
	assert_int_equal(cmd_ready(&S, NULL, &rd), 0);
	assert_false(rd.ready);
	assert_true(rd.shutting_down);
	cmd_ready_done(&rd);
}

static void test_readiness_counts_missing_instances(void **state)
{
	struct cmd_ready rd;

	(void)state;
	setup_text(PROG("a", "numprocs=2\nprocess_name=a%(process_num)d") PROG("b", "autostart=false"));
	assert_int_equal(cmd_ready(&S, NULL, &rd), 0);
	assert_false(rd.ready);
	assert_int_equal(rd.n, 1); /* b starts nothing, so it needs nothing */
	assert_string_equal(rd.v[0].name, "a");
	assert_int_equal(rd.v[0].have, 0);
	assert_int_equal(rd.v[0].need, 2);
	cmd_ready_done(&rd);
}

/* ---- supervisord's reread, group by group ------------------------------------------------ */

static char conf_path[64];

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_reread_group_view(void **state)
{
	struct group_changes g;
	struct config *nc = NULL, *c = NULL;
	struct config_diag d;
	sigset_t none;
	char *err = NULL;

	(void)state;
	snprintf(conf_path, sizeof(conf_path), "/tmp/tend-test-sv-%d.conf", (int)getpid());
	write_conf(PROG("same", "") PROG("changes", "") PROG("goes", "") "[group:grp]\nprograms=same,changes\n"
		   "priority=5\n");
	assert_int_equal(config_load(conf_path, &c, &d), 0);
	config_diag_done(&d);
	memset(&F, 0, sizeof(F));
	sv_init(&S, c, &fake_backend);
	sigemptyset(&none);
	assert_int_equal(loop_init(&S.loop, &none, NULL, NULL), 0);
	write_conf(PROG("same", "") PROG("changes", "autorestart=false") PROG("added", "")
		   "[group:grp]\nprograms=same,changes\npriority=5\n");
	assert_int_equal(cmd_reread(&S, &nc, &g, &err), 0);
	assert_non_null(nc);
	assert_non_null(g.added);
	assert_string_equal(g.added[0], "added");
	assert_null(g.added[1]);
	assert_non_null(g.changed);
	assert_string_equal(g.changed[0], "grp");
	assert_null(g.changed[1]);
	assert_non_null(g.removed);
	assert_string_equal(g.removed[0], "goes");
	group_changes_done(&g);
	/* add it as supervisorctl update does */
	assert_int_equal(cmd_add_group(&S, nc, "added"), 0);
	assert_int_equal(cmd_add_group(&S, nc, "added"), -EEXIST);
	assert_int_equal(cmd_add_group(&S, nc, "nope"), -ENOENT);
	assert_true(cmd_group_in_use(&S, "added"));
	assert_int_equal(cmd_remove_group(&S, "goes"), 0);
	assert_false(cmd_group_in_use(&S, "goes"));
	assert_int_equal(cmd_remove_group(&S, "goes"), -ENOENT);
	config_free(nc);
	/* a broken file: the error, nothing staged */
	write_conf("[program:x]\n");
	assert_int_equal(cmd_reread(&S, &nc, &g, &err), -EINVAL);
	assert_null(nc);
	assert_non_null(strstr(err, "command"));
	free(err);
	unlink(conf_path);
}

static void test_remove_group_refuses_running(void **state)
{
	(void)state;
	setup_text(PROG("a", ""));
	sv_autostart(&S);
	spin();
	assert_int_equal(cmd_remove_group(&S, "a"), -EBUSY);
	assert_true(cmd_group_in_use(&S, "a"));
}

/* ---- cost per event: the pid map and the agenda ----------------------------------- */

static void assert_pids_consistent(void)
{
	size_t live = 0;

	for (size_t i = 0; i < S.ninst; i++) {
		struct inst *in = S.insts[i];

		if (!in->pid)
			continue;
		live++;
		if (sv_pid_find(&S, in->pid) != in)
			fail_msg("%s: pid %d not found", in->cfg->fullname, (int)in->pid);
	}
	assert_int_equal(S.npids, live);
}

static void test_pid_map_and_agenda(void **state)
{
	unsigned seed = 7;
	pid_t gone[64];
	int ngone = 0;

	(void)state;
	setup_text("[program:w]\ncommand=/bin/true\nstartsecs=0\nnumprocs=300\nprocess_name=w%(process_num)d\n"
		   "backoff_reset_after=0\n");
	sv_autostart(&S);
	for (int i = 0; i < 10; i++)
		spin(); /* 64 spawns a pass */
	assert_int_equal(F.nspawned, 300);
	assert_pids_consistent();
	/* everything settled: nothing on the agenda, so a pass walks nothing */
	assert_int_equal(S.nagenda, 0);
	/* crashes: each exit frees its pid, each restart adds one (collisions and
	 * backward shifts on the way) */
	for (int round = 0; round < 400; round++) {
		struct inst *in = S.insts[rand_r(&seed) % S.ninst];

		if (!in->pid)
			continue;
		if (ngone < 64)
			gone[ngone++] = in->pid;
		exit_inst(in, SIGKILL, 0);
		if (round % 7 == 0)
			spin();
	}
	spin();
	spin();
	assert_pids_consistent();
	for (int i = 0; i < ngone; i++)
		assert_null(sv_pid_find(&S, gone[i]));
	assert_int_equal(S.nagenda, 0);
	/* a stop puts one slot on the agenda until it has stopped */
	sv_stop(&S, find("w:w5"));
	assert_int_equal(S.nagenda, 1);
	spin();
	exits("w:w5", SIGTERM, 0);
	assert_int_equal(S.nagenda, 0);
	assert_true(pstate_is_stopped(find("w:w5")->state));
	assert_null(sv_pid_find(&S, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_start_order_priority_and_deps, teardown),
		cmocka_unit_test_teardown(test_stop_order_dependents_first, teardown),
		cmocka_unit_test_teardown(test_reload_plan_and_apply, teardown),
		cmocka_unit_test_teardown(test_reload_refused_in_shutdown, teardown),
		cmocka_unit_test_teardown(test_names_both_styles, teardown),
		cmocka_unit_test_teardown(test_start_outcomes, teardown),
		cmocka_unit_test_teardown(test_cancelled_op_never_answers, teardown),
		cmocka_unit_test_teardown(test_answer_before_a_target_goes, teardown),
		cmocka_unit_test_teardown(test_scale_and_readiness, teardown),
		cmocka_unit_test_teardown(test_readiness_counts_missing_instances, teardown),
		cmocka_unit_test_teardown(test_reread_group_view, teardown),
		cmocka_unit_test_teardown(test_remove_group_refuses_running, teardown),
		cmocka_unit_test_teardown(test_pid_map_and_agenda, teardown),
		cmocka_unit_test_teardown(test_priority_waits, teardown),
	};

	log_set_level(LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
