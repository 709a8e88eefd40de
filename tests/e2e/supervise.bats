#!/usr/bin/env bats
# Restart policy: backoff, FATAL, exec failures, autorestart, numprocs.

load helpers

@test "a crashing program restarts with growing delays" {
	conf <<EOF
[program:crash]
command=$TPROC stamp $T/stamps 3 0.05
startsecs=0
restart_delay=0.2
backoff_factor=2
max_backoff=1
EOF
	start_tend
	wait_until 15 bash -c "[ \$(wc -l < $T/stamps) -ge 6 ]"
	# gaps between starts: run time (0.05 s) + backoff 0, 0.2, 0.4, 0.8, 1.0 (capped)
	python3 - "$T/stamps" <<'PY'
import sys
t = [int(l.split()[0]) / 1e9 for l in open(sys.argv[1])]
gaps = [b - a - 0.05 for a, b in zip(t, t[1:])]
want = [0, 0.2, 0.4, 0.8, 1.0]
print("gaps", [round(g, 3) for g in gaps])
# never early; late by at most what the immediate first restart took (a
# loaded machine, a sanitizer build: exec and the stamp take longer) + 0.25 s
slack = 0.25 + min(gaps[0], 0.5)
for g, w in zip(gaps, want):
    assert w - 0.01 <= g <= w + slack, (g, w, slack)
PY
	run tendc --json status crash
	restarts=$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["restarts"])')
	[ "$restarts" -ge 5 ]
}

@test "a program that keeps failing to start goes FATAL after startretries" {
	conf <<EOF
[program:fail]
command=$TPROC stamp $T/stamps 1
startsecs=1
startretries=2
restart_delay=0.1
EOF
	start_tend
	wait_until 10 state_is fail FATAL
	sleep 0.5
	# startretries=2: the first attempt and 2 retries (supervisord's meaning)
	[ "$(wc -l < "$T/stamps")" -eq 3 ]
	run tendc status fail
	[ "$status" -eq 1 ]
	[[ "$output" == *"gave up: exit status 1"* ]]
}

@test "startretries=-1 retries forever" {
	conf <<EOF
[program:fail]
command=$TPROC stamp $T/stamps 1
startsecs=1
startretries=-1
restart_delay=0.05
max_backoff=0.05
EOF
	start_tend
	wait_until 10 bash -c "[ \$(wc -l < $T/stamps) -ge 12 ]"
	[ "$(state fail)" != FATAL ]
}

@test "an exec failure is reported as the reason, distinct from an early exit" {
	printf 'not a program\n' >"$T/noexec"
	chmod 644 "$T/noexec"
	conf <<EOF
[program:missing]
command=$T/does-not-exist --flag
startretries=0
[program:noperm]
command=$T/noexec
startretries=0
[program:early]
command=$TPROC stamp $T/stamps 7
startretries=0
EOF
	start_tend
	wait_until 10 state_is missing FATAL
	wait_until 10 state_is noperm FATAL
	wait_until 10 state_is early FATAL
	run tendc status missing
	[[ "$output" == *"can't exec '$T/does-not-exist': No such file or directory"* ]]
	run tendc status noperm
	[[ "$output" == *"Permission denied"* ]]
	run tendc status early
	[[ "$output" == *"exit status 7"* ]]
	run tendc --json status missing
	[[ "$output" == *'"kind": "spawn-error"'* ]]
	run tendc --json status early
	[[ "$output" == *'"kind": "exit"'* ]]
}

@test "autorestart=unexpected keeps an expected exit down, restarts an unexpected one" {
	conf <<EOF
[program:ok]
command=$TPROC stamp $T/ok 0 0.2
startsecs=0
exitcodes=0,2
[program:bad]
command=$TPROC stamp $T/bad 1 0.2
startsecs=0
restart_delay=0.1
[program:never]
command=$TPROC stamp $T/never 1 0.2
startsecs=0
autorestart=false
[program:always]
command=$TPROC stamp $T/always 0 0.2
startsecs=0
autorestart=true
restart_delay=0.1
EOF
	start_tend
	wait_until 10 bash -c "[ \$(wc -l < $T/bad) -ge 3 ] && [ \$(wc -l < $T/always) -ge 3 ]"
	wait_until 5 state_is ok EXITED
	wait_until 5 state_is never EXITED
	[ "$(wc -l < "$T/ok")" -eq 1 ]
	[ "$(wc -l < "$T/never")" -eq 1 ]
}

