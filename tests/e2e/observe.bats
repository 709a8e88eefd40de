#!/usr/bin/env bats
# Observability: /metrics, /readyz, /healthz, the events stream, tend top.

load helpers

@test "/metrics is valid Prometheus text (promtool) with every tend metric" {
	command -v promtool || skip "promtool (Debian's prometheus) is not installed"
	conf <<EOF
[program:web]
command=$TPROC sleep
process_name=%(program_name)s_%(process_num)d
numprocs=2
startsecs=0
[program:crash]
command=$TPROC stamp $T/c 3 0.1
startsecs=0
restart_delay=0.1
EOF
	start_tend
	wait_until 5 state_is web:web_1 RUNNING
	wait_until 5 bash -c "[ \$(wc -l < $T/c) -ge 3 ]"
	curl -sf --unix-socket "$SOCK" http://localhost/metrics >"$T/metrics"
	promtool check metrics <"$T/metrics"
	for m in tend_up tend_program_state tend_program_restarts_total tend_program_cpu_seconds_total \
		tend_program_memory_bytes tend_program_exits_total tend_system_zombies tend_system_orphans; do
		grep -q "^# TYPE $m " "$T/metrics"
	done
	grep -q '^tend_up 1$' "$T/metrics"
	grep -q '^tend_program_state{name="web:web_0",program="web",group="web",state="RUNNING"} 20$' "$T/metrics"
	n=$(grep '^tend_program_exits_total{name="crash",program="crash",group="crash",reason="exit"}' "$T/metrics" | awk '{print $2}')
	[ "$n" -ge 2 ]
}

@test "/readyz: 503 while starting, 200 when all autostart programs run, 503 while shutting down" {
	conf <<EOF
[program:slow]
command=$TPROC ignore-term $T/ready
startsecs=2
stopwaitsecs=1
[program:manual]
command=$TPROC sleep
autostart=false
EOF
	start_tend
	run curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" http://localhost/readyz
	[ "$output" = 503 ]
	grep -q 'slow 0 of 1 ready' "$T/body"
	wait_until 5 state_is slow RUNNING
	run curl -s -w '%{http_code}' -o /dev/null --unix-socket "$SOCK" http://localhost/readyz
	[ "$output" = 200 ]
	# shutting down: slow ignores TERM for a second, long enough to ask
	kill -TERM "$TEND_PID"
	wait_until 1 bash -c "[ \"\$(curl -s -o '$T/body' -w '%{http_code}' --unix-socket '$SOCK' http://localhost/readyz)\" = 503 ]"
	grep -q 'shutting down' "$T/body"
	wait "$TEND_PID"
	TEND_PID=
}

@test "[inet_http_server] without credentials: /metrics, /healthz and a read-only API on 127.0.0.1" {
	port=$(free_port)
	conf <<EOF
[inet_http_server]
port=$port
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	grep -q "listening on http://127.0.0.1:$port/" "$T/tend.log"
	[ "$(curl -s http://127.0.0.1:$port/healthz)" = ok ]
	curl -sf "http://127.0.0.1:$port/metrics" | grep -q '^tend_up 1'
	run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/programs"
	[ "$output" = 200 ]
	run curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/programs/a/stop"
	[ "$output" = 403 ]
	[ "$(state a)" = RUNNING ]
	# bound to loopback only
	! ss -ltn | grep -q "0.0.0.0:$port"
}

@test "the events stream shows a crash, BACKOFF and RUNNING again" {
	conf <<EOF
[program:flaky]
command=$TPROC stamp $T/s 1 0.3
startsecs=0.1
restart_delay=0.3
EOF
	start_tend
	timeout 3 "$TEND" -c "$CONF" events >"$T/events" || true
	cat "$T/events"
	python3 - "$T/events" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
seq = [(e["from"], e["to"]) for e in ev if e["program"] == "flaky"]
assert ("RUNNING", "EXITED") in seq, seq
i = seq.index(("EXITED", "BACKOFF")) if ("EXITED", "BACKOFF") in seq else seq.index(("RUNNING", "EXITED"))
assert any(t == ("STARTING", "RUNNING") for t in seq[i:]), seq
ex = [e for e in ev if e["to"] in ("EXITED", "BACKOFF")]
assert ex and ex[0]["reason"] == "exit status 1", ex
assert all(isinstance(e["time"], float) for e in ev)
PY
}

