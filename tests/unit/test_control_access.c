/*
 * The control socket's rights decision (control_rights, control-access.c),
 * with a struct control and struct conn made by hand: who may write, read
 * or see status on the unix socket (uid, gid, chown=) and over TCP
 * (credentials, plain and {SHA}, the failed-login budget per address, the
 * Host check, anonymous_read).  The same rules run end to end in
 * tests/e2e/security.bats and control.bats; here every branch is reached
 * without a daemon.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/control-internal.h"

static struct control ctl;

static void reset(void)
{
	control_set_credentials(&ctl, NULL, NULL);
	memset(&ctl, 0, sizeof(ctl));
	ctl.sock_gid = 4242;
	ctl.tcp_port = 9001;
	snprintf(ctl.hostname, sizeof(ctl.hostname), "box.example");
}

static struct request rights(bool tcp, uid_t uid, gid_t gid, const char *peer, const char *auth,
			     const char *host)
{
	struct conn c = { .ctl = &ctl, .tcp = tcp, .uid = uid, .gid = gid, .pid = 0 };
	struct request req = { .authorization = auth, .host = host };

	snprintf(c.peer, sizeof(c.peer), "%s", peer);
	control_rights(&c, &req);
	return req;
}

static void test_unix_socket(void **state)
{
	struct request r;
	uid_t stranger = geteuid() == 0 ? 54321 : 0;

	(void)state;
	reset();
	r = rights(false, geteuid(), 1, "", NULL, NULL);
	assert_true(r.may_write && r.may_read && r.may_status);
	r = rights(false, 0, 1, "", NULL, NULL);
	assert_true(r.may_write);
	/* the socket's group reads, nothing more */
	r = rights(false, 54321, 4242, "", NULL, NULL);
	assert_false(r.may_write);
	assert_true(r.may_read && r.may_status);
	/* anyone else (a mode 0666 socket): nothing */
	if (stranger != 0) {
		r = rights(false, stranger, 1, "", NULL, NULL);
		assert_false(r.may_write || r.may_read || r.may_status);
	}
	/* chown=: the owner writes */
	ctl.chowned = true;
	ctl.owner_uid = 54321;
	r = rights(false, 54321, 1, "", NULL, NULL);
	assert_true(r.may_write && r.may_read);
	r = rights(false, 54322, 1, "", NULL, NULL);
	assert_false(r.may_write || r.may_read);
	/* the unix socket never looks at credentials or Host */
	assert_false(r.need_auth || r.wrong_host);
}

static void test_tcp_without_credentials(void **state)
{
	struct request r;

	(void)state;
	reset();
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", NULL, "127.0.0.1:9001");
	assert_true(r.may_status);
	assert_false(r.may_read || r.may_write || r.need_auth || r.wrong_host);
	control_set_anonymous_read(&ctl, true);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", NULL, "localhost:9001");
	assert_true(r.may_status && r.may_read);
	assert_false(r.may_write);
	/* a page on another name (DNS rebinding) */
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", NULL, "evil.example:9001");
	assert_true(r.wrong_host);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", NULL, "box.example:9001");
	assert_false(r.wrong_host);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", NULL, "box:9001");
	assert_false(r.wrong_host);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", NULL, "127.0.0.1:9002");
	assert_true(r.wrong_host);
}

/* user:123 is "Basic dXNlcjoxMjM="; user:124 "Basic dXNlcjoxMjQ=" */
static void test_tcp_credentials(void **state)
{
	struct request r;

	(void)state;
	reset();
	control_set_credentials(&ctl, "user", "123");
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", "Basic dXNlcjoxMjM=", "127.0.0.1");
	assert_true(r.may_write && r.may_read && r.may_status);
	assert_false(r.need_auth || r.login_blocked);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", NULL, "127.0.0.1");
	assert_true(r.need_auth);
	assert_false(r.may_status || r.may_read || r.may_write);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", "Basic dXNlcjoxMjQ=", "127.0.0.1");
	assert_true(r.need_auth);
	assert_false(r.may_write);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.1", "Bearer dXNlcjoxMjM=", "127.0.0.1");
	assert_false(r.may_write);
	/* {SHA}: sha1("123"), in upper case as some configs have it */
	control_set_credentials(&ctl, "user", "{SHA}40BD001563085FC35165329EA1FF5C5ECBDBBEEF");
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.2", "Basic dXNlcjoxMjM=", "127.0.0.1");
	assert_true(r.may_write);
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.2", "Basic dXNlcjoxMjQ=", "127.0.0.1");
	assert_false(r.may_write);
	control_set_credentials(&ctl, NULL, NULL);
}

static void test_tcp_login_budget(void **state)
{
	struct request r;
	int failures = 0;

	(void)state;
	reset();
	control_set_credentials(&ctl, "user", "123");
	/* the wrong password until the address is blocked: exactly the burst */
	for (int i = 0; i < 3 * CONTROL_LOGIN_BURST; i++) {
		r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.3", "Basic dXNlcjoxMjQ=", "127.0.0.1");
		if (r.login_blocked)
			break;
		failures++;
	}
	assert_int_equal(failures, CONTROL_LOGIN_BURST);
	/* blocked: even the right password is not tried */
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.3", "Basic dXNlcjoxMjM=", "127.0.0.1");
	assert_true(r.login_blocked);
	assert_false(r.may_write);
	/* another address is not */
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.4", "Basic dXNlcjoxMjM=", "127.0.0.1");
	assert_false(r.login_blocked);
	assert_true(r.may_write);
	/* asking without credentials is not a failed login */
	r = rights(true, (uid_t)-1, (gid_t)-1, "10.0.0.4", NULL, "127.0.0.1");
	assert_true(r.need_auth);
	assert_false(r.login_blocked);
	control_set_credentials(&ctl, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_tcp_without_credentials),
		cmocka_unit_test(test_tcp_credentials),
		cmocka_unit_test(test_tcp_login_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
