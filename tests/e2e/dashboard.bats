#!/usr/bin/env bats
# The web dashboard, driven in a real browser: Debian's headless Chromium
# through playwright-core (tests/browser).  The screenshot stays in
# build/test-output/dashboard.png.

load helpers

BROWSER_DIR=$BATS_TEST_DIRNAME/../browser

need_browser() {
	[ -x /usr/bin/chromium ] || skip "chromium is not installed (scripts/install-deps installs it)"
	[ -d "$BROWSER_DIR/node_modules/playwright-core" ] || skip "playwright-core is not installed (scripts/install-deps)"
}

@test "the dashboard in headless Chromium: programs listed, a restart click changes the pid, history sparklines and exit marks, system panel, log, a URL with credentials" {
	need_browser
	port=$(free_port)
	conf <<EOF
[inet_http_server]
port=$port
username=admin
password=s3cret
[program:web]
command=$TPROC spew
startsecs=0
[program:worker]
command=$TPROC sleep
numprocs=2
process_name=%(program_name)s_%(process_num)d
startsecs=0
EOF
	start_tend
	wait_until 5 state_is worker:worker_1 RUNNING
	before=$(pid_of web)
	out=$TEND_BUILD/test-output
	mkdir -p "$out"
	rm -f "$out/dashboard.png"
	run node "$BROWSER_DIR/dashboard.mjs" "http://127.0.0.1:$port/" "$out/dashboard.png" \
		web,worker:worker_0,worker:worker_1 web admin s3cret
	echo "$output" | sed 's/^/# /' >&3
	[ "$status" -eq 0 ]
	[ -s "$out/dashboard.png" ]
	# the click really restarted it in tend, and the page showed tend's new pid
	after=$(pid_of web)
	[ "$after" != "$before" ]
	echo "$output" | grep -q "restart: web pid $before -> $after"
}

@test "the dashboard over a read-only TCP listener: every button is disabled and looks it" {
	need_browser
	port=$(free_port)
	conf <<EOF
[inet_http_server]
port=$port
[program:web]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is web RUNNING
	run node "$BROWSER_DIR/readonly.mjs" "http://127.0.0.1:$port/" web
	echo "$output" | sed 's/^/# /' >&3
	[ "$status" -eq 0 ]
}

@test "the dashboard page is one self-contained document; without credentials it is 401" {
	port=$(free_port)
	conf <<EOF
[inet_http_server]
port=$port
username=admin
password=s3cret
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 401 ]
	curl -s -u admin:s3cret -D "$T/h" "http://127.0.0.1:$port/" >"$T/page.html"
	grep -qi '^content-type: text/html' "$T/h"
	grep -qi "^content-security-policy: default-src 'self'" "$T/h"
	grep -q '<title>tend</title>' "$T/page.html"
	# no external asset: no src= or href= at all
	! grep -Eq '(src|href)=' "$T/page.html"
	# also on the unix socket, for the owner
	curl -s --unix-socket "$SOCK" http://localhost/ | grep -q '<title>tend</title>'
	curl -s -u admin:s3cret "http://127.0.0.1:$port/v1/system" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["processes"]["total"] > 0 and "zombie" in s["processes"], s
assert isinstance(s["orphans"], int) and s["top_cpu"] and s["top_mem"], s
print("system ok")'
}
