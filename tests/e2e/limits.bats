#!/usr/bin/env bats
# Limits and isolation: cgroups (v2, v1) and the fallback without them.

load helpers

# backends this machine can run: v1 and/or v2 (a forced backend that cannot
# be had makes `tend up` fail at once), and always off
backends() {
	for b in v2 v1; do
		printf '[unix_http_server]\nfile=%s/probe.sock\n[tend]\ncgroups=%s\n[program:p]\ncommand=/bin/true\nautostart=false\n' \
			"$T" "$b" >"$T/probe.conf"
		if timeout 5 "$TEND" -c "$T/probe.conf" up -d --pidfile "$T/probe.pid" >/dev/null 2>&1; then
			"$TEND" -c "$T/probe.conf" shutdown >/dev/null 2>&1
			echo "$b"
		fi
	done
	echo off
}

last_exit_kind() {
	"$TEND" -c "$CONF" --json status "$1" |
		python3 -c 'import json,sys; e=json.load(sys.stdin)["programs"][0]["last_exit"]; print(e and e["kind"])'
}

@test "a memory hog over memory_limit is killed and restarted, reason memory-limit, on every backend" {
	for b in $(backends); do
		echo "backend $b"
		conf <<EOF
[tend]
cgroups=$b
[program:hog]
command=$TPROC memhog 8 $T/hog-$b
memory_limit=64M
startsecs=0
restart_delay=0.2
EOF
		start_tend
		wait_until 20 bash -c "[ \$(wc -l < $T/hog-$b) -ge 2 ]"
		wait_until 5 bash -c "[ \"\$($TEND -c $CONF --json status hog | grep -c '\"kind\": \"memory-limit\"')\" -ge 1 ]"
		[ "$(last_exit_kind hog)" = memory-limit ]
		run tendc status hog
		[[ "$output" == *"memory-limit"* || "$output" == *RUNNING* ]]
		grep -q "; cgroups $b" "$T/tend.log"
		if [ "$b" = off ]; then
			[[ "$(tendc --json status hog)" == *'"source": "proc"'* ]]
		fi
		stop_tend
		[ "$TEND_STATUS" -eq 0 ]
	done
}

@test "a fork bomb under tasks_max=32 is contained and tend keeps answering" {
	[[ "$(backends)" == *v* ]] || skip "no pids cgroup here"
	conf <<EOF
[program:bomb]
command=$TPROC forkbomb $T/bomb
tasks_max=32
startsecs=0
stopwaitsecs=2
EOF
	start_tend
	wait_until 10 test -s "$T/bomb"
	sleep 1
	for i in 1 2 3 4 5; do
		t0=$(date +%s%N)
		run tendc status bomb
		[ "$status" -eq 0 ]
		[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ]
		n=$(descendants "$TEND_PID" | wc -l)
		echo "processes under tend: $n"
		[ "$n" -le 32 ]
		sleep 0.2
	done
	read -r made failed <"$T/bomb"
	[ "$failed" -gt 0 ]
	run tendc stop bomb
	[ "$status" -eq 0 ]
	wait_until 5 bash -c "[ -z \"\$(pgrep -f '[t]proc forkbomb $T')\" ]"
}

@test "cpu_quota=20% holds a busy loop near 20% of a CPU" {
	[[ "$(backends)" == *v* ]] || skip "no cpu cgroup here"
	conf <<EOF
[program:burn]
command=$TPROC burn
cpu_quota=20%
startsecs=0
EOF
	start_tend
	wait_until 5 state_is burn RUNNING
	pid=$(pid_of burn)
	sleep 1
	t0=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
	sleep 3
	t1=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
	share=$(( (t1 - t0) * 100 / (3 * $(getconf CLK_TCK)) ))
	echo "burn used ${share}% of a CPU"
	[ "$share" -ge 10 ] && [ "$share" -le 35 ]
	run tendc --json status burn
	[[ "$output" == *'"cpu_seconds"'* ]]
}

@test "stopping a program kills a double-forked escapee in its cgroup" {
	[[ "$(backends)" == *v* ]] || skip "no cgroups here"
	conf <<EOF
[program:escaper]
command=$TPROC escape $T/escapee
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/escapee"
	esc=$(cat "$T/escapee")
	kill -0 "$esc"
	run tendc stop escaper
	[ "$status" -eq 0 ]
	wait_gone "$esc" 5
}

