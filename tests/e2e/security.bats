#!/usr/bin/env bats
# Trust boundaries (issue 14): each test attacks the real tendd, running as
# root, as an unprivileged local user would (nobody, through setpriv), and
# checks that the attack fails.  What held before stays tested: the last test
# here (wrong credentials, cross-site POSTs, XXE, path tricks, user='s drop),
# and control.bats (the 0600/0666 socket), supervisorctl.bats and observe.bats
# (read-only TCP, Basic auth, bad XML-RPC).

load helpers

PY=/usr/bin/python3

# as_nobody CMD...: run CMD as the attacker, a user with no group of tend's
# (in the background, "${NOBODY[@]}" CMD &, so that $! is the attacker itself)
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
as_nobody() {
	"${NOBODY[@]}" "$@"
}

# nobody_dir: $T/n, a directory the attacker may write (for its answers and markers)
nobody_dir() {
	mkdir -p "$T/n"
	chmod 777 "$T/n"
}

# rss_kb PID: resident set size in KiB
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status
}

# tcp_conf PORT [KEYS]: [inet_http_server] on 127.0.0.1:PORT with KEYS, then the rest from stdin
tcp_conf() {
	local port=$1 keys=${2:-}
	conf <<EOF
[inet_http_server]
port=127.0.0.1:$port
$keys
$(cat)
EOF
}

# ---- finding 1 (high): ready=exec probes --------------------------------------

@test "finding 1: a ready=exec probe runs with the program's user, groups, environment, directory and no_new_privs" {
	user_bins
	# the app's directory and its probe belong to the app user, who can edit the probe
	mkdir "$T/app"
	chown nobody:nogroup "$T/app"
	as_nobody sh -c "cat >'$T/app/probe.sh'" <<'EOF'
#!/bin/sh
{ echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"; echo "pwd=$(pwd)"; echo "FOO=$FOO HOME=$HOME USER=$USER"
  grep NoNewPrivs /proc/self/status; } >"${0%/*}/probe.out"
exit 0
EOF
	as_nobody chmod 755 "$T/app/probe.sh"
	conf <<EOF
[program:app]
command=$UTPROC sleep
user=nobody
directory=$T/app
environment=FOO=from-config
no_new_privs=true
ready=exec:$T/app/probe.sh
startsecs=0
EOF
	start_tend
	wait_until 10 state_is app RUNNING
	cat "$T/app/probe.out"
	grep -qx "uid=$(id -u nobody) gid=$(id -g nobody) groups=$(id -G nobody)" "$T/app/probe.out"
	grep -qx "pwd=$T/app" "$T/app/probe.out"
	grep -qx "FOO=from-config HOME=$(getent passwd nobody | cut -d: -f6) USER=nobody" "$T/app/probe.out"
	grep -Eqx 'NoNewPrivs:[[:space:]]+1' "$T/app/probe.out"
	# the probe's output file is the app user's, never root's
	[ "$(stat -c %U "$T/app/probe.out")" = nobody ]
}

# ---- finding 2 (medium): bounded responses ------------------------------------

@test "finding 2: clients posting huge multicalls and never reading: tendd's RSS stays bounded, /healthz answers, memory comes back" {
	port=$(free_port)
	tcp_conf "$port" <<EOF
[program:w]
command=$TPROC sleep
numprocs=2
process_name=w_%(process_num)d
startsecs=0
EOF
	start_tend
	wait_until 5 state_is w:w_1 RUNNING
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null
	base=$(rss_kb "$TEND_PID")
	# the bound: +64 MiB; under ASan the RSS is ASan's (redzones, a 256 MB
	# quarantine that keeps what tend frees), not tend's: only a crash guard there
	bound=65536
	case $TEND_BUILD in *san*) bound=1048576 ;; esac
	nobody_dir
	# the attacker: read-only TCP is enough; a wave of 60 connections that never read
	cat >"$T/attack.py" <<'PY'
import os, socket, sys, time, xmlrpc.client
port, ncalls, nconn, hold, marker = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
calls = [{"methodName": "supervisor.getAllProcessInfo", "params": []}] * ncalls
body = xmlrpc.client.dumps((calls,), "system.multicall").encode()
req = (b"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
       % (port, len(body))) + body
