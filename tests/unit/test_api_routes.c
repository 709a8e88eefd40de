/*
 * The API's route table (src/daemon/api.c) as a security policy: the
 * policy is written out here, path by path, and every row of the table must
 * be in it with the same access level; then every route is tried with a
 * peer of each kind and the dispatcher's decision compared with what the
 * level allows.  A route added to the table without a line here fails the
 * first test; a row with a weaker level fails both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/api.h"

/*
 * What each route must be: a method, a concrete path, its level, whether it
 * streams.  Status is what an anonymous TCP client may see (names, states,
 * pids); logs, paths and the machine's processes are read.
 */
static const struct policy {
	const char *method;
	const char *path;
	enum access access;
	bool stream;
} policy[] = {
	{ "GET", "/healthz", ACCESS_PUBLIC, false },
	{ "GET", "/readyz", ACCESS_PUBLIC, false },
	{ "GET", "/readyz/web", ACCESS_PUBLIC, false },
	{ "GET", "/metrics", ACCESS_PUBLIC, false },
	{ "GET", "/", ACCESS_STATUS, false },
	{ "GET", "/index.html", ACCESS_STATUS, false },
	{ "GET", "/v1/programs", ACCESS_STATUS, false },
	{ "GET", "/v1/programs/web:*", ACCESS_STATUS, false },
	{ "POST", "/v1/programs/web/start", ACCESS_WRITE, false },
	{ "POST", "/v1/programs/web/stop", ACCESS_WRITE, false },
	{ "POST", "/v1/programs/web/restart", ACCESS_WRITE, false },
	{ "POST", "/v1/programs/web/signal", ACCESS_WRITE, false },
	{ "POST", "/v1/programs/web/rotate", ACCESS_WRITE, false },
	{ "POST", "/v1/programs/web/scale", ACCESS_WRITE, false },
	{ "POST", "/v1/programs/web/bogus", ACCESS_WRITE, false },
	{ "GET", "/v1/logs/web", ACCESS_READ, true },
	{ "POST", "/v1/reload", ACCESS_WRITE, false },
	{ "POST", "/v1/shutdown", ACCESS_WRITE, false },
	{ "GET", "/v1/daemon", ACCESS_STATUS, false },
	{ "GET", "/v1/events", ACCESS_STATUS, true },
	{ "GET", "/v1/system", ACCESS_READ, false },
	{ "POST", "/RPC2", ACCESS_STATUS, false },
	{ "GET", "/logtail/web/stderr", ACCESS_READ, true },
	{ "GET", "/mainlogtail", ACCESS_READ, true },
};

static const struct route *match(const char *method, const char *path, char *args[ROUTE_MAX_ARGS], bool *wrong)
{
	memset(args, 0, ROUTE_MAX_ARGS * sizeof(*args));
	return api_route_match(method, path, args, wrong);
}

static void free_args(char *args[ROUTE_MAX_ARGS])
{
	for (int i = 0; i < ROUTE_MAX_ARGS; i++)
		free(args[i]);
}

static void test_every_row_is_in_the_policy(void **state)
{
	size_t n;
	const struct route *routes = api_routes(&n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t k = 0; k < ARRAY_SIZE(policy) && !found; k++) {
			char *args[ROUTE_MAX_ARGS];
			bool wrong;
			const struct route *r = match(policy[k].method, policy[k].path, args, &wrong);

			free_args(args);
			if (r != &routes[i])
				continue;
			found = true;
			if (r->access != policy[k].access)
				fail_msg("%s %s is level %d in the table, %d in the policy", r->method, r->pattern,
					 (int)r->access, (int)policy[k].access);
			if (r->stream != policy[k].stream)
				fail_msg("%s %s: stream is %d in the table, %d in the policy", r->method, r->pattern,
					 (int)r->stream, (int)policy[k].stream);
		}
		if (!found)
			fail_msg("route %s %s is not in the test's policy: decide its access level here",
				 routes[i].method, routes[i].pattern);
	}
	/* and every policy line names a route */
	for (size_t k = 0; k < ARRAY_SIZE(policy); k++) {
		char *args[ROUTE_MAX_ARGS];
		bool wrong;

		if (!match(policy[k].method, policy[k].path, args, &wrong))
			fail_msg("%s %s matches no route", policy[k].method, policy[k].path);
		free_args(args);
	}
}

