#!/usr/bin/env bats
# supervisorctl compatibility: the real supervisorctl (Debian's supervisor
# package) and Python's xmlrpc client drive tend through /RPC2, and tend's
# answers are compared with the real supervisord's.

load helpers

SUPERVISORCTL=/usr/bin/supervisorctl
PY=/usr/bin/python3 # Debian's, which has the supervisor module

need_supervisor() {
	[ -x "$SUPERVISORCTL" ] || skip "supervisorctl (Debian's supervisor) is not installed"
}

# ctl ARGS: supervisorctl against tend's socket
ctl() {
	"$SUPERVISORCTL" -c "$CONF" "$@"
}

# sconf: the config from stdin, with [supervisorctl] pointing at $SOCK and a main log
sconf() {
	conf <<EOF
[supervisord]
logfile=$T/main.log
[supervisorctl]
serverurl=unix://$SOCK
$(cat)
EOF
}

@test "supervisorctl status, pid, start, stop, restart, signal against tend" {
	need_supervisor
	sconf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
[program:web]
command=$TPROC sleep
numprocs=2
process_name=%(program_name)s_%(process_num)d
startsecs=0
EOF
	start_tend
	wait_until 5 state_is web:web_1 RUNNING
	run ctl status
	[ "$status" -eq 0 ]
	echo "$output" | grep -Eq '^a +RUNNING +pid [0-9]+, uptime'
	echo "$output" | grep -Eq '^web:web_0 +RUNNING'
	echo "$output" | grep -Eq '^web:web_1 +RUNNING'
	# pid: tend's, then a program's, which is the real one
	[ "$(ctl pid)" = "$TEND_PID" ]
	pa=$(ctl pid a)
	[ "$(tr '\0' ' ' </proc/$pa/cmdline)" = "$TPROC sleep " ]
	run ctl stop a
	[ "$output" = "a: stopped" ]
	! kill -0 "$pa" 2>/dev/null
	run ctl status a
	[ "$status" -eq 3 ] # supervisorctl's LSB code for "not running"
	echo "$output" | grep -q STOPPED
	run ctl stop a
	[ "$output" = "a: ERROR (not running)" ]
	run ctl start a
	[ "$output" = "a: started" ]
	run ctl start a
	[ "$output" = "a: ERROR (already started)" ]
	pa2=$(ctl pid a)
	[ "$pa2" != "$pa" ] && kill -0 "$pa2"
	run ctl restart 'web:*'
	[ "${lines[0]}" = "web:web_0: stopped" ]
	echo "$output" | grep -q "web:web_1: started"
	run ctl signal USR1 a
	[ "$output" = "a: signalled" ]
	wait_until 5 bash -c "! kill -0 $pa2" # tproc sleep dies of SIGUSR1
	run ctl start nosuch
	[ "$output" = "nosuch: ERROR (no such process)" ]
	run ctl version
	[ "$output" = "$(tendc version | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -1)" ]
	run ctl signal NOSIG a
	echo "$output" | grep -q "ERROR (bad signal name)"
}

@test "supervisorctl tail, tail -f, maintail, maintail -f" {
	need_supervisor
	sconf <<EOF
[program:talk]
command=$TPROC spew
startsecs=0
stdout_logfile=$T/talk.log
EOF
	start_tend
	wait_until 5 grep -q '^line 5' "$T/talk.log"
	run ctl tail talk
	[ "$status" -eq 0 ]
	echo "$output" | grep -Eq '^line [0-9]+$'
	run ctl tail -20 talk
	[ "${#output}" -le 20 ]
	# tail -f: the last KiB, then new lines as they come
	timeout 1.5 "$SUPERVISORCTL" -c "$CONF" tail -f talk >"$T/f.out" || true
	first=$(sed -n 's/^line //p' "$T/f.out" | head -1)
	last=$(sed -n 's/^line //p' "$T/f.out" | tail -2 | head -1)
	[ $((last - first)) -ge 50 ] # 1.5 s of a line every 10 ms, live
	run ctl maintail
	echo "$output" | grep -q "spawned: talk with pid"
	run ctl maintail -200
	[ "${#output}" -le 200 ]
	( sleep 0.7; tendc stop talk >/dev/null ) &
	stopper=$!
	timeout 1.5 "$SUPERVISORCTL" -c "$CONF" maintail -f >"$T/m.out" || true
	wait "$stopper"
	grep -q "stopped: talk" "$T/m.out"
	run ctl tail nosuch
	echo "$output" | grep -q "ERROR (no such process name)"
	# clear empties the log file
	tendc start talk >/dev/null
	wait_until 5 grep -q '^line 3' "$T/talk.log"
	run ctl clear talk
	[ "$output" = "talk: cleared" ]
	[ "$(head -1 "$T/talk.log")" != "line 0" ]
}