@test "a program killed with SIGKILL is replaced at once" {
	conf <<EOF
[program:victim]
command=$TPROC stamp $T/stamps 0 1000
startsecs=0
EOF
	start_tend
	wait_until 5 state_is victim RUNNING
	pid=$(pid_of victim)
	kill -KILL "$pid"
	wait_until 5 bash -c "[ \$(wc -l < $T/stamps) -ge 2 ]"
	wait_until 5 state_is victim RUNNING
	new=$(pid_of victim)
	[ "$new" != "$pid" ]
	[ -z "$(zombies_of "$TEND_PID")" ]
}

@test "numprocs names instances and group:* addresses them" {
	conf <<EOF
[program:web]
command=$TPROC sleep %(process_num)d
process_name=%(program_name)s_%(process_num)02d
numprocs=3
numprocs_start=1
startsecs=0
EOF
	start_tend
	wait_until 5 state_is web:web_03 RUNNING
	run tendc status
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == web:web_01* ]]
	[[ "${lines[2]}" == web:web_03* ]]
	run tendc stop 'web:*'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	run tendc start web:web_02
	[ "$status" -eq 0 ]
	[ "$output" = "web:web_02: started" ]
	[ "$(state web:web_01)" = STOPPED ]
	[ "$(state web:web_02)" = RUNNING ]
}

# restarted NAME OLDPID: NAME runs again, under another pid
restarted() {
	local p
	p=$(pid_of "$1") && [ -n "$p" ] && [ "$p" != "$2" ] && [ "$p" != 0 ] && state_is "$1" RUNNING
}

@test "an exit costs tend one walk of its children (waitid P_ALL), after the restart; two that exit together both restarted with no zombie left" {
	conf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
restart_delay=0.1
[program:b]
command=$TPROC sleep
startsecs=0
restart_delay=0.1
EOF
	# (a short backoff: a's fourth exit waits 0.4 s, where 4 s came close
	# to what wait_until 5 gives, 4 to 5 s)
	# waitid(P_ALL) walks every child: 4-5 ms per call with 10,000 of them;
	# the pid the SIGCHLD names is looked at alone first, so a lone exit
	# walks once (the walk that finds no other), where it walked twice; and
	# a restart at once (the first; the next wait out their backoff) is made
	# before that walk: the walk sees a's new process and b's (2), where it
	# came first and saw b's alone (1)
	mkdir "$T/count"
	COUNT_WAITID_DIR=$T/count LD_PRELOAD=$TEND_BUILD/helpers/count_waitid.so \
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 start_tend
	wait_until 5 state_is a RUNNING
	wait_until 5 state_is b RUNNING
	walks() { cat "$T/count/$TEND_PID" 2>/dev/null || echo 0; }
	for i in 1 2 3; do
		n0=$(walks)
		pa=$(pid_of a)
		kill -KILL "$pa"
		wait_until 5 restarted a "$pa"
		n1=$(walks)
		kids=$(cat "$T/count/$TEND_PID.kids")
		echo "exit $i: $((n1 - n0)) walks, the last seeing $kids children"
		[ "$((n1 - n0))" -eq 1 ]
		[ "$i" -gt 1 ] || [ "$kids" -eq 2 ]
	done
	# two at once: their SIGCHLDs may merge into one (naming one pid), and
	# the walk still finds the other; or the walk after the first finds the
	# second, whose own SIGCHLD then comes to a reaped pid and one more walk
	n0=$(walks)
	pa=$(pid_of a)
	pb=$(pid_of b)
	kill -KILL "$pa" "$pb"
	wait_until 5 restarted a "$pa"
	wait_until 5 restarted b "$pb"
	n1=$(walks)
	echo "two exits: $((n1 - n0)) walks"
	[ "$((n1 - n0))" -ge 1 ] && [ "$((n1 - n0))" -le 3 ]
	[ -z "$(zombies_of "$TEND_PID")" ]
	[ "$(grep -c "exited: a (killed by SIGKILL" "$T/tend.log")" -eq 4 ]
	[ "$(grep -c "exited: b (killed by SIGKILL" "$T/tend.log")" -eq 1 ]
}
