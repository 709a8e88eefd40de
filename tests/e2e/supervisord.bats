#!/usr/bin/env bats
# supervisord's keys tend acts on as supervisord does: [supervisord] user,
# silent, umask, minfds, strip_ansi; [unix_http_server] chown; a program's
# stdout_syslog; SUPERVISOR_SERVER_URL.

load helpers

@test "silent = true: the log goes to the logfile only; logfile = /dev/stdout shows each line once" {
	conf <<EOF
[supervisord]
logfile=$T/own.log
silent=true
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	"$TEND" -c "$CONF" up >"$T/out" 2>&1 &
	TEND_PID=$!
	wait_until 5 grep -q "started with pid" "$T/own.log"
	wait_until 5 state_is a RUNNING
	stop_tend
	! grep -q "started with pid" "$T/out"
	# without silent, and with the log on tend's own stdout: once, not twice
	conf <<EOF
[supervisord]
logfile=/dev/stdout
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	stop_tend
	[ "$(grep -c "started with pid" "$T/tend.log")" -eq 1 ]
	[ "$(grep -c "success: a entered RUNNING" "$T/tend.log")" -eq 1 ]
}

@test "[supervisord] user = nobody: tend and its programs run as nobody; root's tend status still works" {
	mkdir -p "$T/progs"
	cat >"$CONF" <<EOF
[unix_http_server]
file=$T/run/tend.sock
[supervisord]
user=nobody
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	SOCK=$T/run/tend.sock
	start_tend
	wait_until 5 state_is a RUNNING
	tendd=$(pgrep -f "tendd up -c $CONF")
	[ "$(ps -o user= -p "$tendd")" = nobody ]
	[ "$(ps -o user= -p "$(pid_of a)")" = nobody ]
	[ "$(stat -c %U "$T/run")" = nobody ]
	run tendc restart a
	[ "$status" -eq 0 ]
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
}

@test "[supervisord] user as a non-root user names another user: tend refuses to start" {
	conf <<EOF
[supervisord]
user=root
[program:a]
command=$TPROC sleep
EOF
	chmod 644 "$CONF"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$TEND" -c "$CONF" up
	[ "$status" -eq 1 ]
	[[ "$output" == *"user = root: cannot switch to another user when not started as root"* ]]
}

@test "[unix_http_server] chown: the socket's group may restart programs; without it, only read" {
	cat >"$T/base" <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	{ printf '[unix_http_server]\nfile=%s\nchmod=0770\nchown=root:nogroup\n' "$SOCK"; cat "$T/base"; } >"$CONF"
	start_tend
	wait_until 5 state_is a RUNNING
	[ "$(stat -c %G "$SOCK")" = nogroup ]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$TEND" -s "$SOCK" restart a
	echo "$output"
	[ "$status" -eq 0 ]
	stop_tend
	# chmod alone: the group reads, but is refused a restart (exit 4)
	{ printf '[unix_http_server]\nfile=%s\nchmod=0770\n' "$SOCK"; cat "$T/base"; } >"$CONF"
	start_tend
	wait_until 5 state_is a RUNNING
	chgrp nogroup "$SOCK"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$TEND" -s "$SOCK" restart a
	[ "$status" -eq 4 ]
}

@test "umask (022 by default, as supervisord) applies to programs whatever tend was started with" {
	conf <<EOF
[program:a]
command=/bin/sh -c 'touch $T/file-a; exec $TPROC sleep'
startsecs=0
[program:b]
command=/bin/sh -c 'touch $T/file-b; exec $TPROC sleep'
startsecs=0
umask=077
EOF
	(umask 0077 && exec "$TEND" -c "$CONF" up >"$T/tend.log" 2>&1) &
	TEND_PID=$!
	wait_started
	wait_until 5 test -e "$T/file-b"
	wait_until 5 test -e "$T/file-a"
	[ "$(stat -c %a "$T/file-a")" = 644 ]
	[ "$(stat -c %a "$T/file-b")" = 600 ]
}

