#!/usr/bin/env bats
# Config: errors with file:line, nothing started on error, real configs load.

load helpers

# check_says STATUS TEXT...: `tend check $CHECK_OPTS` exits STATUS and prints every TEXT
check_says() {
	local want=$1 text
	shift
	# shellcheck disable=SC2086
	run tendc check ${CHECK_OPTS:-}
	echo "$output"
	[ "$status" -eq "$want" ]
	for text in "$@"; do
		[[ "$output" == *"$text"* ]] || return 1
	done
}

@test "every error of an invalid config is reported as file:line, exit 5, nothing started" {
	conf <<EOF
[program:a]
command=$TPROC sleep
autostart=maybe
stopsignal=SIGFOO
comand=typo

[program:b]
command="unterminated
startsecs=-3
this line is not a key
EOF
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 5 ]
	echo "$output"
	[[ "$output" == *"tend.conf:6: autostart: 'maybe' is not a boolean"* ]]
	[[ "$output" == *"tend.conf:7: stopsignal: 'SIGFOO' is not a signal name or number"* ]]
	[[ "$output" == *"tend.conf:11: command: no closing quotation"* ]]
	[[ "$output" == *"tend.conf:12: startsecs: '-3' is not a duration"* ]]
	[[ "$output" == *"tend.conf:13: not a key = value line"* ]]
	# a line that is not ours is never printed (it may come from any included file)
	[[ "$output" != *"this line is not a key"* ]]
	[[ "$output" == *"5 errors; nothing started"* ]]
	[ ! -e "$SOCK" ]
	! pgrep -f "$T/" >/dev/null
	run tendc check
	[ "$status" -eq 5 ]
	# the unknown key is a warning beside the errors
	[[ "$output" == *"tend.conf:8: warning: unknown key 'comand' in [program:a] (did you mean 'command'?)"* ]]
}

# supervisord ignores keys it does not know (PrivateBin's username=, Horizon's
# logfile_maxbytes in a [program]): tend warns and runs the config
@test "unknown keys are warnings with file:line and did you mean: tend check exits 0, tend up runs the program" {
	conf <<EOF
[program:web]
command=$TPROC sleep
username=www-data
logfile_maxbytes=0
autostrat=true
startsecs=0
EOF
	check_says 0 "tend.conf:6: warning: unknown key 'username' in [program:web]" \
		"tend.conf:7: warning: unknown key 'logfile_maxbytes' in [program:web]" \
		"tend.conf:8: warning: unknown key 'autostrat' in [program:web] (did you mean 'autostart'?)" \
		"ok, 1 program instance"
	run tendc --json check
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and len(d["warnings"]) == 3 and not d["errors"], d'
	start_tend
	wait_until 5 sh -c "'$TEND' -s '$SOCK' status web | grep -q RUNNING"
	grep -q "unknown key 'autostrat'" "$T/tend.log"
}

@test "strict = true in [tend], or tend check --strict: every warning is an error, nothing starts" {
	conf <<EOF
[program:web]
command=$TPROC stamp $T/never
autostrat=true
[tend]
strict = true
EOF
	check_says 5 "tend.conf:6: strict: unknown key 'autostrat' in [program:web] (did you mean 'autostart'?)" \
		"1 error"
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 5 ]
	[[ "$output" == *"tend.conf:6: strict: unknown key 'autostrat'"* ]]
	[ ! -e "$SOCK" ]

	# without strict = true: a warning, exit 0; tend check --strict: an error again
	sed -i '/^strict = true$/d' "$CONF"
	check_says 0 "tend.conf:6: warning: unknown key 'autostrat'"
	CHECK_OPTS=--strict check_says 5 "tend.conf:6: strict: unknown key 'autostrat'"
	CHECK_OPTS=--strikt check_says 2 "unknown option '--strikt'"
	[ ! -e "$T/never" ]
}

@test "a log file in a directory that does not exist is an error, strict or not" {
	conf <<EOF
[program:web]
command=$TPROC sleep
stdout_logfile=$T/no/such/dir/web.log
EOF
	check_says 5 "tend.conf:6: stdout_logfile: the directory of '$T/no/such/dir/web.log' does not exist"
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 5 ]
	[ ! -e "$SOCK" ]
}

@test "tend check lists programs and starts nothing" {
	conf <<EOF
[program:web]
command=$TPROC stamp $T/never
process_name=%(program_name)s-%(process_num)d
numprocs=2
depends_on=db
[program:db]
command=$TPROC stamp $T/never
priority=5
EOF
	run tendc check
	[ "$status" -eq 0 ]
	[[ "$output" == *"web:web-0"*"(after db)"* ]]
	[[ "$output" == *"db "*"5  yes"* ]]
	[[ "$output" == *"ok, 3 program instances"* ]]
	[ ! -e "$T/never" ]
	run tendc --json check
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and len(d["programs"]) == 3, d'
}

@test "supervisord syntax: comments, booleans, signals, long lines, includes, continuation lines" {
	mkdir "$T/conf.d"
	long=$(printf 'x%.0s' $(seq 1 300))
	cat >"$T/conf.d/extra.conf" <<EOF
[program:included]
command=$TPROC env $T/env-included
startsecs=0
EOF
	conf <<EOF
# a hash comment
; a semicolon comment
[include]
files = conf.d/*.conf
[program:Weird]
COMMAND = $TPROC env $T/env-weird   ; inline comment
autostart = Yes
autorestart = UNEXPECTED
stopsignal = sigint
startsecs = 0
environment =
    LONG="$long",
    SECOND=two   # another inline comment
EOF
	start_tend
	wait_until 5 test -s "$T/env-weird"
	wait_until 5 test -s "$T/env-included"
	grep -qx "LONG=$long" "$T/env-weird"
	grep -qx 'SECOND=two' "$T/env-weird"
	run tendc status
	[[ "$output" == *Weird*RUNNING* ]]
	[[ "$output" == *included*RUNNING* ]]
}

@test "an include loop is an error" {
	printf '[include]\nfiles=%s\n' "$CONF" >"$T/other.conf"
	conf <<EOF
[include]
files=other.conf
[program:a]
command=/bin/true
EOF
	run tendc check
	[ "$status" -eq 5 ]
	[[ "$output" == *"include loop"* ]]
}

@test "every example config loads" {
	for f in "$BATS_TEST_DIRNAME"/../../examples/*.conf "$BATS_TEST_DIRNAME"/../../examples/*/*/tend.conf; do
		run "$TEND" check -c "$f"
		echo "$f: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == *": ok, "* ]]
	done
}

@test "a config the daemon cannot use (socket taken by a file) fails cleanly" {
	conf <<EOF
[program:a]
command=$TPROC sleep
EOF
	echo "not a socket" >"$SOCK"
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot listen on $SOCK"* ]]
	[ "$(cat "$SOCK")" = "not a socket" ]
	! pgrep -f "$T/" >/dev/null
}