socks = []
for _ in range(nconn):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(req)
    except OSError:
        pass
    socks.append(s)
time.sleep(hold - 3)
open(marker, "w").close()   # still holding every socket, 3 s before the end
time.sleep(3)
PY
	chmod 644 "$T/attack.py"
	# wave NCALLS HOLD: run one wave as nobody; meanwhile sample tendd's RSS and
	# /healthz every 200 ms; prints "max late fails": the highest RSS, the RSS
	# after the marker (late in the wave, the sockets still open) and the
	# /healthz failures; over the bound the attack is stopped at once
	wave() {
		local max=0 late=0 fails=0 r apid
		rm -f "$T/n/late"
		"${NOBODY[@]}" "$PY" "$T/attack.py" "$port" "$1" 60 "$2" "$T/n/late" &
		apid=$!
		while kill -0 "$apid" 2>/dev/null; do
			r=$(rss_kb "$TEND_PID")
			[ "$r" -gt "$max" ] && max=$r
			[ "$late" -eq 0 ] && [ -e "$T/n/late" ] && late=$r
			if [ $((r - base)) -gt "$bound" ]; then
				kill "$apid" 2>/dev/null
				break
			fi
			h=$(curl -s -w ' %{http_code} %{time_total}' --max-time 3 "http://127.0.0.1:$port/healthz" 2>&1) || true
			if [[ "$h" != "ok"* ]]; then
				fails=$((fails + 1))
				echo "# /healthz: '$h'" >&3
			fi
			sleep 0.2
		done
		wait "$apid" 2>/dev/null || true
		echo "$max $late $fails"
	}
	# the issue's attack: 4,500 getAllProcessInfo calls per connection
	read -r max late fails < <(wave 4500 5)
	echo "# wave 1 (4500 calls x 60): RSS base ${base} KiB, max ${max} KiB, late ${late} KiB; /healthz failures ${fails}" >&3
	[ $((max - base)) -le "$bound" ]
	[ "$fails" -eq 0 ]
	# as many calls as one multicall may make: the answers are large, nobody reads them
	read -r max late fails < <(wave 1000 16)
	sleep 1
	echo "# wave 2 (1000 calls x 60): RSS base ${base} KiB, max ${max} KiB, 13 s in ${late} KiB, after $(rss_kb "$TEND_PID") KiB; /healthz failures ${fails}" >&3
	[ $((max - base)) -le "$bound" ]
	[ "$fails" -eq 0 ]
	# the answers nobody read were cut off by the write timeout, their memory given back
	[ "$late" -gt 0 ]
	[ "$bound" -gt 65536 ] || [ $((late - base)) -le 8192 ]
	# a client that reads gets its whole answer
	run curl -s "http://127.0.0.1:$port/RPC2" -H 'Content-Type: text/xml' \
		--data '<methodCall><methodName>supervisor.getAllProcessInfo</methodName></methodCall>'
	[[ "$output" == *"<string>w_1</string>"* ]]
	# one multicall makes at most 1000 calls; a reader of 1000 gets every answer
	out=$(as_nobody "$PY" -c 'import sys, xmlrpc.client
s = xmlrpc.client.ServerProxy("http://127.0.0.1:%s/RPC2" % sys.argv[1])
for n in (1001, 1000):
    try:
        print(n, len(s.system.multicall([{"methodName": "supervisor.getState", "params": []}] * n)))
    except xmlrpc.client.Fault as e:
        print(n, e.faultString)' "$port")
	echo "# multicall: $(echo "$out" | tr '\n' ';')" >&3
	[[ "$out" == *"1001 INCORRECT_PARAMETERS: system.multicall of 1001 calls: at most 1000"* ]]
	[[ "$out" == *"1000 1000"* ]]
}

# ---- finding 3 (medium): one client cannot take every connection --------------