@test "supervisorctl reread, update, avail, add, remove follow the config file" {
	need_supervisor
	sconf <<EOF
[program:keep]
command=$TPROC sleep
startsecs=0
[program:change]
command=$TPROC sleep
startsecs=0
[program:gone]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is gone RUNNING
	pkeep=$(ctl pid keep)
	pchange=$(ctl pid change)
	run ctl reread
	[ "$output" = "No config updates to processes" ]
	# change one, remove one, add one
	sed -i -e '/^\[program:gone\]/,/^startsecs/d' -e '/^\[program:change\]/a environment=X=1' "$CONF"
	printf '[program:new]\ncommand=%s sleep\nstartsecs=0\n' "$TPROC" >>"$CONF"
	run ctl avail
	echo "$output" | grep -Eq '^gone +in use'
	run ctl reread
	echo "$output" | grep -qx "change: changed"
	echo "$output" | grep -qx "gone: disappeared"
	echo "$output" | grep -qx "new: available"
	run ctl avail
	echo "$output" | grep -Eq '^new +avail'
	run ctl update
	echo "$output" | grep -qx "gone: removed process group"
	echo "$output" | grep -qx "change: updated process group"
	echo "$output" | grep -qx "new: added process group"
	wait_until 5 state_is new RUNNING
	run ctl status
	! echo "$output" | grep -q '^gone'
	[ "$(ctl pid keep)" = "$pkeep" ]        # untouched
	[ "$(ctl pid change)" != "$pchange" ]   # restarted with its new environment
	tr '\0' '\n' </proc/"$(ctl pid change)"/environ | grep -qx X=1
	# remove needs a stopped group; add brings it back
	run ctl remove new
	echo "$output" | grep -q "ERROR: process/group still running: new"
	ctl stop new
	run ctl remove new
	[ "$output" = "new: removed process group" ]
	run ctl add new
	[ "$output" = "new: added process group" ]
	wait_until 5 state_is new RUNNING
	run ctl add new
	[ "$output" = "ERROR: process group already active" ]
	# a config with an error: reread says so, and nothing changes
	printf '[program:broken]\ncommand=%s sleep\nstartsecs=soon\n' "$TPROC" >>"$CONF"
	run ctl reread
	echo "$output" | grep -q "ERROR: CANT_REREAD"
	[ "$(ctl pid keep)" = "$pkeep" ]
}

@test "supervisorctl reload restarts the programs; shutdown stops them and tend" {
	need_supervisor
	sconf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
[program:b]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is b RUNNING
	# reload (supervisor.restart): every program restarts from the re-read file, tend stays
	pa=$(ctl pid a)
	run ctl reload
	[ "$output" = "Restarted supervisord" ]
	wait_until 10 bash -c "p=\$($SUPERVISORCTL -c $CONF pid a); [ -n \"\$p\" ] && [ \"\$p\" != 0 ] && [ \"\$p\" != $pa ]"
	wait_until 5 state_is a RUNNING
	[ "$(ctl pid)" = "$TEND_PID" ]
	pa=$(ctl pid a)
	pb=$(ctl pid b)
	run ctl shutdown
	[ "$output" = "Shut down" ]
	wait_gone "$TEND_PID" 10
	! kill -0 "$pa" 2>/dev/null
	! kill -0 "$pb" 2>/dev/null
}

