#!/usr/bin/env bats
# tend reload / SIGHUP: only what changed restarts; a bad config changes nothing.

load helpers

base_conf() {
	conf <<EOF
[program:same]
command=$TPROC sleep
startsecs=0
[program:tweak]
command=$TPROC sleep
startsecs=0
priority=5
[program:change]
command=$TPROC stamp $T/change-a 0 1000
startsecs=0
[program:gone]
command=$TPROC sleep
startsecs=0
[program:member]
command=$TPROC sleep
startsecs=0
$1
EOF
}

@test "reload: unchanged and updated keep their pid, changed restarts, removed stops, added starts" {
	base_conf ""
	start_tend
	for p in same tweak change gone member; do wait_until 5 state_is $p RUNNING; done
	same=$(pid_of same)
	tweak=$(pid_of tweak)
	change=$(pid_of change)
	gone=$(pid_of gone)
	member=$(pid_of member)
	# new config: tweak gets another priority, change another command, gone is
	# removed, new is added, member moves into a group
	conf <<EOF
[program:same]
command=$TPROC sleep
startsecs=0
[program:tweak]
command=$TPROC sleep
startsecs=0
priority=50
stopwaitsecs=3
[program:change]
command=$TPROC stamp $T/change-b 0 1000
startsecs=0
[program:new]
command=$TPROC sleep
startsecs=0
[program:member]
command=$TPROC sleep
startsecs=0
[group:g]
programs=member
EOF
	run tendc reload --dry-run
	[ "$status" -eq 0 ]
	echo "$output"
	[[ "$output" == *"added (starts): new"* ]]
	[[ "$output" == *"changed (restarts): change"* ]]
	[[ "$output" == *"removed (stops): gone"* ]]
	[[ "$output" == *"updated in place (keeps running): tweak, g:member"* ]]
	# a dry run changes nothing
	[ "$(pid_of change)" = "$change" ]
	[ "$(state gone)" = RUNNING ]
	run tendc reload
	[ "$status" -eq 0 ]
	wait_until 10 state_is change RUNNING
	wait_until 10 state_is new RUNNING
	[ "$(pid_of same)" = "$same" ]
	[ "$(pid_of tweak)" = "$tweak" ]
	[ "$(pid_of g:member)" = "$member" ]
	[ "$(pid_of change)" != "$change" ]
	test -s "$T/change-b"
	wait_gone "$change" 5
	wait_gone "$gone" 5
	run tendc status gone
	[ "$status" -eq 2 ]
	run tendc status
	[ "${#lines[@]}" -eq 5 ]
	[[ "$output" == *"g:member "* ]]
}

@test "a reload with errors keeps everything running and reports file:line" {
	base_conf ""
	start_tend
	wait_until 5 state_is same RUNNING
	same=$(pid_of same)
	printf '[program:broken]\ncommand="unterminated\nautostart=perhaps\n' >>"$CONF"
	run tendc reload
	[ "$status" -eq 5 ]
	[[ "$output" == *"tend.conf:"*"command: no closing quotation"* ]]
	[[ "$output" == *"autostart: 'perhaps' is not a boolean"* ]]
	[ "$(pid_of same)" = "$same" ]
	run tendc status
	[ "$status" -eq 0 ]
	[[ "$output" != *broken* ]]
	grep -q 'reload of .* refused; the running config stays' "$T/tend.log"
}

@test "SIGHUP reloads the config" {
	base_conf ""
	start_tend
	wait_until 5 state_is same RUNNING
	same=$(pid_of same)
	base_conf "[program:late]
command=$TPROC sleep
startsecs=0"
	kill -HUP "$TEND_PID"
	wait_until 5 state_is late RUNNING
	[ "$(pid_of same)" = "$same" ]
}

@test "a changed program's replacement starts only after the old one is gone" {
	conf <<EOF
[program:slowstop]
command=$TPROC ignore-term $T/ready-a
stopwaitsecs=3
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/ready-a"
	old=$(pid_of slowstop)
	conf <<EOF
[program:slowstop]
command=$TPROC ignore-term $T/ready-b
stopwaitsecs=3
startsecs=0
EOF
	run tendc reload
	[ "$status" -eq 0 ]
	sleep 0.5
	# the old one ignores SIGTERM: for 3 s both would run if tend did not wait
	[ ! -e "$T/ready-b" ]
	kill -0 "$old"
	wait_until 10 test -s "$T/ready-b"
	! kill -0 "$old" 2>/dev/null
}

@test "env_file: KEY=VALUE lines, quotes, comments; environment= wins; a missing file is an error unless -" {
	cat >"$T/app.env" <<'EOF'
# comment
export FROM_FILE=yes
QUOTED="a \"b\" c"
SINGLE='x $y'
TRAILING=value # comment
SHARED=file
EOF
	conf <<EOF
[program:envy]
command=$TPROC env $T/env
env_file=app.env
environment=SHARED=program
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/env"
	grep -qx 'FROM_FILE=yes' "$T/env"
	grep -qx 'QUOTED=a "b" c' "$T/env"
	grep -qx 'SINGLE=x $y' "$T/env"
	grep -qx 'TRAILING=value' "$T/env"
	grep -qx 'SHARED=program' "$T/env"
	printf '[program:x]\ncommand=/bin/true\nenv_file=missing.env\n' >"$T/bad.conf"
	run "$TEND" check -c "$T/bad.conf"
	[ "$status" -eq 5 ]
	[[ "$output" == *"bad.conf:3: env_file: cannot read"* ]]
	printf '[program:x]\ncommand=/bin/true\nenv_file=-missing.env\n' >"$T/ok.conf"
	run "$TEND" check -c "$T/ok.conf"
	[ "$status" -eq 0 ]
	printf 'GOOD=1\nnot a pair\n' >"$T/broken.env"
	printf '[program:x]\ncommand=/bin/true\nenv_file=broken.env\n' >"$T/b2.conf"
	run "$TEND" check -c "$T/b2.conf"
	[ "$status" -eq 5 ]
	[[ "$output" == *"broken.env:2: expected KEY=VALUE"* ]]
}

@test "a reload that changes ready= while an instance waits to be ready restarts it (no crash)" {
	conf <<EOF
[program:w]
command=$TPROC sleep $T
ready=exec:/bin/false
ready_timeout=30s
startsecs=0
EOF
	start_tend
	wait_until 5 state_is w STARTING
	old=$(pid_of w)
	conf <<EOF
[program:w]
command=$TPROC sleep $T
ready=tcp:1
ready_timeout=30s
startsecs=0
EOF
	run tendc reload --dry-run
	[[ "$output" == *"changed (restarts): w"* ]]
	run tendc reload
	[ "$status" -eq 0 ]
	# the exec probe of the old config would run with the new one's (empty) argv
	sleep 0.5
	kill -0 "$TEND_PID"
	wait_gone "$old" 5
	wait_until 5 state_is w STARTING
	[ -n "$(pid_of w)" ]
	[ "$(pid_of w)" != "$old" ]
}
