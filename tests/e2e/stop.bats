#!/usr/bin/env bats
# Stopping: stop signal then SIGKILL, whole process trees, orphans, zombies,
# shutdown by signal.

load helpers

alive() {
	kill -0 "$1" 2>/dev/null
}

@test "a child that ignores SIGTERM is killed after stopwaitsecs" {
	conf <<EOF
[program:stubborn]
command=$TPROC ignore-term $T/ready
stopwaitsecs=1
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/ready"
	t0=$(date +%s%N)
	run tendc stop stubborn
	t1=$(date +%s%N)
	[ "$status" -eq 0 ]
	[ "$output" = "stubborn: stopped" ]
	ms=$(((t1 - t0) / 1000000))
	echo "stop took $ms ms"
	[ "$ms" -ge 950 ] && [ "$ms" -lt 3000 ]
	run tendc status stubborn
	[[ "$output" == *"stopped (SIGKILL after stopwaitsecs)"* ]]
	grep -q 'killing stubborn' "$T/tend.log"
}

@test "stopping a program stops its whole process tree" {
	conf <<EOF
[program:tree]
command=$TPROC tree 3 $T/kids
startsecs=0
EOF
	start_tend
	wait_until 5 bash -c "[ \$(wc -l < $T/kids) -eq 3 ]"
	kids=$(cat "$T/kids")
	for k in $kids; do alive "$k"; done
	run tendc stop tree
	[ "$status" -eq 0 ]
	for k in $kids; do wait_gone "$k" 5; done
}

@test "when a program's main process dies, what it left in its group dies before the restart" {
	conf <<EOF
[program:tree]
command=$TPROC tree 2 $T/kids
startsecs=0
EOF
	start_tend
	wait_until 5 bash -c "[ \$(wc -l < $T/kids) -eq 2 ]"
	old=$(head -n 2 "$T/kids")
	kill -KILL "$(pid_of tree)"
	wait_until 5 bash -c "[ \$(wc -l < $T/kids) -eq 4 ]"
	for k in $old; do wait_gone "$k" 5; done
	[ -z "$(zombies_of "$TEND_PID")" ]
}

@test "without cgroups, an escaped orphan is reaped by tend and ended at shutdown; no zombies, no leftovers" {
	conf <<EOF
[tend]
cgroups=off
[program:escaper]
command=$TPROC escape $T/escapee
startsecs=0
[program:plain]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/escapee"
	esc=$(cat "$T/escapee")
	# the orphan was re-parented to tend (a child subreaper), not to init
	wait_until 5 bash -c "[ \$(ps -o ppid= -p $esc) -eq $TEND_PID ]"
	tree=$(descendants "$TEND_PID")
	[ -z "$(zombies_of "$TEND_PID")" ]
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
	for p in $tree; do ! alive "$p"; done
	grep -q 'leftover process' "$T/tend.log"
}

@test "an orphan that exits on its own is reaped (no zombie under tend); the log counts orphans, each at debug level" {
	conf <<EOF
[supervisord]
loglevel=debug
[program:escaper]
command=$TPROC escape $T/escapee
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/escapee"
	esc=$(cat "$T/escapee")
	wait_until 5 bash -c "[ \$(ps -o ppid= -p $esc) -eq $TEND_PID ]"
	kill -TERM "$esc"
	wait_until 5 bash -c "! ps -p $esc >/dev/null"
	[ -z "$(zombies_of "$TEND_PID")" ]
	grep -q "DEBG reaped orphan pid $esc" "$T/tend.log"
	[ "$(grep -c "INFO reaped 1 orphan left by programs" "$T/tend.log")" -eq 1 ]
}

@test "SIGTERM and SIGINT to tend stop everything in order and exit 0" {
	for sig in TERM INT; do
		conf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
[program:b]
command=$TPROC tree 2 $T/kids-$sig
startsecs=0
EOF
		start_tend
		wait_until 5 bash -c "[ \$(wc -l < $T/kids-$sig) -eq 2 ]"
		tree=$(descendants "$TEND_PID")
		kill -$sig "$TEND_PID"
		rc=0
		wait "$TEND_PID" || rc=$?
		TEND_PID=
		[ "$rc" -eq 0 ]
		for p in $tree; do ! alive "$p"; done
		[ ! -e "$SOCK" ]
	done
}