@test "tend killed with SIGKILL and started again: the leftovers die, no program runs twice" {
	[[ "$(backends)" == *v* ]] || skip "no cgroups here"
	conf <<EOF
[program:single]
command=$TPROC stamp $T/stamps 0 1000
startsecs=0
[program:tree]
command=$TPROC tree 2 $T/kids
startsecs=0
EOF
	start_tend
	wait_until 5 state_is single RUNNING
	wait_until 5 bash -c "[ \$(wc -l < $T/kids) -eq 2 ]"
	old=$(pid_of single)
	kids=$(cat "$T/kids")
	kill -KILL "$TEND_PID"
	wait "$TEND_PID" || true
	TEND_PID=
	kill -0 "$old"
	rm -f "$SOCK"
	start_tend
	wait_until 5 state_is single RUNNING
	wait_gone "$old" 5
	for k in $kids; do wait_gone "$k" 5; done
	[ "$(pgrep -fc "tproc stamp $T/stamps")" -eq 1 ]
	grep -q 'left in the cgroups of a tend that did not exit cleanly' "$T/tend.log"
}

@test "tend's cgroup tree is removed when it exits" {
	[[ "$(backends)" == *v* ]] || skip "no cgroups here"
	conf <<EOF
[program:a]
command=$TPROC sleep
memory_limit=100M
tasks_max=50
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	leafs=$(awk -F: '{print $3}' /proc/"$(pid_of a)"/cgroup | grep 'tend\.' | sort -u)
	[ -n "$leafs" ]
	# the tree tend logged: one directory per hierarchy, each holding tend's
	# own leaf, and the program's where it needs one (v1: memory, pids for
	# tasks_max, the unified one; no cpu leaf without cpu_quota)
	mine=$(sed -n 's/.*INFO cgroup tree: //p' "$T/tend.log")
	[ -n "$mine" ]
	n=0
	for d in $mine; do
		[ -d "$d/_tend" ]
		if [ -d "$d/a" ]; then n=$((n + 1)); fi
	done
	[ "$n" -ge 1 ]
	for l in $leafs; do [[ " $mine " == *"$(dirname "$l") "* ]]; done
	stop_tend
	for d in $mine; do [ ! -d "$d" ]; done
}

# cg_leaves NAME: the leaves named NAME below the trees tend logged, one a line
cg_leaves() {
	local d
	for d in $(sed -n 's/.*INFO cgroup tree: //p' "$T/tend.log"); do
		if [ -d "$d/$1" ]; then echo "$d/$1"; fi
	done
}

# cg_below: every directory below the trees tend logged (the trees themselves
# excluded), sorted
cg_below() {
	local d
	for d in $(sed -n 's/.*INFO cgroup tree: //p' "$T/tend.log"); do
		if [ -d "$d" ]; then find "$d" -mindepth 1 -type d; fi
	done | sort
}

@test "a restarted program is back in the same cgroup leaf, and nothing of its old tree is in it" {
	[[ "$(backends)" == *v* ]] || skip "no cgroups here"
	conf <<EOF
[program:esc]
command=$TPROC escape $T/escapee
memory_limit=100M
startsecs=0
EOF
	start_tend
	wait_until 5 bash -c "[ \$(wc -l < $T/escapee) -eq 1 ]"
	old=$(pid_of esc)
	esc1=$(sed -n 1p "$T/escapee")
	leaves=$(cg_leaves esc)
	[ -n "$leaves" ]
	# the same directory, not one made again with the same name: its inode
	inodes=$(for l in $leaves; do stat -c %i "$l"; done)
	for l in $leaves; do grep -qx "$old" "$l/cgroup.procs"; grep -qx "$esc1" "$l/cgroup.procs"; done
	# the main process dies; the escapee (a session of its own: no group
	# kill reaches it) is left in the leaf, and must die before the restart
	kill -KILL "$old"
	wait_until 10 bash -c "[ \$(wc -l < $T/escapee) -eq 2 ]"
	wait_gone "$esc1" 5
	new=$(pid_of esc)
	esc2=$(sed -n 2p "$T/escapee")
	[ "$new" != "$old" ]
	[ "$(cg_leaves esc)" = "$leaves" ]
	[ "$(for l in $leaves; do stat -c %i "$l"; done)" = "$inodes" ]
	want=$(printf '%s\n' "$new" "$esc2" | sort -n | tr '\n' ' ')
	for l in $leaves; do
		echo "$l: $(sort -n "$l/cgroup.procs" | tr '\n' ' ')"
		[ "$(sort -n "$l/cgroup.procs" | tr '\n' ' ')" = "$want" ]
	done
}