@test "finding 3: 400 event streams from one local user: /healthz, /metrics and the CLI still answer" {
	port=$(free_port)
	tcp_conf "$port" <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	cat >"$T/streams.py" <<'PY'
import socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks, ok = [], 0
for _ in range(n):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    except OSError:
        continue
    socks.append(s)
time.sleep(1)
for s in socks:
    s.settimeout(0.05)
    try:
        if s.recv(64).startswith(b"HTTP/1.1 200"):
            ok += 1
    except OSError:
        pass
print(ok, flush=True)
time.sleep(hold)
PY
	chmod 644 "$T/streams.py"
	nobody_dir
	"${NOBODY[@]}" "$PY" "$T/streams.py" "$port" 400 15 >"$T/streams.out" &
	apid=$!
	wait_until 10 test -s "$T/streams.out"
	echo "# streams the attacker got: $(cat "$T/streams.out") of 400" >&3
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ "$(curl -s --max-time 2 "http://127.0.0.1:$port/healthz")" = ok ]
		curl -s --max-time 2 "http://127.0.0.1:$port/metrics" | grep -q '^tend_up 1'
		curl -s --max-time 2 "http://127.0.0.1:$port/readyz" >/dev/null
	done
	run tendc status a
	[ "$status" -eq 0 ]
	# one client holds a bounded share of the streams
	[ "$(cat "$T/streams.out")" -le 16 ]
	kill "$apid"
	wait "$apid" || true
}

# ---- finding 4 (medium): TCP without credentials is status only; Host checked ---

@test "finding 4: without credentials TCP serves status, not logs or config paths; a foreign Host is refused" {
	port=$(free_port)
	tcp_conf "$port" <<EOF
[supervisord]
logfile=$T/main.log
[program:secretive]
command=/bin/sh -c "echo TOPSECRET-42; exec $TPROC sleep"
stdout_logfile=$T/secretive.log
startsecs=0
EOF
	start_tend
	wait_until 5 state_is secretive RUNNING
	wait_until 5 grep -q TOPSECRET-42 "$T/secretive.log"
	url=http://127.0.0.1:$port
	nobody_dir
	code() { as_nobody curl -s -o "$T/n/body" -w '%{http_code}' --max-time 3 "$@"; }
	rpc() {
		as_nobody curl -s --max-time 3 "$url/RPC2" -H 'Content-Type: text/xml' \
			--data "<methodCall><methodName>$1</methodName><params>$2</params></methodCall>"
	}
	# status: yes
	[ "$(code "$url/v1/programs")" = 200 ]
	grep -q '"name":"secretive"' "$T/n/body"
	! grep -q "secretive.log" "$T/n/body"
	[ "$(code "$url/v1/daemon")" = 200 ]
	! grep -q "$CONF" "$T/n/body"
	rpc supervisor.getAllProcessInfo "" >"$T/rpc"
	grep -q '<string>secretive</string>' "$T/rpc"
	! grep -q 'secretive.log' "$T/rpc"
	# logs, the main log, config: no
	[ "$(code "$url/v1/logs/secretive")" = 403 ]
	[ "$(code "$url/logtail/secretive")" = 403 ]
	[ "$(code "$url/mainlogtail")" = 403 ]
	[ "$(code "$url/v1/system")" = 403 ]
	! grep -q TOPSECRET "$T/n/body"
	for call in "supervisor.readProcessStdoutLog|<param><value>secretive</value></param><param><value><int>0</int></value></param><param><value><int>0</int></value></param>" \
		"supervisor.tailProcessStdoutLog|<param><value>secretive</value></param><param><value><int>0</int></value></param><param><value><int>1000</int></value></param>" \
		"supervisor.readLog|<param><value><int>0</int></value></param><param><value><int>0</int></value></param>" \
		"supervisor.getAllConfigInfo|"; do
		out=$(rpc "${call%%|*}" "${call#*|}")
		[[ "$out" == *"<name>faultCode</name>"* ]]
		[[ "$out" != *TOPSECRET* && "$out" != *secretive.log* && "$out" != *"$T/main.log"* ]]
	done
	# what held stays held: no change over TCP, not even wrapped in a multicall
	out=$(rpc system.multicall "<param><value><array><data><value><struct><member><name>methodName</name><value>supervisor.stopProcess</value></member><member><name>params</name><value><array><data><value>secretive</value></data></array></value></member></struct></value></data></array></value></param>")
	[[ "$out" == *"not allowed"* ]]
	[ "$(state secretive)" = RUNNING ]
	# DNS rebinding: a page of another name resolved to 127.0.0.1 is refused
	[ "$(code -H "Host: rebind.evil.example:$port" "$url/v1/programs")" = 421 ]
	[ "$(code -H "Host: rebind.evil.example:$port" "$url/metrics")" = 421 ]
	[ "$(code -H "Host: localhost:$port" "$url/v1/programs")" = 200 ]
	# the unix socket's owner still reads everything
	curl -s --unix-socket "$SOCK" http://localhost/v1/logs/secretive | grep -q TOPSECRET-42
	# anonymous_read = true says so explicitly: then TCP clients may read logs
	stop_tend
	tcp_conf "$port" "anonymous_read=true" <<EOF
[program:secretive]
command=/bin/sh -c "echo TOPSECRET-42; exec $TPROC sleep"
stdout_logfile=$T/secretive.log
startsecs=0
EOF
	start_tend
	wait_until 5 state_is secretive RUNNING
	[ "$(code "$url/v1/logs/secretive")" = 200 ]
	grep -q TOPSECRET-42 "$T/n/body"
	[ "$(code -X POST "$url/v1/programs/secretive/stop")" = 403 ]
}

