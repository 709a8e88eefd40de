#!/usr/bin/env bats
# The control socket: permissions, hostile requests, CLI exit codes.

load helpers

basic_conf() {
	conf <<EOF
$1
[program:a]
command=$TPROC sleep
startsecs=0
EOF
}

# raw BYTES-FILE: send a file's bytes to the socket, print the answer
raw() {
	python3 - "$SOCK" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(15)
s.connect(sys.argv[1])
data = open(sys.argv[2], "rb").read()
try:
    s.sendall(data)
except (BrokenPipeError, ConnectionResetError):
    pass
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except (ConnectionResetError, socket.timeout):
    pass
sys.stdout.write(out.decode("latin-1"))
PY
}

@test "the socket is 0600 by default and another uid cannot use it" {
	basic_conf ""
	user_bins
	start_tend
	[ "$(stat -c %a "$SOCK")" = 600 ]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$UTEND" -s "$SOCK" status
	[ "$status" -eq 4 ]
	[[ "$output" == *"permission denied"* ]]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$UTEND" -s "$SOCK" stop a
	[ "$status" -eq 4 ]
	[ "$(state a)" = RUNNING ]
}

@test "with chmod=0666 other users are refused by their credentials; the socket's group may read" {
	basic_conf "chmod=0666"
	# conf() put [unix_http_server] first; chmod belongs in it
	sed -i "s|^file=.*|&\nchmod=0666|" "$CONF"
	user_bins
	start_tend
	[ "$(stat -c %a "$SOCK")" = 666 ]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$UTEND" -s "$SOCK" status
	[ "$status" -eq 4 ]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$UTEND" -s "$SOCK" stop a
	[ "$status" -eq 4 ]
	[ "$(state a)" = RUNNING ]
	# same group as the socket (root's): read-only verbs only
	run setpriv --reuid=nobody --regid="$(stat -c %g "$SOCK")" --clear-groups "$UTEND" -s "$SOCK" status a
	[ "$status" -eq 0 ]
	[[ "$output" == *RUNNING* ]]
	run setpriv --reuid=nobody --regid="$(stat -c %g "$SOCK")" --clear-groups "$UTEND" -s "$SOCK" stop a
	[ "$status" -eq 4 ]
	[ "$(state a)" = RUNNING ]
}

@test "garbage, oversized and truncated requests get errors; supervision goes on" {
	basic_conf ""
	start_tend
	printf '\x00\x01\x02 garbage\r\n\r\n' >"$T/garbage"
	run raw "$T/garbage"
	[[ "$output" == "HTTP/1.1 400 "* ]]
	# a 10 MB body is refused from its Content-Length, before it is read
	head -c 10485760 /dev/zero >"$T/big"
	run curl -s -o "$T/big.out" -w '%{http_code}' --unix-socket "$SOCK" -X POST --data-binary @"$T/big" http://localhost/v1/programs/a/stop
	[ "$output" = 413 ]
	# 20 KB of headers
	python3 -c 'import sys; sys.stdout.write("GET /v1/programs HTTP/1.1\r\nX-Big: " + "a" * 20000 + "\r\n\r\n")' >"$T/hdr"
	run raw "$T/hdr"
	[[ "$output" == "HTTP/1.1 431 "* ]]
	# a complete request followed by a half-close still gets its answer
	printf 'GET /v1/programs/a HTTP/1.1\r\nHost: x\r\n\r\n' >"$T/ok"
	run raw "$T/ok"
	[[ "$output" == "HTTP/1.1 200 "* ]]
	[[ "$output" == *'"name":"a"'* ]]
	# unknown resources and methods
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://localhost/v1/nope
	[ "$output" = 404 ]
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X DELETE http://localhost/v1/programs/a
	[ "$output" = 405 ]
	run tendc status a
	[ "$status" -eq 0 ]
	[[ "$output" == *RUNNING* ]]
}

@test "a slow request is cut off and 300 idle connections do not block the CLI" {
	basic_conf ""
	start_tend
	python3 - "$SOCK" "$TEND" "$CONF" <<'PY'
import socket, subprocess, sys, time
sock, tend, conf = sys.argv[1:]
idle = []
for _ in range(300):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    idle.append(s)
slow = socket.socket(socket.AF_UNIX)
slow.connect(sock)
slow.sendall(b"GET /v1/programs HTTP/1.1\r\nHost: x\r\n")   # never finished
t0 = time.monotonic()
r = subprocess.run([tend, "-c", conf, "status", "a"], capture_output=True, text=True, timeout=10)
assert r.returncode == 0 and "RUNNING" in r.stdout, r
print("status with 300 idle connections: %.1f ms" % ((time.monotonic() - t0) * 1000))
slow.settimeout(15)
answer = slow.recv(4096)
waited = time.monotonic() - t0
assert answer.startswith(b"HTTP/1.1 408"), answer
assert 8 <= waited <= 13, waited
for s in idle:
    s.close()
PY
	run tendc status a
	[ "$status" -eq 0 ]
}