@test "v1+unified: a program without memory_limit is made in its unified leaf, has no memory leaf, its memory sums its processes, and it restarts after a leftover kill" {
	[[ "$(backends)" == *v1* ]] || skip "no v1 cgroups here"
	conf <<EOF
[tend]
cgroups=v1
[program:m]
command=/bin/sh -c '$TPROC memhog 8 $T/hogs 40 & $TPROC escape $T/escapee & exec $TPROC memhog 8 $T/hogs 40'
startsecs=0
EOF
	start_tend
	grep -q 'cgroups v1+unified' "$T/tend.log" || skip "no unified hierarchy beside v1 here"
	wait_until 5 bash -c "[ \$(cat $T/hogs 2>/dev/null | wc -l) -eq 2 ] && [ -s $T/escapee ]"
	old=$(pid_of m)
	leaves=$(cg_leaves m)
	# one leaf, the unified one: no v1 memory leaf without memory_limit
	[ "$(echo "$leaves" | wc -l)" -eq 1 ]
	[[ "$leaves" == */unified/* ]]
	grep -qx "$old" "$leaves/cgroup.procs"
	grep -q '^0::/.*/m$' /proc/"$old"/cgroup
	grep -q ':memory:/.*/_tend$' /proc/"$old"/cgroup
	# the figure holds both hogs' 40 MB, not the main process's alone
	wait_until 10 bash -c "$TEND -c $CONF --json status m | python3 -c 'import json,sys; m=json.load(sys.stdin)[\"programs\"][0][\"memory\"]; sys.exit(not (m[\"source\"] == \"proc\" and m[\"current\"] >= 80 << 20))'"
	# the main process dies; the other hog and the escapee are left in the
	# leaf and killed through its cgroup.kill; the restart then runs (this
	# kernel kills a child clone3 makes in a leaf whose cgroup.kill was
	# written: tend then joins it through cgroup.procs)
	esc1=$(sed -n 1p "$T/escapee")
	kill -KILL "$old"
	wait_gone "$esc1" 5
	wait_until 10 bash -c "[ \$(wc -l < $T/hogs) -ge 4 ]"
	sleep 1
	state_is m RUNNING
	new=$(pid_of m)
	[ "$new" != "$old" ]
	grep -qx "$new" "$leaves/cgroup.procs"
	[ "$(wc -l < "$T/hogs")" -eq 4 ]
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
}

@test "twelve programs started together each run in their own leaf; tend's exit removes its trees, an empty directory left in them too" {
	[[ "$(backends)" == *v* ]] || skip "no cgroups here"
	conf <<EOF
[program:w]
command=$TPROC sleep
process_name=w_%(process_num)02d
numprocs=12
startsecs=0
EOF
	start_tend
	for i in 00 01 02 03 04 05 06 07 08 09 10 11; do wait_until 5 state_is "w:w_$i" RUNNING; done
	for i in 00 01 02 03 04 05 06 07 08 09 10 11; do
		leaves=$(cg_leaves "w:w_$i")
		[ -n "$leaves" ]
		for l in $leaves; do grep -qx "$(pid_of "w:w_$i")" "$l/cgroup.procs"; done
	done
	# every directory below the trees is a leaf of one of them, or tend's own
	[ -z "$(cg_below | grep -v -e '/_tend$' -e '/w:w_[01][0-9]$')" ]
	trees=$(sed -n 's/.*INFO cgroup tree: //p' "$T/tend.log")
	for d in $trees; do mkdir "$d/stray"; done
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
	for d in $trees; do [ ! -d "$d" ]; done
}

@test "no cgroup directory is left after a reload removes a program, nor after tend stops" {
	[[ "$(backends)" == *v* ]] || skip "no cgroups here"
	conf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
[program:b]
command=$TPROC escape $T/escapee
memory_limit=100M
cpu_quota=50%
tasks_max=20
startsecs=0
[program:c]
command=$TPROC tree 2 $T/kids
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	wait_until 5 test -s "$T/escapee"
	wait_until 5 bash -c "[ \$(wc -l < $T/kids) -eq 2 ]"
	esc=$(cat "$T/escapee")
	kids=$(cat "$T/kids")
	mine=$(sed -n 's/.*INFO cgroup tree: //p' "$T/tend.log")
	[ -n "$mine" ]
	cg_below
	[ -n "$(cg_leaves b)" ] && [ -n "$(cg_leaves c)" ]
	# b and c go: their processes, escapee and children included, and their leaves
	conf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	run tendc reload
	[ "$status" -eq 0 ]
	wait_until 10 grep -q 'removed: c' "$T/tend.log"
	wait_until 10 grep -q 'removed: b' "$T/tend.log"
	wait_gone "$esc" 5
	for k in $kids; do wait_gone "$k" 5; done
	cg_below
	[ -z "$(cg_below | grep -v -e '/_tend$' -e '/a$')" ]
	[ "$(state a)" = RUNNING ]
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
	for d in $mine; do [ ! -d "$d" ]; done
}

@test "max_lifetime recycles instances one at a time, reason recycled" {
	# SIGWINCH is ignored: each recycle takes stopwaitsecs (1 s) and a SIGKILL,
	# long enough that two instances recycled at once would overlap in the log
	conf <<EOF
[program:leaky]
command=$TPROC stamp $T/stamps-%(process_num)d 0 1000
process_name=leaky_%(process_num)d
numprocs=2
max_lifetime=1s
startsecs=0
stopsignal=WINCH
stopwaitsecs=1
EOF
	start_tend
	wait_until 20 bash -c "[ \$(cat $T/stamps-0 | wc -l) -ge 2 ] && [ \$(cat $T/stamps-1 | wc -l) -ge 2 ]"
	[ "$(last_exit_kind leaky:leaky_0)" = recycled ] || [ "$(last_exit_kind leaky:leaky_1)" = recycled ]
	# one at a time: no instance is recycled while the other's recycle (its stop,
	# then its new process RUNNING) is under way
	grep -E 'recycling leaky|success: leaky' "$T/tend.log"
	awk '/recycling leaky:/ { n = $5; sub(/:$/, "", n); if (busy != "") { print "overlap: " n " while " busy; bad = 1 } busy = n }
	     /success: leaky:/ { if ($5 == busy) busy = "" }
	     END { exit bad }' "$T/tend.log"
	[ "$(grep -c 'recycling leaky' "$T/tend.log")" -ge 2 ]
}

@test "rlimits, nice, oom_score_adj (reset unless set) and no_new_privs reach the program" {
	conf <<EOF
[program:limited]
command=$TPROC sleep
nofile=123
core=0
nice=5
no_new_privs=true
startsecs=0
[program:plain]
command=$TPROC sleep
startsecs=0
[program:adj]
command=$TPROC sleep
oom_score_adj=300
startsecs=0
EOF
	(
		# tend with a raised oom_score_adj: its programs must be reset to 0
		echo 200 >/proc/self/oom_score_adj
		start_tend
		echo "$TEND_PID" >"$T/tend.pid"
	)
	TEND_PID=$(cat "$T/tend.pid")
	wait_until 5 state_is adj RUNNING
	wait_until 5 state_is limited RUNNING
	p=$(pid_of limited)
	grep -q '^Max open files *123 *123' /proc/"$p"/limits
	grep -q '^Max core file size *0 *0' /proc/"$p"/limits
	[ "$(awk '{print $19}' /proc/"$p"/stat)" -eq 5 ]
	grep -q '^NoNewPrivs:	1' /proc/"$p"/status
	[ "$(cat /proc/"$(pid_of plain)"/oom_score_adj)" -eq 0 ]
	[ "$(cat /proc/"$(pid_of adj)"/oom_score_adj)" -eq 300 ]
	[ "$(cat /proc/"$TEND_PID"/oom_score_adj)" -eq 200 ]
}

@test "a forced cgroup backend this machine lacks is an error at start" {
	printf '[unix_http_server]\nfile=%s\n[tend]\ncgroups=v2\n[program:p]\ncommand=/bin/true\n' "$SOCK" >"$CONF"
	if [[ "$(backends)" == *v2* ]]; then skip "this machine has cgroup v2 controllers"; fi
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 1 ]
	[[ "$output" == *"cgroups = v2: no cgroup2 hierarchy with the memory, cpu and pids controllers"* ]]
	[ ! -S "$SOCK" ]
}

@test "tend raises its open-file limit to what the config needs, or refuses with the number" {
	hard=$(ulimit -Hn)
	# up to the hard limit: the soft limit is raised; the programs get minfds (what
	# they inherit from supervisord), else the original
	conf <<EOF2
[supervisord]
minfds=$hard
[program:a]
command=$TPROC sleep $T
EOF2
	start_tend
	[ "$(awk '/Max open files/ {print $4}' "/proc/$TEND_PID/limits")" = "$hard" ]
	wait_until 5 state_is a RUNNING
	[ "$(awk '/Max open files/ {print $4}' "/proc/$(pid_of a)/limits")" = "$hard" ]
	stop_tend
	# beyond it: raised by a root with CAP_SYS_RESOURCE, else refused with the number
	conf <<EOF2
[supervisord]
minfds=$((hard + 1000))
[program:a]
command=$TPROC sleep $T
EOF2
	if python3 -c "import resource as r; r.setrlimit(r.RLIMIT_NOFILE, ($hard + 1000, $hard + 1000))" 2>/dev/null; then
		start_tend
		[ "$(awk '/Max open files/ {print $4}' "/proc/$TEND_PID/limits")" -ge $((hard + 1000)) ]
		stop_tend
	else
		run "$TEND" -c "$CONF" up
		[ "$status" -eq 5 ]
		[[ "$output" == *"need $((hard + 1000)) file descriptors (minfds); the hard limit is $hard"* ]]
	fi
	# more than the kernel allows anyone: refused at once
	conf <<EOF2
[supervisord]
minfds=$(( $(cat /proc/sys/fs/nr_open) + 1 ))
[program:a]
command=$TPROC sleep $T
EOF2
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 5 ]
	[[ "$output" == *"need $(( $(cat /proc/sys/fs/nr_open) + 1 )) file descriptors (minfds)"* ]]
}

