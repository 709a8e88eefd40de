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

@test "environment: SUPERVISOR_ENABLED and SUPERVISOR_SERVER_URL, shared by instances, overridden by one program's environment=" {
	conf <<EOF
[program:a]
command=$TPROC env $T/env-%(process_num)d
numprocs=2
process_name=a%(process_num)d
startsecs=0
[program:b]
command=$TPROC env $T/env-b
environment=SUPERVISOR_ENABLED=0,SUPERVISOR_SERVER_URL=unix:///b.sock
startsecs=0
EOF
	start_tend
	wait_until 5 bash -c "test -s $T/env-0 && test -s $T/env-1 && test -s $T/env-b"
	for f in env-0 env-1; do
		[ "$(grep -c '^SUPERVISOR_ENABLED=' "$T/$f")" -eq 1 ]
		grep -qx 'SUPERVISOR_ENABLED=1' "$T/$f"
		[ "$(grep -c '^SUPERVISOR_SERVER_URL=' "$T/$f")" -eq 1 ]
		grep -qx "SUPERVISOR_SERVER_URL=unix://$SOCK" "$T/$f"
	done
	[ "$(grep -c '^SUPERVISOR_ENABLED=' "$T/env-b")" -eq 1 ]
	grep -qx 'SUPERVISOR_ENABLED=0' "$T/env-b"
	[ "$(grep -c '^SUPERVISOR_SERVER_URL=' "$T/env-b")" -eq 1 ]
	grep -qx 'SUPERVISOR_SERVER_URL=unix:///b.sock' "$T/env-b"
}

@test "environment: supervisord's variables, environment= values, quotes and expansions" {
	export TEND_E2E_OUTER=outer-value TEND_E2E_OVER=outer
	conf <<EOF
[supervisord]
environment=GLOBAL="from supervisord",SHARED=global
[program:envy]
command=$TPROC env $T/env
environment=A="x y",B=z,SHARED=program,FROM_ENV=%(ENV_TEND_E2E_OUTER)s,NUM=%(process_num)d,TEND_E2E_OVER=program
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
	# a variable of tend's own environment that environment= overrides: once, the program's
	[ "$(grep -c '^TEND_E2E_OVER=' "$T/env")" -eq 1 ]
	grep -qx 'TEND_E2E_OVER=program' "$T/env"
	# the same environment for the next process (kept across restarts)
	sort "$T/env" >"$T/env.1"
	rm "$T/env"
	kill -KILL "$(pid_of envy)"
	wait_until 5 test -s "$T/env"
	sleep 0.1
	diff <(grep -v '^TPROC_' "$T/env.1") <(sort "$T/env" | grep -v '^TPROC_')
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

# fds_on LINK: tendd's fds that point at LINK (pipe:[N], a path)
fds_on() {
	ls -l /proc/"$TEND_PID"/fd | awk -v l="$1" '$NF == l { print $(NF - 2) }'
}

no_fds_on() {
	[ -z "$(fds_on "$1")" ]
}

# no_reader_in_tend PID: tendd holds only the write end of PID's stdin pipe
no_reader_in_tend() {
	local pipe fd flags
	pipe=$(readlink /proc/"$1"/fd/0)
	[[ "$pipe" == pipe:* ]]
	for fd in $(fds_on "$pipe"); do
		flags=$(awk '/^flags:/ { print $2 }' /proc/"$TEND_PID"/fdinfo/"$fd")
		[ $((8#$flags & 3)) -eq 1 ] || { echo "tendd fd $fd reads $1's stdin ($pipe)"; return 1; }
	done
}

@test "spawns share tend's fd table until the child unshares it: with hundreds of fds in tend a child still gets only its own, and tend keeps no end of a child's pipes" {
	# 60 programs with relayed logs: tend holds several hundred fds, above its
	# spawn slots; the probes start after them, the listener last of all (the
	# slots would still hold its pipes if tend did not point them back at /dev/null)
	conf <<EOF
[program:fill]
command=$TPROC sleep
numprocs=60
process_name=%(program_name)s_%(process_num)d
priority=100
startsecs=0
[program:probe]
command=$TPROC inspect $T/probe
priority=900
startsecs=0
[program:sock]
command=$TPROC inspect $T/sock
listen=unix:$T/l.sock
priority=900
startsecs=0
[program:missing]
command=$T/does-not-exist
priority=900
startsecs=0
autorestart=false
startretries=0
[eventlistener:lis]
command=/bin/sh -c 'exec 3>&1; readlink /proc/\$\$/fd/3 >$T/lis.pipe; exec 3>&- >&-; exec $TPROC sleep'
events=TICK_60
priority=999
startsecs=0
EOF
	start_tend
	wait_until 10 test -s "$T/probe"
	wait_until 10 test -s "$T/sock"
	wait_until 10 test -s "$T/lis.pipe"
	cat "$T/probe" "$T/sock"
	[ "$(ls /proc/"$TEND_PID"/fd | wc -l)" -ge 300 ]
	# no slot and none of tend's fds in the children: stdio, and the socket as fd 3
	grep -q '^fds: 0 1 2$' "$T/probe"
	grep -q '^fds: 0 1 2 3$' "$T/sock"
	[[ "$(readlink /proc/"$(pgrep -fx "$TPROC inspect $T/sock")"/fd/3)" == socket:* ]]
	# tend's own stdio is untouched
	[ "$(readlink /proc/"$TEND_PID"/fd/1)" = "$T/tend.log" ]
	[ "$(readlink /proc/"$TEND_PID"/fd/2)" = "$T/tend.log" ]
	# the report pipe still carries an exec error
	wait_until 5 grep -q "can't exec '$T/does-not-exist': No such file or directory" "$T/tend.log"
	# tend writes to the children's stdin; no slot keeps a read end open
	no_reader_in_tend "$(pgrep -fx "$TPROC inspect $T/probe")"
	no_reader_in_tend "$(pgrep -fx "$TPROC inspect $T/sock")"
	no_reader_in_tend "$(pgrep -n -fx "$TPROC sleep" -P "$TEND_PID")"
	# the listener closed its stdout: tend sees EOF and lets the pipe go
	grep -q '^pipe:' "$T/lis.pipe"
	wait_until 5 no_fds_on "$(cat "$T/lis.pipe")"
}