@test "every XML-RPC method answers with the shape supervisord's does" {
	need_supervisor
	command -v supervisord || skip "supervisord is not installed"
	# the same programs under tend and under the real supervisord
	for who in tend sup; do
		cat >"$T/$who.conf" <<EOF
[unix_http_server]
file=$T/$who.sock
[supervisord]
logfile=$T/$who.log
pidfile=$T/$who.pid
childlogdir=$T
[supervisorctl]
serverurl=unix://$T/$who.sock
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:a]
command=$TPROC sleep $T
startsecs=0
stdout_logfile=NONE
[program:b]
command=$TPROC spew $T
startsecs=0
stdout_logfile=$T/$who-b.out
stderr_logfile=$T/$who-b.err
[program:missing]
command=/nonexistent/prog
autostart=false
[group:g]
programs=b
EOF
	done
	CONF=$T/tend.conf SOCK=$T/tend.sock
	start_tend
	supervisord -c "$T/sup.conf"
	wait_until 10 "$SUPERVISORCTL" -c "$T/sup.conf" pid g:b
	wait_until 5 state_is g:b RUNNING
	run "$PY" "$BATS_TEST_DIRNAME/rpc_compare.py" "$T/tend.sock" "$T/sup.sock"
	"$SUPERVISORCTL" -c "$T/sup.conf" shutdown
	wait_until 10 bash -c "! pgrep -f '[s]upervisord -c $T/sup.conf'"
	[ "$status" -eq 0 ] || { echo "$output" | sed 's/^/# /' >&3; false; }
	echo "$output" | grep -q "0 unexpected difference"
}

# rpc BODY: POST BODY to /RPC2 on tend's socket; prints the response body
rpc() {
	curl -s --unix-socket "$SOCK" -H 'Content-Type: text/xml' --data-binary "$1" http://localhost/RPC2
}

