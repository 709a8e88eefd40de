/*
 * Config loading (src/config): supervisord's parsing rules, every
 * default, tend's own keys, and the file:line of every error class.
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
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "config/config.h"

/* ---- helpers --------------------------------------------------------------- */

static struct config *load_ok(const char *text, struct config_diag *d)
{
	struct config *c = NULL;
	int r = config_load_string("t.conf", text, &c, d);

	if (r != 0) {
		for (size_t i = 0; i < d->nerrors; i++)
			print_error("%s\n", d->errors[i]);
		fail_msg("config did not load");
	}
	return c;
}

/* Load text that must fail; return the joined errors, then warnings (caller frees). */
static char *load_fail(const char *text)
{
	struct config_diag d;
	struct config *c = NULL;
	struct sbuf b = SBUF_INIT;
	int r = config_load_string("t.conf", text, &c, &d);

	assert_int_equal(r, -EINVAL);
	assert_null(c);
	assert_true(d.nerrors > 0);
	for (size_t i = 0; i < d.nerrors; i++) {
		sbuf_adds(&b, d.errors[i]);
		sbuf_addc(&b, '\n');
	}
	for (size_t i = 0; i < d.nwarnings; i++) {
		sbuf_adds(&b, d.warnings[i]);
		sbuf_addc(&b, '\n');
	}
	config_diag_done(&d);
	return sbuf_take(&b);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not found in:\n%s", needle, hay);
}

