#!/usr/bin/env bats
# Real configs, written after public supervisord setups (tests/e2e/dropin/):
# each loads with `tend check` (exit 0), and `tend up` runs exactly the
# processes supervisord's own parser says supervisord runs from it.

load helpers

DROPIN=$BATS_TEST_DIRNAME/dropin
HELPERS_DIR=$(cd "$BATS_TEST_DIRNAME/../helpers" && pwd)

# use NAME: run tests/e2e/dropin/NAME.conf; checks `tend check` and the processes against supervisord's
use() {
	export TPROC SOCK OUT=$T/out HELPERS=$HELPERS_DIR PORT=${PORT:-$(free_port)}
	mkdir -p "$OUT"
	CONF=$DROPIN/$1.conf
	run "$TEND" check "$CONF"
	echo "$output"
	[ "$status" -eq 0 ]
	CHECK_OUTPUT=$output
	PYTHONPATH=$HELPERS_DIR /usr/bin/python3 "$BATS_TEST_DIRNAME/sd_processes.py" "$CONF" >"$T/want"
	[ -s "$T/want" ]
	start_tend
	# everything supervisord would run runs, and nothing else
	wait_until 10 bash -c "'$TEND' -c '$CONF' --json status | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin)[\"programs\"]
running = sorted(x[\"name\"] if \":\" in x[\"name\"] else \"%s:%s\" % (x[\"group\"], x[\"name\"]) for x in p if x[\"state\"] == \"RUNNING\")
sys.exit(running != open(\"$T/want\").read().split())'" || {
		"$TEND" -c "$CONF" status
		cat "$T/want"
		return 1
	}
	run "$TEND" -c "$CONF" --json status
	[ "$(echo "$output" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["programs"]))')" -eq "$(wc -l < "$T/want")" ]
}

@test "nginx + php-fpm with username= (a key supervisord ignores): a warning, both run" {
	use privatebin
	[[ "$CHECK_OUTPUT" == *"unknown key 'username' in [program:php-fpm] (did you mean 'user'?)"* ]]
	grep -q "unknown key 'username'" "$T/tend.log"
}

@test "Laravel Horizon with logfile_maxbytes in its [program]: a warning, it runs as its user" {
	use horizon
	[[ "$CHECK_OUTPUT" == *"unknown key 'logfile_maxbytes' in [program:horizon]"* ]]
	pid=$(pid_of horizon)
	[ "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)" = "$(id -u www-data)" ]
}

@test "Django Channels: daphne as [fcgi-program] numprocs=4 shares one TCP socket on fd 0" {
	use channels
	for i in $(seq 1 40); do curl -s "http://127.0.0.1:$PORT/"; done | sort -u >"$T/pids"
	cat "$T/pids"
	[ "$(wc -l < "$T/pids")" -ge 2 ]
	# each answer came from an instance of asgi
	for p in $(cat "$T/pids"); do "$TEND" -c "$CONF" status | grep -q "pid $p,"; done
	# fd 0 is the socket; no LISTEN_FDS (that is listen='s convention)
	pid=$(pid_of asgi:asgi0)
	[[ "$(readlink /proc/$pid/fd/0)" == socket:* ]]
	! tr '\0' '\n' </proc/$pid/environ | grep -q '^LISTEN_FDS='
}

@test "a container logging through supervisor_stdout's [eventlistener]: program output on tend's stdout" {
	use docker-logging
	wait_until 5 grep -q "app stdout | hello from app" "$T/tend.log"
	wait_until 5 grep -q "app stderr | oops" "$T/tend.log"
}

@test "superlance's crashmail with events=PROCESS_STATE_EXITED mails an unexpected exit" {
	use crashmail
	wait_until 10 test -s "$OUT/mail"
	cat "$OUT/mail"
	grep -q "Subject:  flaky crashed at" "$OUT/mail"
	grep -Eq "Process flaky in group flaky exited unexpectedly \(pid [0-9]+\) from state RUNNING" "$OUT/mail"
}

@test "celery's worker (killasgroup=true): a stop lets the master drain its worker's job" {
	mkdir -p "$T/out/jobs"
	chmod 777 "$T/out/jobs"
	use celery
	wait_until 5 grep -q "job started" "$T/out/jobs/out"
	run tendc stop celery
	[ "$status" -eq 0 ]
	cat "$T/out/jobs/out"
	[ "$(cat "$T/out/jobs/out")" = "$(printf 'job started\nwarm shutdown\njob done\nmaster done')" ]
}

@test "[fcgi-program] on a unix socket: socket_mode, socket_owner and socket_backlog, one socket for every instance" {
	conf <<EOF
[fcgi-program:php]
socket=unix://$T/php.sock
socket_mode=0660
socket_backlog=7
socket_owner=nobody:nogroup
command=/usr/bin/python3 $HELPERS_DIR/fd0_server.py
numprocs=2
process_name=php%(process_num)d
startsecs=0
EOF
	start_tend
	wait_until 5 state_is php:php1 RUNNING
	[ "$(stat -c '%a %U %G' "$T/php.sock")" = "660 nobody nogroup" ]
	[ "$(curl -s --unix-socket "$T/php.sock" http://localhost/)" -gt 0 ]
	a=$(readlink /proc/"$(pid_of php:php0)"/fd/0)
	b=$(readlink /proc/"$(pid_of php:php1)"/fd/0)
	[ "$a" = "$b" ]
	# a listening socket's Send-Q is its backlog
	ss -xlnH | awk -v p="$T/php.sock" '$5 == p { print $4 }' | grep -qx 7
}

@test "every key supervisord documents, in each of its sections: tend check exit 0, warnings only for the socket's and supervisorctl's own keys; the same processes as supervisord" {
	export T
	run "$TEND" check "$DROPIN/allkeys.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	# exactly the keys README lists as accepted with a warning
	warned=$(echo "$output" | sed -n "s/.*warning: '\([a-z_]*\)' in \[\([a-z_]*\)\] is a supervisord setting tend accepts but does not use/\2.\1/p" | sort | tr '\n' ' ')
	[ "$warned" = "supervisorctl.history_file supervisorctl.password supervisorctl.prompt supervisorctl.username unix_http_server.password unix_http_server.username " ]
	[ "$(echo "$output" | grep -c warning)" -eq 6 ]
	ours=$(echo "$output" | awk '$1 !~ /^\// && $1 ~ /:/ && $2 ~ /^[0-9]+$/ { print $1 }' | sort | tr '\n' ' ')
	theirs=$(PYTHONPATH=$HELPERS_DIR /usr/bin/python3 "$BATS_TEST_DIRNAME/sd_processes.py" "$DROPIN/allkeys.conf" | tr '\n' ' ')
	[ -n "$ours" ] && [ "$ours" = "$theirs" ]
	# strict: the same warnings are errors
	run "$TEND" check --strict "$DROPIN/allkeys.conf"
	[ "$status" -ne 0 ]
}