@test "bad XML-RPC requests get faults, never a crash" {
	sconf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	fault_code() { sed -n 's:.*<name>faultCode</name><value><int>\([0-9]*\)</int>.*:\1:p' | head -1; }
	# unknown methods, including Python internals and dotted traversal
	for m in supervisor.nosuch supervisor.__init__ supervisor._update supervisor.getPID.__class__ \
		system.__dict__ getPID '' 'supervisor.getPID ' ; do
		r=$(rpc "<?xml version=\"1.0\"?><methodCall><methodName>$m</methodName><params/></methodCall>")
		[ "$(echo "$r" | tr -d '\n' | fault_code)" = 1 ] || { echo "method '$m': $r"; false; }
	done
	# malformed XML, a missing methodName, a wrong grammar, a DOCTYPE (billion laughs)
	for body in '<methodCall><methodName>supervisor.getPID' 'not xml at all' \
		'<methodCall><params/></methodCall>' \
		'<methodCall><methodName>supervisor.getPID</methodName><params><value>1</value></params></methodCall>' \
		'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><methodCall><methodName>&lol2;</methodName></methodCall>' \
		'<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param><value><int>12x</int></value></param></params></methodCall>'; do
		r=$(rpc "$body")
		[ "$(echo "$r" | tr -d '\n' | fault_code)" = 2 ] || { echo "body '$body': $r"; false; }
	done
	# wrong parameter count and types
	r=$(rpc '<methodCall><methodName>supervisor.getProcessInfo</methodName><params/></methodCall>')
	[ "$(echo "$r" | tr -d '\n' | fault_code)" = 2 ]
	r=$(rpc '<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param><value><int>1</int></value></param></params></methodCall>')
	[ "$(echo "$r" | tr -d '\n' | fault_code)" = 2 ]
	# nesting deeper than 32 values
	deep=$(printf '<value><array><data>%.0s' $(seq 40))
	r=$(rpc "<methodCall><methodName>system.multicall</methodName><params><param>$deep</param></params></methodCall>")
	[ "$(echo "$r" | tr -d '\n' | fault_code)" = 2 ]
	# a body over 1 MiB: a fault, and the connection is closed
	head -c 1100000 /dev/zero | tr '\0' 'x' >"$T/big"
	r=$(curl -s --unix-socket "$SOCK" --data-binary @"$T/big" http://localhost/RPC2)
	[ "$(echo "$r" | tr -d '\n' | fault_code)" = 2 ]
	# extreme offsets and lengths (64-bit edges) are clamped, never overflow
	for args in '9223372036854775807 9223372036854775807' '-9223372036854775808 0' '0 -9223372036854775808'; do
		set -- $args
		for m in tailProcessStdoutLog readProcessStdoutLog; do
			rpc "<methodCall><methodName>supervisor.$m</methodName><params><param><value>a</value></param><param><value><i8>$1</i8></value></param><param><value><i8>$2</i8></value></param></params></methodCall>" >/dev/null
		done
		rpc "<methodCall><methodName>supervisor.readLog</methodName><params><param><value><i8>$1</i8></value></param><param><value><i8>$2</i8></value></param></params></methodCall>" >/dev/null
	done
	# tend is fine and still answers
	r=$(rpc '<methodCall><methodName>supervisor.getState</methodName></methodCall>')
	echo "$r" | grep -q '<string>RUNNING</string>'
	[ "$(state a)" = RUNNING ]
}

@test "[inet_http_server] username/password (plain and {SHA}) guard XML-RPC and the API over TCP" {
	need_supervisor
	port=$(free_port)
	sha=$(printf 'sekret' | sha1sum | cut -d' ' -f1)
	sconf <<EOF
[inet_http_server]
port=$port
username=admin
password={SHA}$sha
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	url=http://127.0.0.1:$port
	run "$SUPERVISORCTL" -s "$url" -u admin -p sekret status a
	[ "$status" -eq 0 ]
	echo "$output" | grep -q RUNNING
	run "$SUPERVISORCTL" -s "$url" -u admin -p sekret stop a
	[ "$output" = "a: stopped" ]
	run "$SUPERVISORCTL" -s "$url" -u admin -p wrong status
	echo "$output" | grep -q "Server requires authentication"
	run "$SUPERVISORCTL" -s "$url" status
	echo "$output" | grep -q "Server requires authentication"
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/programs")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u admin:sekret "$url/v1/programs")" = 200 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u admin:sekret2 "$url/v1/programs")" = 401 ]
	# health and metrics stay public
	[ "$(curl -s "$url/healthz")" = ok ]
	# a POST from another site's page is refused even with the credentials
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u admin:sekret -X POST -H 'Origin: http://evil.example' \
		"$url/v1/programs/a/start")" = 403 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u admin:sekret -X POST -H "Origin: http://127.0.0.1:$port" \
		"$url/v1/programs/a/start")" = 200 ]
	[ "$(state a)" = RUNNING ]
}

@test "[inet_http_server] plain password; without credentials TCP is read-only" {
	need_supervisor
	port=$(free_port)
	port2=$(free_port)
	sconf <<EOF
[inet_http_server]
port=$port
username=u
password=p@ss:word
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	run "$SUPERVISORCTL" -s "http://127.0.0.1:$port" -u u -p 'p@ss:word' stop a
	[ "$output" = "a: stopped" ]
	tendc shutdown >/dev/null
	wait_gone "$TEND_PID" 10
	sconf <<EOF
[inet_http_server]
port=$port2
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	start_tend
	wait_until 5 state_is a RUNNING
	run "$SUPERVISORCTL" -s "http://127.0.0.1:$port2" status
	echo "$output" | grep -q RUNNING
	run "$SUPERVISORCTL" -s "http://127.0.0.1:$port2" stop a
	echo "$output" | grep -q "not allowed"
	[ "$(state a)" = RUNNING ]
}