/* A kind of caller, and what each level lets it do, by GET and by POST. */
struct peer {
	const char *name;
	struct request req;
	int get[4], post[4]; /* per access level: 0 allowed, else the status */
};

static void test_every_route_with_every_peer(void **state)
{
	/* columns: PUBLIC, STATUS, READ, WRITE */
	static const struct peer peers[] = {
		{ "owner on the socket", { .may_status = true, .may_read = true, .may_write = true }, { 0, 0, 0, 0 },
		  { 0, 0, 0, 0 } },
		{ "the socket's group", { .may_status = true, .may_read = true }, { 0, 0, 0, 403 }, { 0, 0, 0, 403 } },
		{ "another uid", { .uid = 1001 }, { 0, 403, 403, 403 }, { 0, 403, 403, 403 } },
		{ "TCP, no credentials configured: status only", { .tcp = true, .may_status = true },
		  { 0, 0, 403, 403 }, { 0, 0, 403, 403 } },
		{ "TCP, no credentials configured, anonymous_read", { .tcp = true, .may_status = true, .may_read = true },
		  { 0, 0, 0, 403 }, { 0, 0, 0, 403 } },
		{ "TCP, credentials missing", { .tcp = true, .need_auth = true }, { 0, 401, 401, 401 },
		  { 0, 401, 401, 401 } },
		{ "TCP, too many failed logins", { .tcp = true, .need_auth = true, .login_blocked = true, .peer = "10.0.0.9" },
		  { 0, 429, 429, 429 }, { 0, 429, 429, 429 } },
		{ "TCP, credentials given", { .tcp = true, .may_status = true, .may_read = true, .may_write = true },
		  { 0, 0, 0, 0 }, { 0, 0, 0, 0 } },
		{ "TCP, a Host of another name (DNS rebinding)",
		  { .tcp = true, .may_status = true, .may_read = true, .may_write = true, .wrong_host = true,
		    .host = "rebind.evil.example:9001" },
		  { 421, 421, 421, 421 }, { 421, 421, 421, 421 } },
		{ "TCP, a connection of the reserve",
		  { .tcp = true, .may_status = true, .may_read = true, .may_write = true, .reserve = true, .peer = "127.0.0.1" },
		  { 0, 503, 503, 503 }, { 0, 503, 503, 503 } },
		{ "a page of another site",
		  { .may_status = true, .may_read = true, .may_write = true, .origin = "http://evil.example",
		    .host = "127.0.0.1:9001" },
		  { 0, 0, 0, 0 }, { 0, 403, 403, 403 } },
		{ "a fetch marked cross-site",
		  { .may_status = true, .may_read = true, .may_write = true, .fetch_site = "cross-site" }, { 0, 0, 0, 0 },
		  { 0, 403, 403, 403 } },
		{ "tend's own page",
		  { .may_status = true, .may_read = true, .may_write = true, .origin = "http://127.0.0.1:9001",
		    .host = "127.0.0.1:9001", .fetch_site = "same-origin" },
		  { 0, 0, 0, 0 }, { 0, 0, 0, 0 } },
	};

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(peers); p++) {
		for (size_t k = 0; k < ARRAY_SIZE(policy); k++) {
			struct request req = peers[p].req;
			bool post = strcmp(policy[k].method, "POST") == 0;
			int want = post ? peers[p].post[policy[k].access] : peers[p].get[policy[k].access], got;
			char *args[ROUTE_MAX_ARGS];
			const struct route *r;
			struct denial d;
			bool wrong;

			req.method = policy[k].method;
			req.path = policy[k].path;
			req.query = "";
			r = match(req.method, req.path, args, &wrong);
			assert_non_null(r);
			free_args(args);
			got = api_check_access(r, &req, &d) == 0 ? 0 : d.status;
			if (got != want)
				fail_msg("%s: %s %s gave %d, expected %d", peers[p].name, req.method, req.path, got,
					 want);
		}
	}
}

