#!/usr/bin/env bats
# Pools: one listening socket shared by prefork workers (listen=), readiness
# (ready=), draining (drain_secs) and the rolling restart, with a small C HTTP
# worker (tests/helpers/thttp.c) that accepts on fd 3.

load helpers

THTTP=$TEND_BUILD/helpers/thttp

# get URL: the body, or "ERR" when the request failed (never answered)
get() {
	curl -s --max-time 5 "$1" || echo ERR
}

@test "listen= binds once and hands fd 3 with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES to every worker" {
	port=$(free_port)
	conf <<EOF
[program:web]
command=$THTTP $T
numprocs=3
process_name=web_%(process_num)d
listen=tcp://127.0.0.1:$port
startsecs=0
EOF
	start_tend
	wait_until 5 state_is web:web_2 RUNNING
	# thttp exits 3 unless LISTEN_PID is its own pid, LISTEN_FDS=1 and LISTEN_FDNAMES is set
	for i in $(seq 30); do get "http://127.0.0.1:$port/"; done | sort -u >"$T/pids"
	[ "$(wc -l <"$T/pids")" -ge 2 ] # the kernel spreads accepts over the workers
	while read -r p; do
		for i in 0 1 2; do [ "$p" = "$(pid_of web:web_$i)" ] && continue 2; done
		echo "answer from unknown pid $p"; false
	done <"$T/pids"
	tr '\0' '\n' </proc/"$(pid_of web:web_0)"/environ | grep -qx 'LISTEN_FDNAMES=web'
	# tend itself has one socket bound on the port, and no worker restart changes it
	ino=$(ss -ltnpe "sport = :$port" | grep -o 'ino:[0-9]*' | sort -u)
	[ "$(echo "$ino" | wc -l)" = 1 ]
	kill -KILL "$(pid_of web:web_1)"
	wait_until 5 bash -c "[ \"\$($TEND -c $CONF status web:web_1 | awk '{print \$2}')\" = RUNNING ]"
	[ "$(ss -ltnpe "sport = :$port" | grep -o 'ino:[0-9]*' | sort -u)" = "$ino" ]
	[ "$(get "http://127.0.0.1:$port/")" != ERR ]
	# shutdown closes it
	tendc shutdown >/dev/null
	wait_gone "$TEND_PID" 10
	TEND_PID=
	! ss -ltn | grep -q ":$port "
}

@test "listen=unix:PATH works the same, and a taken address is a spawn error, not a crash" {
	port=$(free_port)
	python3 -c "import socket,time,sys; s=socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(30)" "$T/squat" &
	squat=$!
	wait_until 5 bash -c "ss -ltn | grep -q ':$port '"
	conf <<EOF
[program:u]
command=$THTTP $T
listen=unix:$T/u.sock
startsecs=0
[program:taken]
command=$THTTP $T
listen=tcp://127.0.0.1:$port
startsecs=0
startretries=0
EOF
	start_tend
	wait_until 5 state_is u RUNNING
	[ "$(curl -s --unix-socket "$T/u.sock" http://x/)" = "$(pid_of u)" ]
	wait_until 5 state_is taken FATAL
	grep -q "cannot listen on tcp://127.0.0.1:$port: Address already in use" "$T/tend.log"
	kill "$squat"
}

@test "ready=notify: RUNNING only after READY=1; tend start waits for it; NOTIFY_SOCKET is tend's" {
	conf <<EOF
[program:n]
command=$THTTP ready-after 1 notify $T
listen=unix:$T/n.sock
ready=notify
startsecs=0
autostart=false
environment=NOTIFY_SOCKET=/nowhere
EOF
	start_tend
	t0=$(date +%s%N)
	run tendc start n
	t1=$(date +%s%N)
	[ "$status" -eq 0 ]
	echo "$output" | grep -q "n: started"
	[ $(((t1 - t0) / 1000000)) -ge 900 ] # waited for READY=1, sent after a second
	[ "$(state n)" = RUNNING ]
	grep -q "ready: n (READY=1)" "$T/tend.log"
	# an address the kernel picked (autobind: five hex digits), not environment='s
	tr '\0' '\n' </proc/"$(pid_of n)"/environ | grep -Eq '^NOTIFY_SOCKET=@[0-9a-f]{5}$'
}

@test "ready=http and ready=exec hold STARTING until they pass; ready_timeout is a failed start" {
	port=$(free_port)
	conf <<EOF
[program:h]
command=$THTTP ready-after 4 $T
listen=tcp://127.0.0.1:$port
ready=http://127.0.0.1:$port/health
startsecs=0
[program:x]
command=$TPROC sleep $T
ready=exec:test -e $T/go
startsecs=0
[program:never]
command=$TPROC sleep $T
ready=tcp:127.0.0.1:1
ready_timeout=0.5
startsecs=0
startretries=1
EOF
	start_tend
	sleep 0.5
	[ "$(state h)" = STARTING ]
	[ "$(state x)" = STARTING ]
	tendc status h | grep -q "waiting for ready"
	wait_until 8 state_is h RUNNING
	[ "$(state x)" = STARTING ]
	touch "$T/go"
	wait_until 5 state_is x RUNNING
	wait_until 10 state_is never FATAL
	tendc status never | grep -q "not ready within 0.5s"
}

@test "drain_secs: /readyz/NAME turns 503 first, the stop signal comes after" {
	port=$(free_port)
	conf <<EOF
[program:web]
command=$THTTP $T
listen=tcp://127.0.0.1:$port
startsecs=0
drain_secs=1.5
[program:other]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is web RUNNING
	[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://localhost/readyz/web)" = 200 ]
	pid=$(pid_of web)
	tendc stop web >"$T/stop.out" &
	stopper=$!
	wait_until 2 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $SOCK http://localhost/readyz/web) = 503 ]"
	curl -s --unix-socket "$SOCK" http://localhost/readyz/web | grep -q "web DRAINING"
	# not signalled yet: it still answers, and tend says so
	[ "$(get "http://127.0.0.1:$port/")" = "$pid" ]
	tendc status web | grep -q "draining"
	curl -s --unix-socket "$SOCK" http://localhost/v1/programs/web | grep -q '"draining":true'
	! grep -q "thttp $pid: SIGTERM" "$T"/*.log 2>/dev/null || false
	wait "$stopper"
	grep -q "web: stopped" "$T/stop.out"
	[ "$(state web)" = STOPPED ]
	# the order in tend's log: draining, then the stop
	awk '/draining: web/ {d=NR} /stopped: web/ {s=NR} END {exit !(d && s && d < s)}' "$T/tend.log"
	[ "$(state other)" = RUNNING ]
}

@test "tend restart --rolling under load: every worker replaced, no request lost, readyz stays 200" {
	port=$(free_port)
	conf <<EOF
[program:web]
command=$THTTP ready-after 0.3 notify $T
numprocs=4
process_name=web_%(process_num)d
listen=tcp://127.0.0.1:$port
ready=notify
startsecs=0
drain_secs=0.3
EOF
	start_tend
	wait_until 10 state_is web:web_3 RUNNING
	before=$(for i in 0 1 2 3; do pid_of web:web_$i; done | sort)
	# a bounded load loop: every outcome counted
	python3 - "$port" "$T/load" <<'PY' &
import socket, sys, time, http.client
port, out = int(sys.argv[1]), sys.argv[2]
ok = bad = 0
end = time.time() + 6
while time.time() < end:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        ok += r.status == 200
        bad += r.status != 200
        c.close()
    except Exception as e:
        bad += 1
open(out, "w").write("%d %d\n" % (ok, bad))
PY
	loader=$!
	sleep 0.5
	( while kill -0 $loader 2>/dev/null; do
		curl -s -o /dev/null -w '%{http_code}\n' --unix-socket "$SOCK" http://localhost/readyz; sleep 0.05
	  done >"$T/readyz" ) &
	watcher=$!
	run tendc restart --rolling 'web:*'
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c 'replaced pid')" = 4 ]
	wait "$loader"
	wait "$watcher"
	read -r ok bad <"$T/load"
	echo "# requests: $ok answered 200, $bad failed" >&3
	[ "$ok" -gt 100 ]
	[ "$bad" = 0 ]
	! grep -v '^200$' "$T/readyz"
	after=$(for i in 0 1 2 3; do pid_of web:web_$i; done | sort)
	[ -z "$(comm -12 <(echo "$before") <(echo "$after"))" ] # every pid changed
	[ "$(tendc status | grep -c RUNNING)" = 4 ]
}


@test "autoscaling: up under CPU load, down when idle, within numprocs_min..max; tend scale sets it by hand" {
	touch "$T/hot"
	conf <<EOF
[program:burn]
command=/bin/sh -c 'while :; do if [ -e $T/hot ]; then :; else sleep 1; fi; done' $T/burn
numprocs_min=1
numprocs_max=3
process_name=burn_%(process_num)d
scale_interval=1
scale_cooldown=1
scale_cpu_target=10
startsecs=0
EOF
	# a low target: a busy machine (other tests, sanitizers) must not make
	# three hot loops look idle (below half the target: 5% of a CPU each);
	# idle, each forks one sleep a second: far below 5% however slow forks get
	start_tend
	wait_until 5 state_is burn:burn_0 RUNNING
	[ "$(tendc status | grep -c RUNNING)" = 1 ] # numprocs_min at first
	curl -sN --max-time 90 --unix-socket "$SOCK" http://localhost/v1/events >"$T/events" &
	ev=$!
	wait_until 15 bash -c "[ \$($TEND -c $CONF status | grep -c RUNNING) -ge 2 ]"
	wait_until 5 grep -q '"event":"scale","program":"burn","from":1,"to":2,"reason":"cpu [0-9]*% per instance > target 10%"' "$T/events"
	# by hand, within the bounds (still hot: the autoscaler would not shrink it)
	run tendc scale burn 3
	[[ "$output" =~ ^burn:\ [23]\ -\>\ 3$ ]]
	wait_until 5 state_is burn:burn_2 RUNNING
	run tendc scale burn 4
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "outside 1..3"
	[ "$(tendc status | grep -c RUNNING)" = 3 ] # never above numprocs_max
	# idle: back down to numprocs_min, from the top
	rm "$T/hot"
	wait_until 40 bash -c "[ \$($TEND -c $CONF status | grep -c RUNNING) = 1 ]"
	grep -q '"event":"scale","program":"burn","from":[23],"to":[12],"reason":"cpu [0-9]*% per instance < half the target 10%"' "$T/events"
	[ "$(state burn:burn_0)" = RUNNING ]
	sleep 2.5 # more idle intervals: it stays at the minimum
	[ "$(tendc status | grep -c RUNNING)" = 1 ]
	kill "$ev" 2>/dev/null || true
}

@test "a pool scaled down to numprocs_min is still ready for /readyz" {
	conf <<EOF
[program:p]
command=$TPROC sleep $T
numprocs=2
numprocs_min=1
numprocs_max=2
process_name=p_%(process_num)d
scale_interval=60
startsecs=0
EOF
	start_tend
	wait_until 5 state_is p:p_1 RUNNING
	[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://localhost/readyz)" = 200 ]
	run tendc scale p 1
	[ "$output" = "p: 2 -> 1" ]
	wait_until 5 state_is p:p_1 STOPPED
	[ "$(state p:p_0)" = RUNNING ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://localhost/readyz)" = 200 ]
	run tendc scale p 0
	[ "$status" -ne 0 ]
}

@test "numprocs = auto runs one instance per CPU, auto:io two" {
	conf <<EOF
[program:cpu]
command=$TPROC sleep $T
numprocs=auto
process_name=cpu_%(process_num)d
startsecs=0
[program:io]
command=$TPROC sleep $T
numprocs=auto:io
process_name=io_%(process_num)d
startsecs=0
EOF
	n=$(nproc)
	start_tend
	wait_until 10 state_is "io:io_$((2 * n - 1))" RUNNING
	[ "$(tendc status 'cpu:*' | grep -c RUNNING)" = "$n" ]
	[ "$(tendc status 'io:*' | grep -c RUNNING)" = "$((2 * n))" ]
}

@test "tend restart --rolling with nothing running answers at once and starts nothing" {
	conf <<EOF
[program:w]
command=$TPROC sleep $T
numprocs=2
process_name=w_%(process_num)d
autostart=false
startsecs=0
EOF
	start_tend
	# the rollout ends before the request handler returns (it once wrote into the freed request)
	run tendc --json restart --rolling 'w:*'
	[ "$status" -eq 0 ]
	[[ "$output" == *'"ok": true'* ]]
	[ "$(state w:w_0)" = STOPPED ]
	[ "$(state w:w_1)" = STOPPED ]
	kill -0 "$TEND_PID"
	run tendc restart --rolling 'w:*'
	[ "$status" -eq 0 ]
	kill -0 "$TEND_PID"
}

@test "an exec: probe runs with no blocked or ignored signal and dies when its instance stops" {
	conf <<EOF
[program:w]
command=$TPROC sleep $T
ready=exec:$TPROC inspect $T/probe-sig
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/probe-sig"
	# (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored)
	ign=$(awk '/^SigIgn:/ { print $2 }' "$T/probe-sig")
	[ $((0x$ign & 0x7fffffff)) -eq 0 ]
	grep -q '^SigBlk:	0000000000000000$' "$T/probe-sig"
	grep -q '^fds: 0 1 2$' "$T/probe-sig"
	# the probe hangs (inspect sleeps): the instance waits in STARTING
	[ "$(state w)" = STARTING ]
	pgrep -f "inspect $T/probe-sig"
	tendc stop w
	# ([i]: the pattern must not match the bash -c that carries it)
	wait_until 3 bash -c "! pgrep -f '[i]nspect $T/probe-sig'"
	[ -z "$(zombies_of "$TEND_PID")" ]
	# a shutdown with a probe in flight ends (the reaped probe once held it up)
	(tendc start w >/dev/null 2>&1 &) # answers only once ready: not waited for
	wait_until 5 bash -c "pgrep -f '[i]nspect $T/probe-sig'"
	kill -TERM "$TEND_PID"
	wait_gone "$TEND_PID" 5
	TEND_PID=
}