@test "a program costs tendd one descriptor (no pidfd per instance): 600 start and restart under a hard limit of 1100" {
	# 600 instances without log relays: 320 for tendd itself + 1 each (the stdin
	# pipe; minfds, 1024 by default, is below the limit); a pidfd per instance
	# made it 1,520 and tend refused to start
	# (10,000 programs did not fit in a hard limit of 20,000).  Without
	# CAP_SYS_RESOURCE (as in a container) tend cannot raise the hard limit.
	conf <<EOF2
[tend]
cgroups=off
[program:w]
command=$TPROC sleep
process_name=%(program_name)s_%(process_num)d
numprocs=600
startsecs=0
stdout_logfile=NONE
stderr_logfile=NONE
EOF2
	prlimit --nofile=1100:1100 setpriv --bounding-set=-sys_resource "$TEND" -c "$CONF" up >"$T/tend.log" 2>&1 &
	TEND_PID=$!
	wait_started
	wait_until 30 bash -c "[ \$('$TEND' -c '$CONF' status | grep -c RUNNING) -eq 600 ]"
	fds=$(ls "/proc/$TEND_PID/fd" | wc -l)
	echo "tendd holds $fds fds"
	[ "$fds" -ge 600 ] && [ "$fds" -lt 1100 ]
	# a SIGKILLed program is restarted (signalled, reaped) with the limit as tight
	pid=$(pid_of w:w_7)
	kill -KILL "$pid"
	wait_until 10 bash -c "p=\$('$TEND' -c '$CONF' --json status w:w_7 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"programs\"][0][\"pid\"])'); [ -n \"\$p\" ] && [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
	run "$TEND" -c "$CONF" stop w:w_3
	[ "$status" -eq 0 ]
	[ "$(ls "/proc/$TEND_PID/fd" | wc -l)" -le "$fds" ]
	[ -z "$(zombies_of "$TEND_PID")" ]
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
}