@test "without pidfd_send_signal (a kernel before 5.1, valgrind: ENOSYS) tend still stops its programs and itself" {
	conf <<EOF
[tend]
cgroups=off
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	# 424: pidfd_send_signal on x86_64, failing with ENOSYS for tend and what it starts
	"$TEND_BUILD/helpers/nosys" 424 "$TEND" -c "$CONF" up >"$T/tend.log" 2>&1 &
	TEND_PID=$!
	wait_started
	wait_until 5 state_is a RUNNING
	pid=$(pid_of a)
	run timeout 5 "$TEND" -c "$CONF" stop a
	[ "$status" -eq 0 ]
	! alive "$pid"
	grep -q "stopped: a (terminated by SIGTERM)" "$T/tend.log"
	tendc start a
	tree=$(descendants "$TEND_PID")
	kill -TERM "$TEND_PID"
	wait_gone "$TEND_PID" 5
	TEND_PID=
	for p in $tree; do ! alive "$p"; done
}

@test "tend shutdown stops everything and returns once the daemon is gone" {
	conf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	run tendc shutdown
	[ "$status" -eq 0 ]
	[ "$output" = "Shut down" ]
	! alive "$TEND_PID"
	wait "$TEND_PID"
	TEND_PID=
	run tendc status
	[ "$status" -eq 3 ]
}

@test "kill_leftovers=false: only the main process is signalled and its children live on until shutdown" {
	conf <<EOF
[program:tree]
command=$TPROC tree 2 $T/kids
startsecs=0
stopasgroup=false
killasgroup=false
kill_leftovers=false
EOF
	start_tend
	wait_until 5 bash -c "[ \$(wc -l < $T/kids) -eq 2 ]"
	run tendc stop tree
	[ "$status" -eq 0 ]
	# the children did not get the stop signal and are orphans of tend now
	for k in $(cat "$T/kids"); do alive "$k"; done
	stop_tend
	for k in $(cat "$T/kids"); do ! alive "$k"; done
}

@test "by default the stop signal reaches the main process only, and its leftovers die once it exited" {
	conf <<EOF
[program:tree]
command=$TPROC tree 2 $T/kids
startsecs=0
EOF
	start_tend
	wait_until 5 bash -c "[ \$(wc -l < $T/kids) -eq 2 ]"
	run tendc stop tree
	[ "$status" -eq 0 ]
	for k in $(cat "$T/kids"); do wait_gone "$k" 5; done
}

# celery's own supervisord example: killasgroup=true, stopasgroup left at its
# default; the master drains (waits for its worker's job) on SIGTERM
@test "a master that drains on SIGTERM: its worker finishes the job, then nothing is left" {
	cat >"$T/master.py" <<'PY'
import os, signal, sys, time
out = sys.argv[1]
pid = os.fork()
if pid == 0:
    # the worker: a job of 1.5 s; a SIGTERM would kill it mid-job
    with open(out, "a") as f:
        f.write("job started\n")
    time.sleep(1.5)
    with open(out, "a") as f:
        f.write("job done\n")
    # a process the worker leaves behind (tend must end it)
    if os.fork() == 0:
        os.setsid()
        with open(out + ".left", "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)
        os._exit(0)
    os._exit(0)
draining = []
signal.signal(signal.SIGTERM, lambda s, f: draining.append(1))
while not draining:
    time.sleep(0.05)
with open(out, "a") as f:
    f.write("master draining\n")
os.waitpid(pid, 0)
with open(out, "a") as f:
    f.write("master done\n")
PY
	conf <<EOF
[program:celery]
command=/usr/bin/python3 $T/master.py $T/out
startsecs=0
stopwaitsecs=10
killasgroup=true
EOF
	start_tend
	wait_until 5 grep -q "job started" "$T/out"
	run tendc stop celery
	[ "$status" -eq 0 ]
	grep -q "job done" "$T/out"
	grep -q "master done" "$T/out"
	wait_until 5 test -s "$T/out.left"
	wait_gone "$(cat "$T/out.left")" 5
	run tendc status celery
	[[ "$output" == *"STOPPED"* ]]
	[[ "$output" == *"exit status 0"* ]]
}
