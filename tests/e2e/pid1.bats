#!/usr/bin/env bats
# tend as PID 1 of a PID namespace (a container's init), and exit_with.

load helpers

# start_pid1: `tend up` as PID 1 under unshare; TEND_PID is unshare, INNER its child
start_pid1() {
	unshare --pid --fork --mount-proc "$TEND" -c "$CONF" up >"$T/tend.log" 2>&1 &
	TEND_PID=$!
	wait_started || return 1
	INNER=$(ps -o pid= --ppid "$TEND_PID" | tr -d ' ')
	[ -n "$INNER" ]
}

@test "as PID 1: orphans are reaped, TERM is an ordered shutdown, exit status 0, nothing left" {
	conf <<EOF
[program:escaper]
command=$TPROC escape $T/escapee
startsecs=0
[program:plain]
command=$TPROC sleep
startsecs=0
EOF
	start_pid1
	grep -q "started with pid 1;" "$T/tend.log"
	wait_until 5 test -s "$T/escapee"
	# the escapee's pid is its pid inside the namespace: find it from outside
	wait_until 5 bash -c "[ \$(ps -o pid= --ppid $INNER | wc -l) -ge 3 ]"
	tree=$(descendants "$INNER")
	# the program and its escaped grandchild are both children of PID 1 now
	[ "$(ps -o args= --ppid "$INNER" | grep -c 'tproc escape')" -eq 2 ]
	[ -z "$(zombies_of "$INNER")" ]
	kill -TERM "$INNER"
	rc=0
	wait "$TEND_PID" || rc=$?
	TEND_PID=
	[ "$rc" -eq 0 ]
	for p in $tree; do ! kill -0 "$p" 2>/dev/null; done
	grep -q 'all programs stopped' "$T/tend.log"
}

@test "as PID 1: zero zombies after a double-forking orphan exits" {
	conf <<EOF
[program:escaper]
command=sh -c '$TPROC escape $T/escapee'
startsecs=0
autorestart=false
EOF
	start_pid1
	wait_until 5 test -s "$T/escapee"
	# kill every process of the program's tree but tend: the orphans must be reaped
	for p in $(descendants "$INNER"); do kill -KILL "$p" 2>/dev/null || true; done
	wait_until 5 bash -c "[ -z \"\$(ps -e -o ppid= | awk -v p=$INNER '\$1 == p')\" ]"
	[ -z "$(zombies_of "$INNER")" ]
	[ -z "$(descendants "$INNER")" ]
	grep -Eq 'INFO reaped [0-9]+ orphans? left by programs' "$T/tend.log"
	kill -TERM "$INNER"
	wait "$TEND_PID"
	TEND_PID=
}

@test "exit_with: tend shuts down and exits with the main program's status" {
	conf <<EOF
[tend]
exit_with=main
[program:main]
command=$TPROC stamp $T/main 7 2
startsecs=0
autorestart=true
[program:sidecar]
command=$TPROC sleep
startsecs=0
EOF
	start_pid1
	rc=0
	wait "$TEND_PID" || rc=$?
	TEND_PID=
	[ "$rc" -eq 7 ]
	# not restarted, although autorestart=true
	[ "$(wc -l <"$T/main")" -eq 1 ]
	grep -q 'main (exit_with) exited: shutting down with status 7' "$T/tend.log"
	grep -q 'stopped: sidecar' "$T/tend.log"
}

@test "exit_with: a main program killed by signal n gives 128+n" {
	conf <<EOF
[tend]
exit_with=main
[program:main]
command=$TPROC stamp $T/main 0 1000
startsecs=0
EOF
	start_tend
	wait_until 5 state_is main RUNNING
	kill -KILL "$(pid_of main)"
	rc=0
	wait "$TEND_PID" || rc=$?
	TEND_PID=
	[ "$rc" -eq 137 ]
}

@test "exit_with must name a program" {
	conf <<EOF
[supervisord]
exit_with=ghost
[program:a]
command=/bin/true
EOF
	run tendc check
	[ "$status" -eq 5 ]
	[[ "$output" == *"tend.conf:5: exit_with: 'ghost' is not a program"* ]]
}