@test "minfds raises the open-files limit (programs get it too); a limit it cannot raise stops the start" {
	conf <<EOF
[supervisord]
minfds=4096
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	# the soft limit is raised (the hard one only with CAP_SYS_RESOURCE, which a container may lack)
	prlimit --nofile=1024:8192 "$TEND" -c "$CONF" up >"$T/tend.log" 2>&1 &
	TEND_PID=$!
	wait_started
	wait_until 5 state_is a RUNNING
	[ "$(awk '/Max open files/ {print $4}' /proc/"$(pid_of a)"/limits)" -ge 4096 ]
	stop_tend
	chmod 644 "$CONF"
	run prlimit --nofile=1024:2048 setpriv --reuid=nobody --regid=nogroup --clear-groups "$TEND" -c "$CONF" up
	[ "$status" -eq 5 ]
	[[ "$output" == *"need 4096 file descriptors (minfds); the hard limit is 2048"* ]]
}

@test "strip_ansi removes colour escapes from program output" {
	conf <<EOF
[supervisord]
strip_ansi=true
[program:a]
command=/usr/bin/printf '\033[1;31mred\033[0m plain \033[2Jclear\n'
stdout_logfile=$T/a.log
startsecs=0
autorestart=false
EOF
	start_tend
	wait_until 5 grep -q clear "$T/a.log"
	cat -A "$T/a.log"
	# each line as printed, without an escape (a run that exits before it
	# counts as started, as can happen under ASan, is retried: more lines)
	run grep -c . "$T/a.log"
	n=$output
	[ "$(grep -cx 'red plain clear' "$T/a.log")" -eq "$n" ]
	run grep -q $'\033' "$T/a.log"
	[ "$status" -ne 0 ]
}

@test "stdout_syslog sends each line to syslog as 'NAME line'" {
	/usr/bin/python3 - "$T/log.sock" "$T/syslog" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "ab", buffering=0) as f:
    for _ in range(2):
        f.write(s.recv(65536) + b"\n")
PY
	local rx=$!
	wait_until 5 test -e "$T/syslog.ready"
	conf <<EOF
[program:chatty]
command=/usr/bin/printf 'first line\nsecond line\n'
stdout_syslog=true
startsecs=0
autorestart=false
EOF
	TEND_SYSLOG_SOCKET=$T/log.sock start_tend
	wait_until 5 bash -c "[ \$(wc -l < $T/syslog) -ge 2 ]"
	wait $rx
	cat "$T/syslog"
	grep -Eq '^<14>[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} tend\[[0-9]+\]: chatty first line$' "$T/syslog"
	grep -q 'tend\[[0-9]*\]: chatty second line$' "$T/syslog"
}

@test "SUPERVISOR_SERVER_URL names tend's socket (or the program's serverurl)" {
	conf <<EOF
[program:a]
command=$TPROC env $T/env-a
startsecs=0
autorestart=false
[program:b]
command=$TPROC env $T/env-b
serverurl=unix:///elsewhere.sock
startsecs=0
autorestart=false
EOF
	start_tend
	wait_until 5 test -s "$T/env-a"
	wait_until 5 test -s "$T/env-b"
	grep -qx "SUPERVISOR_SERVER_URL=unix://$SOCK" "$T/env-a"
	grep -qx "SUPERVISOR_SERVER_URL=unix:///elsewhere.sock" "$T/env-b"
}

@test "logfile_maxbytes rotates tend's own log, keeping logfile_backups files; directory is tend's working directory" {
	mkdir -p "$T/work"
	conf <<EOF
[supervisord]
logfile=$T/own.log
logfile_maxbytes=2KB
logfile_backups=2
directory=$T/work
[program:a]
command=$TPROC stamp $T/stamps 1 0.05
startsecs=0
autorestart=true
restart_delay=0
EOF
	start_tend
	# every restart logs a few lines: the log passes 2 KB several times
	wait_until 15 test -e "$T/own.log.2"
	[ ! -e "$T/own.log.3" ]
	[ "$(stat -c %s "$T/own.log.1")" -ge 2048 ]
	[ "$(stat -c %s "$T/own.log.1")" -lt 4096 ]
	[ "$(readlink /proc/"$(pgrep -f "tendd up -c $CONF")"/cwd)" = "$T/work" ]
}