# ---- finding 5 (low-medium): files tend creates in shared directories ---------

@test "finding 5: a planted pidfile, lock file and socket directory are not used; the pidfile is tend's" {
	shared=$T/shared
	mkdir "$shared"
	chmod 1777 "$shared"
	# another user was first: pidfile (and its old temporary name), the socket's lock, held
	as_nobody sh -c "umask 0; echo 1 >'$shared/tend.pid'; echo 1 >'$shared/tend.pid.tmp'; : >'$shared/tend.sock.lock'"
	"${NOBODY[@]}" "$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)' "$shared/tend.sock.lock" "$shared/held" &
	holder=$!
	wait_until 5 test -e "$shared/held"
	SOCK=$shared/tend.sock
	conf <<EOF
[supervisord]
pidfile=$shared/tend.pid
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	[ "$(stat -c '%U %a' "$shared/tend.pid")" = "root 644" ]
	[ "$(cat "$shared/tend.pid")" = "$TEND_PID" ]
	! as_nobody sh -c "echo 1 >'$shared/tend.pid'" 2>/dev/null
	[ "$(cat "$shared/tend.pid")" = "$TEND_PID" ]
	[ "$(stat -c %U "$shared/tend.sock.lock")" = root ]
	stop_tend
	kill "$holder"
	wait "$holder" || true
	# a socket directory another user owns is refused, and tend says why
	mkdir "$T/theirs"
	chown nobody "$T/theirs"
	SOCK=$T/theirs/tend.sock
	conf </dev/null
	run timeout 10 "$TEND" -c "$CONF" up
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/theirs"*"owned by uid $(id -u nobody)"* ]]
	[ ! -e "$T/theirs/tend.sock" ]
}

@test "finding 5: logs are created 0600; a planted or multiply-linked log file is refused, and tend says why" {
	shared=$T/shared
	mkdir "$shared"
	chmod 1777 "$shared"
	as_nobody sh -c "umask 0; : >'$shared/main.log'; : >'$shared/planted.log'"
	conf <<EOF
[supervisord]
logfile=$shared/main.log
[program:planted]
command=/bin/sh -c "echo SECRET-OUT; exec $TPROC sleep"
stdout_logfile=$shared/planted.log
startsecs=0
[program:fresh]
command=/bin/sh -c "echo FRESH-OUT; exec $TPROC sleep"
stdout_logfile=$shared/fresh.log
startsecs=0
[program:linked]
command=/bin/sh -c "echo LINKED-OUT; exec $TPROC sleep"
stdout_logfile=$shared/linked.log
startsecs=0
EOF
	# tend's own log planted by another user: tend does not start, and says why
	run timeout 10 "$TEND" -c "$CONF" up
	[ "$status" -eq 1 ]
	[[ "$output" == *"$shared/main.log"*"owned by uid $(id -u nobody)"* ]]
	rm "$shared/main.log"
	: >"$T/elsewhere"
	ln "$T/elsewhere" "$shared/linked.log"
	start_tend
	wait_until 5 state_is fresh RUNNING
	wait_until 5 grep -q FRESH-OUT "$shared/fresh.log"
	[ "$(stat -c '%U %a' "$shared/fresh.log")" = "root 600" ]
	[ "$(stat -c '%U %a' "$shared/main.log")" = "root 600" ]
	wait_until 5 state_is planted RUNNING
	wait_until 5 state_is linked RUNNING
	sleep 0.3
	# nothing reached the planted file or the other name of the linked one
	! grep -q SECRET-OUT "$shared/planted.log"
	! grep -q LINKED-OUT "$T/elsewhere"
	tendc --json status planted | grep -q "owned by uid $(id -u nobody)"
	tendc --json status linked | grep -q "hard links"
}

