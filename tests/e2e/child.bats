#!/usr/bin/env bats
# What a child gets: signals, fds, session, environment, user, directory, logs.

load helpers

@test "a child gets default signal dispositions, an empty mask, its own session and only stdio" {
	conf <<EOF
[program:probe]
command=$TPROC inspect $T/probe
startsecs=0
EOF
	# tend's own parent ignores HUP and USR1: the child must not inherit that
	(
		trap '' HUP USR1 TTOU RTMIN 40
		start_tend
		echo "$TEND_PID" >"$T/tend.pid"
	)
	TEND_PID=$(cat "$T/tend.pid")
	# tend resets the signals it handles: HUP and USR1 are not ignored in tend itself
	ign=$(awk '/^SigIgn:/ { print $2 }' /proc/"$TEND_PID"/status)
	[ $((0x$ign & 0x201)) -eq 0 ]
	wait_until 5 test -s "$T/probe"
	cat "$T/probe"
	grep -q '^SigIgn:	0000000000000000$' "$T/probe"
	grep -q '^SigBlk:	0000000000000000$' "$T/probe"
	grep -q '^pgid_is_pid: 1$' "$T/probe"
	grep -q '^sid_is_pid: 1$' "$T/probe"
	grep -q '^fds: 0 1 2$' "$T/probe"
}

@test "environment: supervisord's variables, environment= values, quotes and expansions" {
	export TEND_E2E_OUTER=outer-value
	conf <<EOF
[supervisord]
environment=GLOBAL="from supervisord",SHARED=global
[program:envy]
command=$TPROC env $T/env
environment=A="x y",B=z,SHARED=program,FROM_ENV=%(ENV_TEND_E2E_OUTER)s,NUM=%(process_num)d
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/env"
	grep -qx 'A=x y' "$T/env"
	grep -qx 'B=z' "$T/env"
	grep -qx 'GLOBAL=from supervisord' "$T/env"
	grep -qx 'SHARED=program' "$T/env"
	grep -qx 'FROM_ENV=outer-value' "$T/env"
	grep -qx 'NUM=0' "$T/env"
	grep -qx 'SUPERVISOR_ENABLED=1' "$T/env"
	grep -qx 'SUPERVISOR_PROCESS_NAME=envy' "$T/env"
	grep -qx 'TEND_E2E_OUTER=outer-value' "$T/env"
	[ "$(grep -c '^SHARED=' "$T/env")" -eq 1 ]
}

@test "secrets in environment= are never shown by status" {
	conf <<EOF
[program:secret]
command=$TPROC sleep
environment=API_TOKEN=hunter2-very-secret
startsecs=0
EOF
	start_tend
	wait_until 5 state_is secret RUNNING
	run tendc --json status
	[[ "$output" != *hunter2* ]]
	run curl -s --unix-socket "$SOCK" http://localhost/v1/programs/secret
	[[ "$output" != *hunter2* ]]
}

@test "user= switches user, groups and HOME/USER/LOGNAME" {
	id nobody >/dev/null
	user_bins
	conf <<EOF
[program:asnobody]
command=$UTPROC env $T/out/env
user=nobody
startsecs=0
EOF
	# where nobody may write (not the test's directory: it holds tend's socket)
	mkdir "$T/out"
	chmod 777 "$T/out"
	start_tend
	wait_until 5 test -s "$T/out/env"
	pid=$(pid_of asnobody)
	[ "$(ps -o user= -p "$pid")" = nobody ]
	grep -q "^Groups:	$(id -g nobody) *$" /proc/"$pid"/status || grep -q "^Groups:	*$(id -G nobody | tr ' ' '\n' | head -n1)" /proc/"$pid"/status
	grep -qx 'USER=nobody' "$T/out/env"
	grep -qx 'LOGNAME=nobody' "$T/out/env"
	grep -qx "HOME=$(getent passwd nobody | cut -d: -f6)" "$T/out/env"
}

@test "directory=, umask= and log files: stdout to a file, stderr redirected" {
	mkdir "$T/work"
	conf <<EOF
[program:logger]
command=sh -c 'pwd; umask; echo to-stderr >&2; exec $TPROC sleep'
directory=$T/work
umask=027
stdout_logfile=$T/out.log
redirect_stderr=true
startsecs=0
EOF
	start_tend
	wait_until 5 grep -q to-stderr "$T/out.log"
	[ "$(sed -n 1p "$T/out.log")" = "$T/work" ]
	[ "$(sed -n 2p "$T/out.log")" = "0027" ]
}

@test "a log path that is a symlink is refused and reported; the program still runs" {
	ln -s /etc/passwd "$T/evil.log"
	conf <<EOF
[program:evil]
command=sh -c 'echo tproc-was-here; exec $TPROC sleep'
stdout_logfile=$T/evil.log
startsecs=0
EOF
	start_tend
	wait_until 5 state_is evil RUNNING
	run tendc --json status evil
	[[ "$output" == *'"error": "is a symlink (refused)"'* ]]
	grep -q "evil: stdout_logfile $T/evil.log: is a symlink (refused); the program runs" "$T/tend.log"
	# nothing was written through the symlink
	! grep -q tproc-was-here /etc/passwd
	[ -L "$T/evil.log" ]
}