static void test_matching(void **state)
{
	char *args[ROUTE_MAX_ARGS];
	const struct route *r;
	bool wrong;

	(void)state;
	r = match("POST", "/v1/programs/web:*/start", args, &wrong);
	assert_non_null(r);
	assert_string_equal(r->pattern, "/v1/programs/{}/start");
	assert_string_equal(args[0], "web:*");
	free_args(args);
	r = match("POST", "/v1/programs/web/frobnicate", args, &wrong);
	assert_non_null(r);
	assert_string_equal(args[1], "frobnicate");
	free_args(args);
	r = match("GET", "/logtail/web/stderr", args, &wrong);
	assert_non_null(r);
	assert_string_equal(args[0], "web/stderr");
	free_args(args);
	r = match("HEAD", "/healthz", args, &wrong);
	assert_non_null(r);
	free_args(args);
	/* a path of another method: 405; of nobody: 404 */
	assert_null(match("GET", "/v1/programs/web/start", args, &wrong));
	assert_true(wrong);
	assert_null(match("POST", "/healthz", args, &wrong));
	assert_true(wrong);
	assert_null(match("GET", "/v1/nothing", args, &wrong));
	assert_false(wrong);
	assert_null(match("GET", "/v1/programs/", args, &wrong));
	assert_null(match("GET", "/v1/logs/", args, &wrong));
	assert_null(match("GET", "/healthz/", args, &wrong));
	assert_null(match("GET", "/v1/programsX", args, &wrong));
	assert_null(match("POST", "/v1/programs/a/b/c", args, &wrong));
}

/* The Host header over TCP (control_host_ok): what sets a request's wrong_host. */
static void test_host_header(void **state)
{
	static const struct {
		const char *host;
		bool ok;
	} cases[] = {
		{ NULL, true }, /* HTTP/1.0 */
		{ "127.0.0.1:9001", true },
		{ "127.0.0.1", true },
		{ "10.1.2.3:9001", true },    /* any address: no DNS name, no rebinding */
		{ "[::1]:9001", true },
		{ "[::1]", true },
		{ "localhost:9001", true },
		{ "LocalHost:9001", true },
		{ "box:9001", true },         /* this machine's name */
		{ "box.example.org:9001", true },
		{ "tend.internal:9001", true }, /* the configured host */
		{ "127.0.0.1:9002", false },  /* another port */
		{ "localhost:", false },
		{ "localhost:9001x", false },
		{ "localhost:+9001", false },
		{ "rebind.evil.example:9001", false },
		{ "evil.example", false },
		{ "box.evil.example:9001", false },
		{ "boxer:9001", false },
		{ "127.0.0.1.evil.example:9001", false },
		{ "[::1", false },
		{ "[::1]x", false },
		{ "[evil]:9001", false },
		{ ":9001", false },
		{ "", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (control_host_ok(cases[i].host, "tend.internal", 9001, "box.example.org") != cases[i].ok)
			fail_msg("Host '%s': expected %s", cases[i].host ? cases[i].host : "(none)",
				 cases[i].ok ? "accepted" : "refused");
	/* without a machine name, only addresses, localhost and the configured host */
	assert_false(control_host_ok("box:9001", "127.0.0.1", 9001, ""));
	assert_true(control_host_ok("localhost:9001", "127.0.0.1", 9001, ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_row_is_in_the_policy),
		cmocka_unit_test(test_every_route_with_every_peer),
		cmocka_unit_test(test_matching),
		cmocka_unit_test(test_host_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