@test "CLI exit codes: ok, not wanted, usage, unreachable, config error" {
	conf <<EOF
[program:up]
command=$TPROC sleep
startsecs=0
[program:down]
command=$TPROC stamp $T/s 1
startretries=0
EOF
	run tendc status
	[ "$status" -eq 3 ]
	[[ "$output" == *"no tend daemon is running on $SOCK"* ]]
	start_tend
	wait_until 5 state_is down FATAL
	run tendc status
	[ "$status" -eq 1 ]
	[[ "$output" =~ (^|$'\n')down\ +FATAL\  ]]
	[[ "$output" =~ (^|$'\n')up\ +RUNNING\ +pid\  ]]
	# --json of everything: one answer whose first member is that count
	run tendc --json status
	[ "$status" -eq 1 ]
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["not_wanted"]==1 and len(d["programs"])==2, d'
	run tendc status up
	[ "$status" -eq 0 ]
	run tendc status down
	[ "$status" -eq 1 ]
	run tendc status nosuch
	[ "$status" -eq 2 ]
	run tendc start nosuch
	[ "$status" -eq 2 ]
	run tendc frobnicate
	[ "$status" -eq 2 ]
	run tendc signal NOTASIG up
	[ "$status" -eq 2 ]
	run tendc start down
	[ "$status" -eq 1 ]
	[[ "$output" == "down: ERROR (gave up (FATAL): exit status 1)" ]]
	run tendc stop up
	[ "$status" -eq 0 ]
	run tendc stop up
	[ "$status" -eq 0 ]
	[ "$output" = "up: not running" ]
	printf '[program:x]\nbogus=1\n' >"$T/bad.conf"
	run "$TEND" check "$T/bad.conf"
	[ "$status" -eq 5 ]
	run "$TEND" version
	[ "$status" -eq 0 ]
	[[ "$output" == "tend "* ]]
}

@test "signal, restart and --json" {
	basic_conf ""
	start_tend
	wait_until 5 state_is a RUNNING
	old=$(pid_of a)
	run tendc restart a
	[ "$status" -eq 0 ]
	[ "$output" = "a: started" ]
	new=$(pid_of a)
	[ "$old" != "$new" ]
	run tendc signal USR1 a
	[ "$status" -eq 0 ]
	[ "$output" = "a: signalled" ]
	# tproc sleep dies of SIGUSR1; tend restarts it (unexpected exit)
	wait_until 5 bash -c "[ \"\$($TEND -c $CONF --json status a | python3 -c 'import json,sys; p=json.load(sys.stdin)[\"programs\"][0]; print(p[\"last_exit\"] and p[\"last_exit\"][\"signal\"])')\" = USR1 ]"
	run tendc --json stop a
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and d["results"][0]["state"] == "STOPPED", d'
}

@test "a second tend on the same socket refuses to start" {
	basic_conf ""
	start_tend
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 1 ]
	[[ "$output" == *"another tend is already running on $SOCK"* ]]
	run tendc status a
	[ "$status" -eq 0 ]
}

@test "tend up -d detaches, writes a pidfile and tend shutdown stops it" {
	basic_conf ""
	run "$TEND" -c "$CONF" up -d --pidfile "$T/tend.pid"
	[ "$status" -eq 0 ]
	[ -S "$SOCK" ]
	pid=$(cat "$T/tend.pid")
	kill -0 "$pid"
	wait_until 5 state_is a RUNNING
	run tendc shutdown
	[ "$status" -eq 0 ]
	wait_gone "$pid" 5
	[ ! -e "$T/tend.pid" ]
}

@test "tend status reads the table of a daemon older than itself (one JSON string) as well as the text one" {
	python3 - "$T/old.sock" "$T/served" <<'PY' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
body = json.dumps({"not_wanted": 1, "table": "web                  RUNNING    pid 7, uptime 0:00:01\nold                  FATAL      gave up\n"}).encode()
c, _ = s.accept()
req = b""
while b"\r\n\r\n" not in req:
    req += c.recv(4096)
open(sys.argv[2], "wb").write(req.split(b"\r\n")[0])
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
c.close()
PY
	server=$!
	wait_until 5 test -S "$T/old.sock"
	run "$TEND" -s "$T/old.sock" status
	wait "$server"
	echo "$output"
	[ "$status" -eq 1 ]
	grep -q 'GET /v1/programs?view=table ' "$T/served"
	[ "${lines[0]}" = "web                  RUNNING    pid 7, uptime 0:00:01" ]
	[ "${lines[1]}" = "old                  FATAL      gave up" ]
}