@test "finding 5: an AUTO log's name planted by another user before the program's first output is left alone: not read, written or removed; the output goes to another name" {
	# AUTO files are made at the first output (so that a silent program costs
	# none): between the start and that output the name is known to tend's
	# API clients and the path is free.  What another user puts there is not
	# served by the log readers, not written to, not removed at exit; the
	# output goes to a new name, nothing of it lost.
	shared=$T/shared
	mkdir "$shared"
	chmod 1777 "$shared"
	mkfifo "$T/go"
	chmod 0644 "$T/go"
	echo TARGET-CONTENT >"$T/target"
	chmod 0600 "$T/target"
	conf <<EOF
[supervisord]
childlogdir=$shared
[program:late]
command=sh -c 'read x <$T/go; echo SECRET-OUT; echo SECRET-ERR >&2; exec $TPROC sleep'
startsecs=0
EOF
	start_tend
	wait_until 5 state_is late RUNNING
	json=$(tendc status --json late)
	out=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["stdout_logfile"])')
	err=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["stderr_logfile"])')
	[[ "$out" == "$shared/late-stdout---"* ]]
	as_nobody ln -s "$T/target" "$out"
	as_nobody sh -c "umask 0; echo PLANTED >'$err'"
	# the readers answer an empty log, not what the path leads to
	for m in "readProcessStdoutLog</methodName><params><param><value><string>late</string></value></param><param><value><int>0</int></value></param><param><value><int>0</int></value></param>" \
		 "tailProcessStdoutLog</methodName><params><param><value><string>late</string></value></param><param><value><int>0</int></value></param><param><value><int>1000</int></value></param>" \
		 "readProcessStderrLog</methodName><params><param><value><string>late</string></value></param><param><value><int>0</int></value></param><param><value><int>0</int></value></param>"; do
		answer=$(curl -s --unix-socket "$SOCK" -H 'Content-Type: text/xml' \
			--data-binary "<?xml version=\"1.0\"?><methodCall><methodName>supervisor.$m</params></methodCall>" http://localhost/RPC2)
		echo "$answer" | head -c 300
		[[ "$answer" == *"<methodResponse>"* ]]
		[[ "$answer" != *TARGET-CONTENT* && "$answer" != *PLANTED* && "$answer" != *"<fault>"* ]]
	done
	run tendc tail late
	[ "$status" -eq 0 ]
	[[ "$output" != *TARGET-CONTENT* ]]
	run tendc tail late stderr
	[[ "$output" != *PLANTED* ]]
	echo go >"$T/go"
	wait_until 5 grep -q "late: log $out: the name is taken" "$T/tend.log"
	wait_until 5 grep -q "late: log $err: the name is taken" "$T/tend.log"
	json=$(tendc status --json late)
	out2=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["stdout_logfile"])')
	err2=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["stderr_logfile"])')
	echo "new names: $out2 $err2"
	[ "$out2" != "$out" ] && [ "$err2" != "$err" ]
	[[ "$out2" == "$shared/late-stdout---"* ]]
	wait_until 5 grep -qx SECRET-OUT "$out2"
	wait_until 5 grep -qx SECRET-ERR "$err2"
	[ "$(stat -c '%U %a' "$out2")" = "root 600" ]
	run tendc tail late
	[ "$output" = SECRET-OUT ]
	run grep -q SECRET "$T/target"
	[ "$status" -ne 0 ]
	[ "$(cat "$err")" = PLANTED ]
	stop_tend
	# tend did not make them, so it does not remove them; its own are gone
	[ -L "$out" ]
	[ "$(cat "$err")" = PLANTED ]
	[ ! -e "$out2" ] && [ ! -e "$err2" ]
}