static void assert_argv(char **argv, const char **want, size_t n)
{
	assert_int_equal(strv_len(argv), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(argv[i], want[i]);
}

static bool env_contains(char **env, const char *kv)
{
	for (char **e = env; e && *e; e++)
		if (strcmp(*e, kv) == 0)
			return true;
	return false;
}

/* ---- value parsers ------------------------------------------------------- */

static void test_parse_bool(void **state)
{
	static const char *yes[] = { "true", "TRUE", "Yes", "on", "1" };
	static const char *no[] = { "false", "No", "OFF", "0" };
	bool b;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		b = false;
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		b = true;
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	assert_int_equal(parse_bool("maybe", &b), -EINVAL);
	assert_int_equal(parse_bool("", &b), -EINVAL);
	assert_int_equal(parse_bool("2", &b), -EINVAL);
}

static void test_parse_duration(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(parse_duration_ns("10", &ns), 0);
	assert_int_equal(ns, 10 * NSEC_PER_SEC);
	assert_int_equal(parse_duration_ns("1.5", &ns), 0);
	assert_int_equal(ns, 1500 * NSEC_PER_MSEC);
	assert_int_equal(parse_duration_ns("500ms", &ns), 0);
	assert_int_equal(ns, 500 * NSEC_PER_MSEC);
	assert_int_equal(parse_duration_ns("2m", &ns), 0);
	assert_int_equal(ns, 120 * NSEC_PER_SEC);
	assert_int_equal(parse_duration_ns("1h", &ns), 0);
	assert_int_equal(ns, 3600 * NSEC_PER_SEC);
	assert_int_equal(parse_duration_ns("0", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(parse_duration_ns("-1", &ns), -EINVAL);
	assert_int_equal(parse_duration_ns("1x", &ns), -EINVAL);
	assert_int_equal(parse_duration_ns("", &ns), -EINVAL);
	assert_int_equal(parse_duration_ns("nan", &ns), -EINVAL);
	assert_int_equal(parse_duration_ns("1e30", &ns), -EINVAL);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("50MB", &v), 0);
	assert_int_equal(v, 50ULL << 20);
	assert_int_equal(parse_size("1KB", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(parse_size("2gb", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("1234", &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(parse_size("MB", &v), -EINVAL);
	assert_int_equal(parse_size("-1", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &v), -EINVAL);
	assert_int_equal(parse_size("18446744073709551615TB", &v), -EINVAL);
}

static void test_split_command(void **state)
{
	const char *err;
	char **argv;

	(void)state;
	assert_int_equal(split_command("/bin/echo \"hello world\" 'x y' a\\ b \"q\\\"uote\" ''", &argv, &err), 0);
	assert_argv(argv, (const char *[]){ "/bin/echo", "hello world", "x y", "a b", "q\"uote", "" }, 6);
	strv_free(argv);
	assert_int_equal(split_command("  sh -c 'echo $HOME; exit 3'  ", &argv, &err), 0);
	assert_argv(argv, (const char *[]){ "sh", "-c", "echo $HOME; exit 3" }, 3);
	strv_free(argv);
	/* in double quotes a backslash only escapes " and \ (as shlex) */
	assert_int_equal(split_command("echo \"a\\nb\"", &argv, &err), 0);
	assert_argv(argv, (const char *[]){ "echo", "a\\nb" }, 2);
	strv_free(argv);
	assert_int_equal(split_command("echo \"open", &argv, &err), -EINVAL);
	assert_contains(err, "no closing quotation");
	assert_int_equal(split_command("echo 'open", &argv, &err), -EINVAL);
	assert_int_equal(split_command("echo \\", &argv, &err), -EINVAL);
	assert_int_equal(split_command("   ", &argv, &err), -EINVAL);
	assert_contains(err, "empty");
}

static void test_parse_environment(void **state)
{
	const char *err;
	char **env;

	(void)state;
	assert_int_equal(parse_environment("A=\"x y\",B=z , C='1,2',D=", &env, &err), 0);
	assert_argv(env, (const char *[]){ "A=x y", "B=z", "C=1,2", "D=" }, 4);
	strv_free(env);
	/* multi-line values and a later key replacing an earlier one */
	assert_int_equal(parse_environment("\nA=1,\nB=2,\nA=3", &env, &err), 0);
	assert_int_equal(strv_len(env), 2);
	assert_true(env_contains(env, "A=3"));
	assert_true(env_contains(env, "B=2"));
	strv_free(env);
	assert_int_equal(parse_environment("NOEQUALS", &env, &err), -EINVAL);
	assert_int_equal(parse_environment("A=\"open", &env, &err), -EINVAL);
	assert_int_equal(parse_environment("A=\"x\"junk", &env, &err), -EINVAL);
	assert_int_equal(parse_environment("", &env, &err), 0);
	assert_int_equal(strv_len(env), 0);
	strv_free(env);
}

/* ---- whole configs ------------------------------------------------------- */

static void test_program_defaults(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("[program:p]\ncommand=/bin/true\n", &d);
	const struct prog_config *p;

	(void)state;
	assert_int_equal(c->nprocs, 1);
	p = c->procs[0];
	assert_string_equal(p->name, "p");
	assert_string_equal(p->fullname, "p");
	assert_string_equal(p->group, "p");
	assert_int_equal(p->priority, 999);
	assert_true(p->autostart);
	assert_int_equal(p->autorestart, AUTORESTART_UNEXPECTED);
	assert_int_equal(p->startsecs_ns, 1 * NSEC_PER_SEC);
	assert_int_equal(p->startretries, 3);
	assert_true(prog_config_expected_exit(p, 0));
	assert_false(prog_config_expected_exit(p, 2));
	assert_int_equal(p->stopsignal, SIGTERM);
	assert_int_equal(p->stopwait_ns, 10 * NSEC_PER_SEC);
	assert_false(p->stopasgroup);
	assert_false(p->killasgroup);
	assert_true(p->kill_leftovers);
	assert_false(p->redirect_stderr);
	assert_int_equal(p->out.kind, LOGDEST_AUTO);
	assert_int_equal(p->err.kind, LOGDEST_AUTO);
	assert_int_equal(p->umask, 022); /* supervisord's umask */
	assert_null(p->directory);
	assert_null(p->user);
	assert_int_equal(p->restart_delay_ns, 1 * NSEC_PER_SEC);
	assert_true(p->backoff_factor == 2.0);
	assert_int_equal(p->max_backoff_ns, 60 * NSEC_PER_SEC);
	assert_int_equal(p->backoff_reset_after_ns, 60 * NSEC_PER_SEC);
	assert_int_equal(strv_len(p->depends_on), 0);
	assert_int_equal(c->socket_mode, 0600);
	assert_null(c->socket_path);
	assert_int_equal(d.nwarnings, 0);
	config_diag_done(&d);
	config_free(c);
}

static void test_every_key(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("[supervisord]\n"
				   "environment=G=1\n"
				   "umask=027\n"
				   "[program:p]\n"
				   "command=/bin/sleep 5\n"
				   "priority=-5\n"
				   "autostart=false\n"
				   "startsecs=0\n"
				   "startretries=-1\n"
				   "autorestart=true\n"
				   "exitcodes=0,2, 255\n"
				   "stopsignal=hup\n"
				   "stopwaitsecs=2.5\n"
				   "stopasgroup=false\n"
				   "killasgroup=false\n"
				   "kill_leftovers=false\n"
				   "redirect_stderr=yes\n"
				   "stdout_logfile=NONE\n"
				   "stderr_logfile=/dev/stderr\n"
				   "directory=/tmp\n"
				   "umask=077\n"
				   "user=root\n"
				   "restart_delay=250ms\n"
				   "backoff_factor=1.5\n"
				   "max_backoff=2m\n"
				   "backoff_reset_after=10\n"
				   "environment=A=1\n",
				   &d);
	const struct prog_config *p = c->procs[0];

	(void)state;
	assert_int_equal(p->priority, -5);
	assert_false(p->autostart);
	assert_int_equal(p->startsecs_ns, 0);
	assert_int_equal(p->startretries, -1);
	assert_int_equal(p->autorestart, AUTORESTART_TRUE);
	assert_true(prog_config_expected_exit(p, 2));
	assert_true(prog_config_expected_exit(p, 255));
	assert_false(prog_config_expected_exit(p, 1));
	assert_int_equal(p->stopsignal, SIGHUP);
	assert_int_equal(p->stopwait_ns, 2500 * NSEC_PER_MSEC);
	assert_false(p->stopasgroup);
	assert_false(p->killasgroup);
	assert_false(p->kill_leftovers);
	assert_true(p->redirect_stderr);
	assert_int_equal(p->out.kind, LOGDEST_NONE);
	assert_int_equal(p->err.kind, LOGDEST_STDERR);
	assert_string_equal(p->directory, "/tmp");
	assert_int_equal(p->umask, 077);
	assert_int_equal(c->umask, 027);
	assert_string_equal(p->user, "root");
	assert_int_equal(p->uid, 0);
	assert_int_equal(p->restart_delay_ns, 250 * NSEC_PER_MSEC);
	assert_true(p->backoff_factor == 1.5);
	assert_int_equal(p->max_backoff_ns, 120 * NSEC_PER_SEC);
	assert_int_equal(p->backoff_reset_after_ns, 10 * NSEC_PER_SEC);
	assert_true(env_contains(p->env, "G=1"));
	assert_true(env_contains(p->env, "A=1"));
	config_diag_done(&d);
	config_free(c);
}

static void test_comments_and_syntax(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("# hash comment\n"
				   "; semicolon comment\n"
				   "  ; indented comment\n"
				   "[program:Cmd]\n"
				   "COMMAND = /bin/echo a;b c#d ; comment\n"
				   "Autostart : Off    # comment\n"
				   "stopsignal = SIGUSR2\n"
				   "\n"
				   "[group:g]\n"
				   "programs:Cmd\n",
				   &d);
	const struct prog_config *p = c->procs[0];

	(void)state;
	/* ';' and '#' start a comment only after white space */
	assert_argv(p->argv, (const char *[]){ "/bin/echo", "a;b", "c#d" }, 3);
	assert_false(p->autostart);
	assert_int_equal(p->stopsignal, SIGUSR2);
	assert_string_equal(p->fullname, "g:Cmd");
	config_diag_done(&d);
	config_free(c);
}

static void test_expansions(void **state)
{
	struct config_diag d;
	struct config *c;
	char *e;

	(void)state;
	setenv("TEND_UNIT_X", "ex", 1);
	c = load_ok("[program:web]\n"
		    "command=/bin/echo %(program_name)s %(process_num)d %(group_name)s %(ENV_TEND_UNIT_X)s "
		    "%(numprocs)d 100%% 50%\n"
		    "process_name=%(program_name)s_%(process_num)02d\n"
		    "numprocs=3\n"
		    "numprocs_start=8\n"
		    "environment=PORT=80%(process_num)02d,HERE=%(here)s\n",
		    &d);
	assert_int_equal(c->nprocs, 3);
	assert_string_equal(c->procs[0]->fullname, "web:web_08");
	assert_string_equal(c->procs[1]->fullname, "web:web_09");
	assert_string_equal(c->procs[2]->fullname, "web:web_10");
	assert_argv(c->procs[2]->argv,
		    (const char *[]){ "/bin/echo", "web", "10", "web", "ex", "3", "100%", "50%" }, 8);
	assert_true(env_contains(c->procs[0]->env, "PORT=8008"));
	assert_true(env_contains(c->procs[2]->env, "PORT=8010"));
	assert_int_equal(c->procs[1]->num, 9);
	config_diag_done(&d);
	config_free(c);
	unsetenv("TEND_UNIT_X");
	/* a width up to 64 pads; beyond, an error at once (snprintf would pad a GB) */
	c = load_ok("[program:w]\ncommand=/bin/echo x%(process_num)064dx\n", &d);
	assert_int_equal(strlen(c->procs[0]->argv[1]), 66);
	config_diag_done(&d);
	config_free(c);
	e = load_fail("[program:w]\ncommand=/bin/echo %(process_num)999999999d\n");
	assert_contains(e, "t.conf:2: command: format width or precision in '%(process_num)999999999d' is too large (at most 64)");
	free(e);
	e = load_fail("[program:w]\ncommand=/bin/echo %(program_name).65s\n");
	assert_contains(e, "too large (at most 64)");
	free(e);
}

static void test_long_lines_and_names(void **state)
{
	struct sbuf text = SBUF_INIT, want = SBUF_INIT;
	struct config_diag d;
	struct config *c;
	char name[61];

	(void)state;
	memset(name, 'n', 60);
	name[60] = '\0';
	sbuf_printf(&text, "[program:%s]\ncommand=/bin/echo", name);
	for (int i = 0; i < 60; i++) {
		sbuf_printf(&text, " word%02d", i);
		sbuf_printf(&want, "word%02d%s", i, i < 59 ? " " : "");
	}
	sbuf_adds(&text, "   ; comment at the end of a 440-byte line\n");
	sbuf_adds(&text, "environment=LONG=\"");
	for (int i = 0; i < 50; i++)
		sbuf_adds(&text, "abc def ");
	sbuf_adds(&text, "\"\nstartsecs=7\n");
	c = load_ok(text.s, &d);
	assert_int_equal(c->nprocs, 1);
	assert_string_equal(c->procs[0]->name, name);
	assert_int_equal(strv_len(c->procs[0]->argv), 61);
	assert_string_equal(c->procs[0]->argv[60], "word59");
	{
		struct sbuf joined = SBUF_INIT;

		for (int i = 1; i <= 60; i++) {
			sbuf_adds(&joined, c->procs[0]->argv[i]);
			if (i < 60)
				sbuf_addc(&joined, ' ');
		}
		assert_string_equal(joined.s, want.s);
		sbuf_done(&joined);
	}
	/* quotes keep the trailing blank */
	assert_int_equal(strlen(c->procs[0]->env[strv_len(c->procs[0]->env) - 1]), strlen("LONG=") + 400);
	assert_int_equal(c->procs[0]->startsecs_ns, 7 * NSEC_PER_SEC);
	config_diag_done(&d);
	config_free(c);
	sbuf_done(&text);
	sbuf_done(&want);
}

static void test_continuation_lines(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("[program:p]\n"
				   "command=/bin/true\n"
				   "environment=\n"
				   "    A=1,\n"
				   "    ; a comment inside\n"
				   "    B=\"two words\"\n"
				   "priority=3\n",
				   &d);

	(void)state;
	assert_true(env_contains(c->procs[0]->env, "A=1"));
	assert_true(env_contains(c->procs[0]->env, "B=two words"));
	assert_int_equal(c->procs[0]->priority, 3);
	config_diag_done(&d);
	config_free(c);
}

static void test_duplicate_keys_and_sections_merge(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("[program:p]\ncommand=/bin/a\npriority=1\n"
				   "[program:p]\npriority=2\ncommand=/bin/b\n",
				   &d);

	(void)state;
	assert_int_equal(c->nprocs, 1);
	assert_string_equal(c->procs[0]->argv[0], "/bin/b");
	assert_int_equal(c->procs[0]->priority, 2);
	config_diag_done(&d);
	config_free(c);
}

static void test_errors_have_file_and_line(void **state)
{
	char *e = load_fail("[program:a]\n"                  /* 1 */
			    "command=/bin/true\n"            /* 2 */
			    "autostart=maybe\n"              /* 3 */
			    "stopsignal=NOPE\n"              /* 4 */
			    "comand=typo\n"                  /* 5 */
			    "startsecs=soon\n"               /* 6 */
			    "exitcodes=0,256\n"              /* 7 */
			    "umask=999\n"                    /* 8 */
			    "backoff_factor=0.5\n"           /* 9 */
			    "not a key value line\n"         /* 10 */
			    "[program:b\n"                   /* 11 */
			    "[program:c]\n"                  /* 12 */
			    "command=\"open\n"               /* 13 */
			    "autorestart=sometimes\n"        /* 14 */
			    "[program:d]\n"                  /* 15 */
			    "priority=1\n"                   /* 16 */
			    "[program:e]\n"                  /* 17 */
			    "command=/bin/true\n"            /* 18 */
			    "user=no-such-user-here\n"       /* 19 */
			    "[supervisord]\n"                /* 20 */
			    "user=999999999\n");             /* 21 */

	(void)state;
	assert_contains(e, "t.conf:3: autostart: 'maybe' is not a boolean");
	assert_contains(e, "t.conf:4: stopsignal: 'NOPE' is not a signal name or number");
	/* an unknown key is a warning (supervisord ignores it), with a "did you mean" */
	assert_contains(e, "t.conf:5: warning: unknown key 'comand' in [program:a] (did you mean 'command'?)");
	assert_contains(e, "t.conf:6: startsecs: 'soon' is not a duration");
	assert_contains(e, "t.conf:7: exitcodes: '0,256'");
	assert_contains(e, "t.conf:8: umask: '999' is not an octal mode");
	assert_contains(e, "t.conf:9: backoff_factor: '0.5'");
	assert_contains(e, "t.conf:10: not a key = value line (nor a [section])");
	assert_contains(e, "t.conf:11: not a [section] line: no closing ']'");
	assert_contains(e, "t.conf:13: command: no closing quotation");
	assert_contains(e, "t.conf:14: autorestart: 'sometimes' is not true, false or unexpected");
	assert_contains(e, "t.conf:15: [program:d] needs 'command ='");
	assert_contains(e, "t.conf:19: user: no such user 'no-such-user-here'");
	assert_contains(e, "t.conf:21: user: no such user '999999999'");
	/* sorted by line */
	assert_true(strstr(e, "t.conf:3:") < strstr(e, "t.conf:15:"));
	free(e);
}

static void test_expansion_errors(void **state)
{
	char *e;

	(void)state;
	unsetenv("TEND_UNIT_UNSET");
	e = load_fail("[program:a]\ncommand=/bin/echo %(nope)s\n");
	assert_contains(e, "t.conf:2: command: %(nope)s: unknown name");
	free(e);
	e = load_fail("[program:a]\ncommand=/bin/echo %(ENV_TEND_UNIT_UNSET)s\n");
	assert_contains(e, "environment variable 'TEND_UNIT_UNSET' is not set");
	free(e);
	e = load_fail("[program:a]\ncommand=/bin/echo %(program_name\n");
	assert_contains(e, "t.conf:2: command: unterminated '%(' expansion");
	free(e);
	e = load_fail("[program:a]\ncommand=/bin/echo %(program_name)d\n");
	assert_contains(e, "a number is required");
	free(e);
	e = load_fail("[program:a]\ncommand=/bin/true\nnumprocs=2\n");
	assert_contains(e, "numprocs = 2 needs %(process_num) in process_name");
	free(e);
}

static void test_groups_and_depends(void **state)
{
	struct config_diag d;
	struct config *c;
	char *e;

	(void)state;
	c = load_ok("[group:g]\nprograms=a, b\npriority=5\n"
		    "[program:a]\ncommand=/bin/true\n"
		    "[program:b]\ncommand=/bin/true\ndepends_on=c\n"
		    "[program:c]\ncommand=/bin/true\n",
		    &d);
	assert_string_equal(c->procs[0]->fullname, "g:a");
	assert_string_equal(c->procs[1]->fullname, "g:b");
	assert_string_equal(c->procs[2]->fullname, "c");
	assert_string_equal(c->procs[1]->depends_on[0], "c");
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i]->name, "g") == 0)
			assert_int_equal(c->groups[i]->priority, 5);
	config_diag_done(&d);
	config_free(c);

	e = load_fail("[program:a]\ncommand=/bin/true\ndepends_on=b\n"
		      "[program:b]\ncommand=/bin/true\ndepends_on=c\n"
		      "[program:c]\ncommand=/bin/true\ndepends_on=a\n");
	assert_contains(e, "depends_on cycle: a -> b -> c -> a");
	free(e);
	e = load_fail("[program:a]\ncommand=/bin/true\ndepends_on=ghost\n");
	assert_contains(e, "t.conf:1: depends_on: 'ghost' (in [program:a]) is not a program");
	free(e);
	e = load_fail("[group:g]\nprograms=a,ghost\n[program:a]\ncommand=/bin/true\n");
	assert_contains(e, "[group:g] lists 'ghost', which is not a program");
	free(e);
	e = load_fail("[group:g]\nprograms=a\n[group:h]\nprograms=a\n[program:a]\ncommand=/bin/true\n");
	assert_contains(e, "program 'a' is in two groups, 'g' and 'h'");
	free(e);
	e = load_fail("[group:g]\nprograms=a,b\n[program:a]\ncommand=/bin/true\nprocess_name=x\n"
		      "[program:b]\ncommand=/bin/true\nprocess_name=x\n");
	assert_contains(e, "process name 'g:x' is used twice");
	free(e);
	e = load_fail("[program:a:b]\ncommand=/bin/true\n");
	assert_contains(e, "invalid program name 'a:b'");
	free(e);
}

/* maps=: the list, each entry's defaults and options, and every kind of bad value at its line */
static void test_maps_key(void **state)
{
	static const struct {
		const char *value, *error;
	} bad[] = {
		{ "sessions", "'sessions': is not NAME:SIZE" },
		{ "sessions:lots", "'sessions:lots': the size is not 64K..64G" },
		{ "sessions:1K", "the size is not 64K..64G" },
		{ "sessions:65G", "the size is not 64K..64G" },
		{ "Sessions:1M", "the name is not [a-z][a-z0-9_]*" },
		{ "9s:1M", "the name is not" },
		{ "se-ss:1M", "the name is not" },
		{ "abcdefghijklmnopqrstuvwxy:1M", "the name is not" },
		{ "a:1M:value=32M", "value= is not a size 1..16M" },
		{ "a:1M:items=0", "items= is not a number" },
		{ "a:1M:mode=0666", "mode= is not 0600, 0640 or 0660" },
		{ "a:1M:evict", "unknown option" },
		{ "a:1M, b:1M, a:2M", "'a:2M': the name is there twice" },
	};
	struct config_diag d;
	struct config *c = load_ok("[program:web]\ncommand=/bin/true\nmaps = sessions:64M, flags:1M:value=256:noevict"
				   ":items=100:mode=0660\n[program:none]\ncommand=/bin/true\nmaps =\n",
				   &d);
	const struct map_spec *m = c->procs[0]->maps;

	(void)state;
	assert_non_null(m);
	assert_string_equal(m[0].name, "sessions");
	assert_true(m[0].size == 64u << 20);
	assert_true(m[0].items == (64u << 20) / 128);
	assert_true(m[0].max_value == 4096);
	assert_false(m[0].noevict);
	assert_int_equal(m[0].mode, 0600);
	assert_string_equal(m[1].name, "flags");
	assert_true(m[1].size == 1u << 20);
	assert_true(m[1].items == 100);
	assert_true(m[1].max_value == 256);
	assert_true(m[1].noevict);
	assert_int_equal(m[1].mode, 0660);
	assert_null(m[2].name);
	assert_null(c->procs[1]->maps);
	config_free(c);
	config_diag_done(&d);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *text = xasprintf("[program:web]\ncommand=/bin/true\n\nmaps = %s\n", bad[i].value);
		char *e = load_fail(text);

		assert_contains(e, "t.conf:4: ");
		assert_contains(e, "maps");
		assert_contains(e, bad[i].error);
		free(e);
		free(text);
	}
}

static void test_pool_keys(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("[program:web]\ncommand=/bin/true\nprocess_name=w%(process_num)d\n"
				   "numprocs=2\nnumprocs_min=1\nnumprocs_max=4\nscale_interval=2\n"
				   "listen=tcp://127.0.0.1:8000\nready=http://127.0.0.1:8000/up\n"
				   "drain_secs=1.5\nready_timeout=9\n"
				   "[program:n]\ncommand=/bin/true\nready=notify\nlisten=unix:/run/x.sock\n"
				   "[program:a]\ncommand=/bin/true\nprocess_name=a%(process_num)d\nnumprocs=auto:io\n",
				   &d);
	char *e;

	(void)state;
	assert_int_equal(c->nprocs, 4 + 1 + 2 * sysconf(_SC_NPROCESSORS_ONLN));
	for (int i = 0; i < 4; i++) {
		const struct prog_config *pc = c->procs[i];

		assert_int_equal(pc->pool_min, 1);
		assert_int_equal(pc->pool_max, 4);
		assert_int_equal(pc->scale_target, 70);
		assert_true(pc->scale_interval_ns == 2 * NSEC_PER_SEC);
		assert_true(pc->scale_cooldown_ns == 6 * NSEC_PER_SEC);
		assert_int_equal(pc->autostart, i < 2); /* numprocs = 2 run at first */
		assert_int_equal(pc->pool_spare, i >= 2);
		assert_int_equal(pc->listen_kind, LISTEN_TCP);
		assert_string_equal(pc->listen_host, "127.0.0.1");
		assert_int_equal(pc->listen_port, 8000);
		assert_int_equal(pc->ready_kind, READY_HTTP);
		assert_string_equal(pc->ready_path, "/up");
		assert_true(pc->drain_ns == 1500 * NSEC_PER_MSEC);
		assert_true(pc->ready_timeout_ns == 9 * NSEC_PER_SEC);
	}
	assert_int_equal(c->procs[4]->ready_kind, READY_NOTIFY);
	assert_int_equal(c->procs[4]->listen_kind, LISTEN_UNIX);
	assert_string_equal(c->procs[4]->listen_path, "/run/x.sock");
	assert_int_equal(c->procs[4]->pool_max, 0);
	config_diag_done(&d);
	config_free(c);

	c = load_ok("[program:v6]\ncommand=/bin/true\nlisten=tcp://[::1]:8080\nready=tcp:9000\n", &d);
	assert_string_equal(c->procs[0]->listen_host, "::1");
	assert_int_equal(c->procs[0]->listen_port, 8080);
	assert_string_equal(c->procs[0]->ready_host, "127.0.0.1");
	assert_int_equal(c->procs[0]->ready_port, 9000);
	config_diag_done(&d);
	config_free(c);

	e = load_fail("[program:p]\ncommand=/bin/true\nprocess_name=p%(process_num)d\nnumprocs_min=2\n");
	assert_contains(e, "t.conf:4: numprocs_min needs numprocs_max");
	free(e);
	e = load_fail("[program:p]\ncommand=/bin/true\nprocess_name=p%(process_num)d\nnumprocs_min=3\nnumprocs_max=2\n");
	assert_contains(e, "numprocs_min (3) is above numprocs_max (2)");
	free(e);
	e = load_fail("[program:p]\ncommand=/bin/true\nnumprocs_max=2\n");
	assert_contains(e, "needs %(process_num) in process_name");
	free(e);
	e = load_fail("[program:p]\ncommand=/bin/true\nlisten=udp://1.2.3.4:5\n");
	assert_contains(e, "t.conf:3: listen: 'udp://1.2.3.4:5' is not tcp://[HOST:]PORT or unix:PATH");
	free(e);
	e = load_fail("[program:p]\ncommand=/bin/true\nready=http://nohost/x\n");
	assert_contains(e, "t.conf:3: ready: 'http://nohost/x' is not http://HOST:PORT/path");
	free(e);
	e = load_fail("[program:p]\ncommand=/bin/true\nready=sometimes\n");
	assert_contains(e, "is not tcp:PORT, http://HOST:PORT/path, exec:COMMAND or notify");
	free(e);
}

static void test_warnings_for_unused_keys(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("[unix_http_server]\nusername=admin\n"
				   "[rpcinterface:supervisor]\n"
				   "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
				   "[program:p]\ncommand=/bin/true\n"
				   "[supervisorctl]\nhistory_file=~/.sc_history\n"
				   "prompt=\n"
				   "[weird]\nx=1\n",
				   &d);
	struct sbuf all = SBUF_INIT;

	(void)state;
	for (size_t i = 0; i < d.nwarnings; i++) {
		sbuf_adds(&all, d.warnings[i]);
		sbuf_addc(&all, '\n');
	}
	assert_contains(all.s, "t.conf:2: warning: 'username' in [unix_http_server]");
	/* tend serves supervisord's own RPC interface: its section is no news */
	assert_null(strstr(all.s, "rpcinterface"));
	assert_contains(all.s, "t.conf:8: warning: 'history_file' in [supervisorctl]");
	assert_contains(all.s, "t.conf:9: warning: 'prompt' in [supervisorctl]");
	assert_contains(all.s, "t.conf:10: warning: unknown section [weird]");
	assert_int_equal(d.nwarnings, 4);
	sbuf_done(&all);
	config_diag_done(&d);
	config_free(c);
}

/* Files: includes (relative, sorted), %(here)s, log directories, socket peek. */
static void test_files(void **state)
{
	char dir[] = "/tmp/tend-unit-XXXXXX", path[256], *sock = NULL;
	struct config_diag d;
	struct config *c;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/conf.d", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/conf.d/b.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[program:b]\ncommand=/bin/true\nstdout_logfile=%%(here)s/b.log\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/conf.d/a.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[program:a]\ncommand=/bin/true\nbogus=1\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[unix_http_server]\nfile=%%(here)s/t.sock\nchmod=0660\n"
		   "[include]\nfiles=conf.d/*.conf nothing/*.conf\n");
	fclose(f);

	/* the warning is reported in the included file, at its line; strict makes it an error */
	assert_int_equal(config_load(path, &c, &d), 0);
	assert_int_equal(d.nerrors, 0);
	assert_int_equal(d.nwarnings, 1);
	assert_contains(d.warnings[0], "conf.d/a.conf:3: warning: unknown key 'bogus'");
	config_diag_done(&d);
	config_free(c);
	assert_int_equal(config_load_flags(path, CONFIG_STRICT, &c, &d), -EINVAL);
	assert_int_equal(d.nerrors, 1);
	assert_int_equal(d.nwarnings, 0);
	assert_contains(d.errors[0], "conf.d/a.conf:3: strict: unknown key 'bogus'");
	config_diag_done(&d);

	snprintf(path, sizeof(path), "%s/conf.d/a.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[program:a]\ncommand=/bin/true\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	assert_int_equal(config_load(path, &c, &d), 0);
	assert_int_equal(c->nprocs, 2);
	assert_string_equal(c->procs[0]->name, "a"); /* sorted glob */
	assert_string_equal(c->procs[1]->name, "b");
	snprintf(path, sizeof(path), "%s/conf.d/b.log", dir);
	assert_string_equal(c->procs[1]->out.path, path);
	assert_int_equal(c->socket_mode, 0660);
	snprintf(path, sizeof(path), "%s/t.sock", dir);
	assert_string_equal(c->socket_path, path);
	config_diag_done(&d);
	config_free(c);

	snprintf(path, sizeof(path), "%s/main.conf", dir);
	assert_int_equal(config_load_socket(path, &sock), 0);
	snprintf(path, sizeof(path), "%s/t.sock", dir);
	assert_string_equal(sock, path);
	free(sock);

	/* a log file in a directory that does not exist is an error */
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[program:x]\ncommand=/bin/true\nstdout_logfile=/nonexistent/dir/x.log\n");
	fclose(f);
	assert_int_equal(config_load(path, &c, &d), -EINVAL);
	assert_contains(d.errors[0], "main.conf:3: stdout_logfile: the directory of '/nonexistent/dir/x.log' does not exist");
	config_diag_done(&d);

	assert_int_equal(config_load("/nonexistent/tend.conf", &c, &d), -ENOENT);
	assert_contains(d.errors[0], "cannot read the config");
	config_diag_done(&d);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

/* The socket config_load_socket finds in path is want. */
static void assert_socket_of(const char *path, const char *want)
{
	char *sock = NULL;

	assert_int_equal(config_load_socket(path, &sock), 0);
	assert_string_equal(sock, want);
	free(sock);
}

/*
 * The CLI finding its socket skims the sections it does not read: what looks
 * like the socket key inside them (a key, a continuation line) is not taken,
 * and a section it reads may come after thousands of others, or twice.
 */
static void test_socket_skims_other_sections(void **state)
{
	char dir[] = "/tmp/tend-unit-XXXXXX", path[256], want[256];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[unix_http_server]\nchmod=0660\n");
	for (int i = 0; i < 2000; i++)
		fprintf(f, "[program:p%d]\ncommand=/bin/true\nfile=/wrong%d.sock\n"
			   "environment=A=1,\n  file=/wrong.sock\n\n; [unix_http_server]\n", i, i);
	fprintf(f, "  [unix_http_server]\nfile=%%(here)s/right.sock\n[program:z]\nfile=/wrong.sock\n");
	fclose(f);
	snprintf(want, sizeof(want), "%s/right.sock", dir);
	assert_socket_of(path, want);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

/*
 * The skim jumps from '[' to '[' (lex.c skim_ahead): a '[' inside a line, a
 * header with a comment or a control character after it (left to the
 * lexer), a tab after a header, none of them taken for the socket's section
 * (which comes first: a later one would win); and an [include] found after
 * thousands of passed sections, whose file names the socket.
 */
static void test_socket_skim_jumps(void **state)
{
	char dir[] = "/tmp/tend-unit-XXXXXX", path[256], inc[256], want[256];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[unix_http_server]\nfile=%s/right.sock\n", dir);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "[program:p%d]\t\ncommand=/bin/echo [unix_http_server]\nfile=/wrong%d.sock\n"
			   "[program:c%d] ; [unix_http_server]\nfile=/wrong.sock\n[program:\x01%d]\nfile=/wrong.sock\n"
			   "[unix_http_server2]\nfile=/wrong.sock\n",
			i, i, i, i);
	fclose(f);
	snprintf(want, sizeof(want), "%s/right.sock", dir);
	assert_socket_of(path, want);

	snprintf(inc, sizeof(inc), "%s/more.conf", dir);
	f = fopen(inc, "w");
	fprintf(f, "[program:in]\ncommand=/bin/true\n[unix_http_server]\nfile=%s/inc.sock\n", dir);
	fclose(f);
	f = fopen(path, "w");
	fprintf(f, "[supervisorctl]\nprompt=x\n");
	for (int i = 0; i < 3000; i++)
		fprintf(f, "[program:p%d]\ncommand=/bin/true\n", i);
	fprintf(f, "[include]\nfiles=%s\n[program:z]\nfile=/wrong.sock\n", inc);
	fclose(f);
	snprintf(want, sizeof(want), "%s/inc.sock", dir);
	assert_socket_of(path, want);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

/* supervisord ignores keys it does not know: tend warns (did you mean), strict makes it an error. */
static void test_unknown_keys_warn_strict_refuses(void **state)
{
	static const char *const text = "[program:web]\n"              /* 1 */
					"command=/bin/true\n"          /* 2 */
					"username=www-data\n"          /* 3: PrivateBin */
					"logfile_maxbytes=0\n"         /* 4: Horizon */
					"autostrat=false\n"            /* 5 */
					"[weird]\n"                    /* 6 */
					"x=1\n";                       /* 7 */
	struct config_diag d;
	struct config *c;
	struct sbuf strict = SBUF_INIT;
	char *e;

	(void)state;
	/* lenient: loads, every unknown key and section is a warning at its line */
	c = load_ok(text, &d);
	assert_int_equal(c->nprocs, 1);
	assert_true(c->procs[0]->autostart);
	assert_false(c->strict);
	assert_int_equal(d.nwarnings, 4);
	assert_contains(d.warnings[0], "t.conf:3: warning: unknown key 'username' in [program:web]");
	assert_contains(d.warnings[1], "t.conf:4: warning: unknown key 'logfile_maxbytes' in [program:web]");
	assert_contains(d.warnings[2],
			"t.conf:5: warning: unknown key 'autostrat' in [program:web] (did you mean 'autostart'?)");
	assert_contains(d.warnings[3], "t.conf:6: warning: unknown section [weird] ignored");
	config_diag_done(&d);
	config_free(c);

	/* a key or section that is not a name (a line of some other file) is never shown */
	c = load_ok("[program:web]\ncommand=/bin/true\nhunter2 hunter2!=x\n[$6$secret hash]\n", &d);
	assert_int_equal(d.nwarnings, 2);
	assert_contains(d.warnings[0], "t.conf:3: warning: unknown key '(not shown: not a name)' in [program:web]");
	assert_contains(d.warnings[1], "t.conf:4: warning: unknown section [(not shown: not a name)] ignored");
	config_diag_done(&d);
	config_free(c);

	/* strict = true in [tend] (or [supervisord]): the same four are errors, nothing loads */
	sbuf_printf(&strict, "%s[tend]\nstrict = true\n", text);
	e = load_fail(strict.s);
	assert_contains(e, "t.conf:3: strict: unknown key 'username' in [program:web]");
	assert_contains(e, "t.conf:5: strict: unknown key 'autostrat' in [program:web] (did you mean 'autostart'?)");
	assert_contains(e, "t.conf:6: strict: unknown section [weird] ignored");
	assert_null(strstr(e, "warning:"));
	free(e);
	sbuf_reset(&strict);
	sbuf_printf(&strict, "[supervisord]\nstrict=yes\n[program:a]\ncommand=/bin/true\n[supervisorctl]\nprompt=x\n");
	e = load_fail(strict.s);
	assert_contains(e, "t.conf:6: strict: 'prompt' in [supervisorctl] is a supervisord setting");
	free(e);

	/* strict = false, or a config without warnings, loads */
	sbuf_reset(&strict);
	sbuf_printf(&strict, "[tend]\nstrict=false\n[program:a]\ncommand=/bin/true\nbogus=1\n");
	c = load_ok(strict.s, &d);
	assert_int_equal(d.nwarnings, 1);
	config_diag_done(&d);
	config_free(c);
	c = load_ok("[tend]\nstrict=true\n[program:a]\ncommand=/bin/true\n", &d);
	assert_true(c->strict);
	assert_int_equal(d.nwarnings, 0);
	config_diag_done(&d);
	config_free(c);

	/* a log file in a directory that does not exist stays an error without strict (supervisord refuses it too) */
	e = load_fail("[program:a]\ncommand=/bin/true\nstdout_logfile=/nonexistent/dir/a.log\n");
	assert_contains(e, "t.conf:3: stdout_logfile: the directory of '/nonexistent/dir/a.log' does not exist");
	free(e);
	sbuf_done(&strict);
}

/* Many sections: names are found through hash indexes (sections, programs, groups, unique names). */
static void test_many_programs(void **state)
{
	struct sbuf text = SBUF_INIT;
	struct config_diag d;
	struct config *c;
	char *e;

	(void)state;
	/* p0 <- p1 <- ... <- p499, each depending on the one before; [program:p7] said twice merges */
	for (int i = 0; i < 500; i++)
		sbuf_printf(&text, "[program:p%d]\ncommand=/bin/true\n%s%d\n", i, i ? "depends_on=p" : "priority=",
			    i ? i - 1 : 1);
	sbuf_adds(&text, "[program:p7]\npriority=70\n");
	c = load_ok(text.s, &d);
	assert_int_equal(c->nprocs, 500);
	assert_int_equal(c->ngroups, 500);
	assert_int_equal(c->procs[7]->priority, 70);
	assert_string_equal(c->procs[499]->depends_on[0], "p498");
	assert_non_null(config_group(c, "p499"));
	config_diag_done(&d);
	config_free(c);

	/* a cycle through all of them, and a name used twice far apart (group g: x1 at line 1507, x2 at 1510) */
	sbuf_adds(&text, "[program:p0]\ndepends_on=p499\n"
			 "[group:g]\nprograms=p3,x1,x2\n"
			 "[program:x1]\ncommand=/bin/true\nprocess_name=same\n"
			 "[program:x2]\ncommand=/bin/true\nprocess_name=same\n");
	e = load_fail(text.s);
	assert_contains(e, "depends_on cycle: p0 -> p499 -> p498");
	assert_contains(e, "t.conf:1510: process name 'g:same' is used twice (also at t.conf:1507)");
	free(e);
	sbuf_done(&text);
}

static void test_socket_from_serverurl(void **state)
{
	struct config_diag d;
	struct config *c = load_ok("[supervisorctl]\nserverurl=unix:///run/x/y.sock\n", &d);
	char *s = config_socket_path(c);

	(void)state;
	assert_string_equal(s, "/run/x/y.sock");
	free(s);
	config_diag_done(&d);
	config_free(c);
}

/* [eventlistener:x] and [fcgi-program:x]: the program table plus their own keys and rules. */
static void test_listener_and_fcgi_sections(void **state)
{
	struct config_diag d;
	struct config *c;
	const struct prog_config *l, *f;
	char *e;

	(void)state;
	c = load_ok("[eventlistener:mon]\n"
		    "command=/bin/cat\n"
		    "events=PROCESS_STATE_EXITED, tick_60\n"
		    "buffer_size=50\n"
		    "result_handler=supervisor_stdout:event_handler\n"
		    "[fcgi-program:daphne]\n"
		    "command=/bin/sleep 9\n"
		    "socket=tcp://127.0.0.1:9000\n"
		    "numprocs=4\n"
		    "process_name=asgi%(process_num)d\n"
		    "socket_backlog=128\n"
		    "[program:web]\n"
		    "command=/bin/sleep 9\n",
		    &d);
	assert_int_equal(c->nprocs, 6);
	l = c->procs[0];
	assert_int_equal(l->kind, PROC_LISTENER);
	assert_int_equal(l->events, (1u << 1) | (1u << 16)); /* EXITED, TICK_60 */
	assert_int_equal(l->buffer_size, 50);
	assert_int_equal(l->priority, -1); /* listeners start first */
	assert_int_equal(l->result_handler, RESULT_HANDLER_STDOUT);
	f = c->procs[1];
	assert_int_equal(f->kind, PROC_FCGI);
	assert_int_equal(f->listen_kind, LISTEN_TCP);
	assert_string_equal(f->listen_host, "127.0.0.1");
	assert_int_equal(f->listen_port, 9000);
	assert_int_equal(f->socket_backlog, 128);
	assert_int_equal(f->socket_mode, -1);
	assert_int_equal(f->socket_uid, -1);
	assert_string_equal(c->procs[4]->name, "asgi3");
	assert_int_equal(c->procs[5]->kind, PROC_PROGRAM);
	assert_int_equal(c->procs[5]->priority, 999);
	assert_int_equal(d.nwarnings, 0);
	config_diag_done(&d);
	config_free(c);

	c = load_ok("[fcgi-program:php]\ncommand=/bin/sleep 9\nsocket=unix:///run/php/%(program_name)s.sock\n"
		    "socket_owner=root:root\nsocket_mode=0660\n",
		    &d);
	assert_int_equal(c->procs[0]->listen_kind, LISTEN_UNIX);
	assert_string_equal(c->procs[0]->listen_path, "/run/php/php.sock");
	assert_int_equal(c->procs[0]->socket_mode, 0660);
	assert_int_equal(c->procs[0]->socket_uid, 0);
	assert_int_equal(c->procs[0]->socket_gid, 0);
	config_diag_done(&d);
	config_free(c);

	/* what supervisord refuses, tend refuses, at the key */
	e = load_fail("[eventlistener:m]\ncommand=/bin/cat\n");
	assert_contains(e, "[eventlistener:m] needs 'events ='");
	free(e);
	e = load_fail("[eventlistener:m]\ncommand=/bin/cat\nevents=PROCESS_STATE,NOPE\n");
	assert_contains(e, "t.conf:3: events: unknown event type 'NOPE'");
	free(e);
	e = load_fail("[eventlistener:m]\ncommand=/bin/cat\nevents=TICK_5\nredirect_stderr=true\n");
	assert_contains(e, "t.conf:4: redirect_stderr = true is not allowed in [eventlistener:m]");
	free(e);
	e = load_fail("[eventlistener:m]\ncommand=/bin/cat\nevents=TICK_5\nresult_handler=mymod:handler\n");
	assert_contains(e, "t.conf:4: result_handler: 'mymod:handler' is not a result handler tend has");
	free(e);
	e = load_fail("[eventlistener:m]\ncommand=/bin/cat\nevents=TICK_5\nbuffer_size=0\n");
	assert_contains(e, "t.conf:4: buffer_size:");
	free(e);
	e = load_fail("[fcgi-program:f]\ncommand=/bin/cat\n");
	assert_contains(e, "[fcgi-program:f] needs 'socket ='");
	free(e);
	e = load_fail("[fcgi-program:f]\ncommand=/bin/cat\nsocket=tcp://127.0.0.1:9000\nsocket_mode=0600\n");
	assert_contains(e, "t.conf:4: socket_mode is only for a unix:// socket");
	free(e);
	e = load_fail("[fcgi-program:f]\ncommand=/bin/cat\nsocket=unix://relative.sock\n");
	assert_contains(e, "t.conf:3: socket: 'unix://relative.sock' is not tcp://HOST:PORT or unix:///ABSOLUTE/PATH");
	free(e);
	e = load_fail("[group:g]\nprograms=m\n[eventlistener:m]\ncommand=/bin/cat\nevents=TICK_5\n");
	assert_contains(e, "an [eventlistener]");
	free(e);
	/* a listener's key in a program is unknown there: a warning */
	c = load_ok("[program:p]\ncommand=/bin/cat\nevents=TICK_5\n", &d);
	assert_int_equal(d.nwarnings, 1);
	assert_contains(d.warnings[0], "t.conf:3: warning: unknown key 'events' in [program:p]");
	config_diag_done(&d);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_split_command),
		cmocka_unit_test(test_parse_environment),
		cmocka_unit_test(test_program_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_comments_and_syntax),
		cmocka_unit_test(test_expansions),
		cmocka_unit_test(test_long_lines_and_names),
		cmocka_unit_test(test_continuation_lines),
		cmocka_unit_test(test_duplicate_keys_and_sections_merge),
		cmocka_unit_test(test_errors_have_file_and_line),
		cmocka_unit_test(test_expansion_errors),
		cmocka_unit_test(test_groups_and_depends),
		cmocka_unit_test(test_warnings_for_unused_keys),
		cmocka_unit_test(test_pool_keys),
		cmocka_unit_test(test_maps_key),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_socket_skims_other_sections),
		cmocka_unit_test(test_socket_skim_jumps),
		cmocka_unit_test(test_socket_from_serverurl),
		cmocka_unit_test(test_unknown_keys_warn_strict_refuses),
		cmocka_unit_test(test_listener_and_fcgi_sections),
		cmocka_unit_test(test_many_programs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