@test "tend top shows the programs live; r restarts the selected one; q restores the terminal" {
	conf <<EOF
[program:alpha]
command=$TPROC sleep
startsecs=0
[program:beta]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is beta RUNNING
	old=$(pid_of alpha)
	session=tend-top-$$
	tmux new-session -d -s "$session" -x 120 -y 30 "echo before-top; $TEND -c $CONF top; echo top-exited-\$?; sleep 30"
	wait_until 5 bash -c "tmux capture-pane -p -t $session | grep -q 'alpha .*RUNNING'"
	tmux capture-pane -p -t "$session" >"$T/screen1"
	grep -q 'tend top  load' "$T/screen1"
	grep -q 'beta .*RUNNING' "$T/screen1"
	# alpha sorts first and is selected: restart it
	tmux send-keys -t "$session" r
	wait_until 5 bash -c "[ \"\$($TEND -c $CONF --json status alpha | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"programs\"][0][\"pid\"])')\" != $old ]"
	tmux send-keys -t "$session" o
	wait_until 3 bash -c "tmux capture-pane -p -t $session | grep -q 'sort: cpu'"
	tmux send-keys -t "$session" q
	wait_until 5 bash -c "tmux capture-pane -p -t $session | grep -q top-exited-0"
	tmux capture-pane -p -t "$session" >"$T/screen2"
	tmux kill-session -t "$session"
	# the alternate screen is gone: the shell's own lines are back, top's are not
	grep -q before-top "$T/screen2"
	! grep -q 'tend top  load' "$T/screen2"
}

@test "listing every program reads no cgroup or /proc file per request: the figures are refreshed in the background while lists are asked for" {
	conf <<EOF2
[program:w]
command=$TPROC sleep
process_name=%(program_name)s_%(process_num)d
numprocs=60
startsecs=0
EOF2
	start_tend
	wait_until 20 bash -c "[ \$('$TEND' -c '$CONF' status | grep -c RUNNING) -eq 60 ]"
	syscr() { awk '/^syscr/ {print $2}' "/proc/$TEND_PID/io"; }
	list() { curl -sf --unix-socket "$SOCK" "http://localhost$1" -o "$T/list"; }
	# the first list reads each process's figures once (two to three files
	# each); /metrics also counts the host's zombies (kept for 5 s)
	list /v1/programs
	list /metrics
	# 1.5 s later they are older than a second: the background refresh read them
	# again at about 1 s, and the next refresh is due at about 2 s.  On a
	# loaded machine a refresh (at most three reads per program, 180) may
	# still fall inside the lists; reading per request, even one file per
	# program, would be 60 reads per list: 360 for these six
	sleep 1.5
	a=$(syscr)
	for k in 1 2 3; do
		list /v1/programs
		list /metrics
	done
	b=$(syscr)
	echo "read syscalls during six lists of 60 programs: $((b - a))"
	[ $((b - a)) -lt 240 ]
	# the figures are there, and fresh: memory of a running process is not 0
	list /v1/programs
	python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["programs"]; assert len(p)==60 and all(x["memory"]["current"]>0 for x in p), p[0]' "$T/list"
}

@test "/metrics: the host's zombies are counted again in the background, no scrape waits for the count" {
	conf <<EOF2
[program:a]
command=$TPROC sleep
startsecs=0
EOF2
	start_tend
	wait_until 5 state_is a RUNNING
	zombies() { curl -sf --unix-socket "$SOCK" http://localhost/metrics | awk '/^tend_system_zombies / {print $2}'; }
	z0=$(zombies)
	"$TPROC" zombie "$T/z" &
	parent=$!
	wait_until 5 test -s "$T/z"
	# the count of the first scrape is kept for 5 s; a scrape after that
	# answers it and starts a count in the slices of the loop, which a later
	# scrape shows
	sleep 5.2
	zombies >/dev/null
	wait_until 10 bash -c "[ \$(curl -sf --unix-socket '$SOCK' http://localhost/metrics | awk '/^tend_system_zombies / {print \$2}') -gt $z0 ]"
	kill "$parent"
	wait "$parent" || true
	# the count goes on after the zombie's parent is gone, and tend stays up
	sleep 5.2
	zombies >/dev/null
	curl -sf --unix-socket "$SOCK" http://localhost/healthz
}

@test "/metrics: answers handed over without a copy are whole, also pipelined on one connection" {
	conf <<EOF2
[program:w]
command=$TPROC sleep
process_name=%(program_name)s_%(process_num)d
numprocs=3
startsecs=0
EOF2
	start_tend
	wait_until 5 state_is w:w_2 RUNNING
	python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
answers = []
while len(answers) < 3:
    chunk = s.recv(65536)
    assert chunk, ("closed early", answers, buf[:200])
    buf += chunk
    while b"\r\n\r\n" in buf:
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
        if len(rest) < n:
            break
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
        answers.append(rest[:n])
        buf = rest[n:]
for body in answers[:2]:
    assert body.startswith(b"# HELP tend_up "), body[:80]
    assert body.endswith(b"\n") and b"tend_system_orphans " in body, body[-200:]
    assert body.count(b'tend_program_state{name="w:w_') == 3, body
assert answers[2] == b"ok\n", answers[2]
assert buf == b"", buf[:100]
PY
}