# ---- finding 6 (low) ------------------------------------------------------------

@test "finding 6: with cgroups=off a tend killed with SIGKILL and started again stops what the first one started" {
	conf <<EOF
[supervisord]
cgroups=off
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
	start_tend
	wait_until 5 state_is single RUNNING
	wait_gone "$old" 5
	for k in $kids; do wait_gone "$k" 5; done
	[ "$(pgrep -fc "tproc stamp $T/stamps")" -eq 1 ]
	grep -q 'a tend that did not exit cleanly' "$T/tend.log"
	stop_tend
	# the record is tend's own: one another user planted (in a shared directory)
	# naming a victim is never believed
	mkdir "$T/shared"
	chmod 1777 "$T/shared"
	"$TPROC" sleep "$T/victim" &
	victim=$!
	start=$(awk '{ sub(/.*\) /, ""); print $20 }' /proc/$victim/stat)
	as_nobody sh -c "echo '+ $victim $start' >'$T/shared/tend.sock.pids'"
	SOCK=$T/shared/tend.sock
	sed -i "s|^file=.*|file=$SOCK|" "$CONF"
	start_tend
	wait_until 5 state_is single RUNNING
	kill -0 "$victim"
	kill "$victim"
	wait "$victim" || true
}

@test "finding 6: failed Basic logins are rate-limited per client address" {
	port=$(free_port)
	tcp_conf "$port" "username=admin
password={SHA}$(printf 'right' | sha1sum | cut -d' ' -f1)" <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	url=http://127.0.0.1:$port/v1/programs
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u admin:right "$url")" = 200 ]
	# nobody guesses: 12 wrong passwords in a row from 127.0.0.1
	codes=$(as_nobody sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		curl -s -o /dev/null -w " %{http_code}" -u "admin:guess$i" "$1"; done' sh "$url")
	# while the address is blocked, even the right password waits (one more login every 6 s)
	right=$(curl -s -o /dev/null -w '%{http_code}' -u admin:right "$url")
	echo "# codes:$codes; then the right password: $right" >&3
	[ "$codes" = " 401 401 401 401 401 401 401 401 401 401 429 429" ]
	[ "$right" = 429 ]
	# health checks and the unix socket are not affected
	[ "$(curl -s "http://127.0.0.1:$port/healthz")" = ok ]
	tendc status a >/dev/null
}

@test "finding 6: a config line that is not a key = value of ours is never printed" {
	printf 'root:$6$SECRETHASH$x:19000:0:99999:7:::\nplain-secret-line\n[section-with-SECRET2\n' >"$T/shadow"
	chmod 600 "$T/shadow"
	conf <<EOF
[program:a]
command=$TPROC sleep
[include]
files=$T/shadow
EOF
	run "$TEND" check -c "$CONF"
	[ "$status" -eq 5 ]
	[[ "$output" != *SECRET* && "$output" != *plain-secret-line* ]]
	[[ "$output" == *"$T/shadow:1: not a key = value line"* ]]
	[[ "$output" == *"$T/shadow:2: not a key = value line"* ]]
	run timeout 10 "$TEND" -c "$CONF" up
	[ "$status" -eq 5 ]
	[[ "$output" != *SECRET* && "$output" != *plain-secret-line* ]]
}

@test "finding 6: tend check is linear in the length of a line" {
	# 8 MB in one value: a quadratic join takes minutes, a linear one well under a second
	{
		printf '[program:a]\ncommand=%s sleep\nenvironment=X="' "$TPROC"
		head -c 8000000 /dev/zero | tr '\0' 'a'
		printf '"\n'
	} >"$CONF"
	run timeout 20 "$TEND" check -c "$CONF"
	echo "$output" | tail -3
	[ "$status" -eq 0 ]
}

@test "finding 6: a huge %(process_num)d width is refused at once with a clear error" {
	conf <<'EOF'
[program:a]
command=/bin/echo %(process_num)999999999d
EOF
	run timeout 5 "$TEND" check -c "$CONF"
	[ "$status" -eq 5 ]
	[[ "$output" == *"width"* ]]
	[[ "$output" != *"command is empty"* ]]
}

# ---- what held (the issue's list): kept tested --------------------------------

@test "what held: wrong credentials, cross-site POSTs, XXE and path tricks are refused; user= drops every capability and fd" {
	id nobody >/dev/null
	user_bins
	port=$(free_port)
	tcp_conf "$port" "username=admin
password=right" <<EOF
[supervisord]
logfile=$T/main.log
[program:a]
command=$TPROC sleep
stdout_logfile=$T/a.log
startsecs=0
[program:asnobody]
command=$UTPROC sleep
user=nobody
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	wait_until 5 state_is asnobody RUNNING
	url=http://127.0.0.1:$port
	nobody_dir
	code() { as_nobody curl -s -o "$T/n/body" -w '%{http_code}' --max-time 3 --path-as-is "$@"; }
	# 8 kinds of wrong credentials (under the 10 a client address may fail in a row)
	got=
	for h in "Basic $(printf 'admin:wrong' | base64)" "Basic $(printf 'Admin:right' | base64)" \
		"Basic $(printf 'admin:righ' | base64)" "Basic $(printf 'admin:right ' | base64)" \
		"Basic $(printf 'adminright' | base64)" "Basic $(printf ':right' | base64)" \
		"Basic !!notbase64!!" "Bearer right"; do
		got="$got $(code -H "Authorization: $h" "$url/v1/programs")"
	done
	echo "# wrong credentials: $got" >&3
	[ "$got" = " 401 401 401 401 401 401 401 401" ]
	# a POST from another site, from an opaque origin, or marked cross-site by the browser
	[ "$(code -u admin:right -X POST -H 'Origin: http://evil.example' "$url/v1/programs/a/stop")" = 403 ]
	[ "$(code -u admin:right -X POST -H 'Origin: null' "$url/v1/programs/a/stop")" = 403 ]
	[ "$(code -u admin:right -X POST -H 'Sec-Fetch-Site: cross-site' "$url/v1/programs/a/stop")" = 403 ]
	[ "$(code -u admin:right -X POST -H 'Sec-Fetch-Site: same-site' "$url/v1/programs/a/stop")" = 403 ]
	[ "$(state a)" = RUNNING ]
	# XXE: an external entity is never read
	out=$(as_nobody curl -s --max-time 3 -u admin:right "$url/RPC2" -H 'Content-Type: text/xml' --data \
		'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/shadow">]><methodCall><methodName>supervisor.getProcessInfo</methodName><params><param><value>&x;</value></param></params></methodCall>')
	[[ "$out" == *"<name>faultCode</name>"* ]]
	[[ "$out" != *root:* ]]
	# path tricks in /logtail and /v1/logs (the right path answers)
	[ "$(code -u admin:right "$url/v1/logs/a")" = 200 ]
	for p in "/logtail/../../etc/passwd" "/logtail/..%2f..%2fetc%2fpasswd" "/v1/logs/../../etc/passwd" \
		"/v1/logs/..%2f..%2fetc%2fpasswd" "/logtail/a/../../../etc/passwd" "/v1/logs/%2e%2e"; do
		c=$(code -u admin:right "$url$p")
		[[ "$c" == 400 || "$c" == 404 ]] || { echo "$p: $c"; false; }
		! grep -q 'root:' "$T/n/body"
	done
	[ "$(curl -s "$url/healthz")" = ok ]
	# user=: no capability left, only fds 0-2
	pid=$(pid_of asnobody)
	grep -qx 'CapEff:	0000000000000000' /proc/"$pid"/status
	grep -qx 'CapPrm:	0000000000000000' /proc/"$pid"/status
	grep -qx 'CapAmb:	0000000000000000' /proc/"$pid"/status
	[ "$(ls /proc/"$pid"/fd | sort -n | tr '\n' ' ')" = "0 1 2 " ]
}
