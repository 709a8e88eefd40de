#!/usr/bin/env bats
# The CLI and the daemon agree on where the socket is: one order (-s,
# $TEND_SOCKET, the config's, the default), used by `tend up` too; up -d
# says on stderr why it did not start, and shows the config's warnings.

load helpers

@test "tend -s X up -d listens on X; tend -s X status finds it" {
	printf '[program:a]\ncommand=%s sleep\nstartsecs=0\n' "$TPROC" >"$CONF"
	run "$TEND" -c "$CONF" -s "$T/x.sock" up -d --pidfile "$T/tend.pid"
	[ "$status" -eq 0 ]
	TEND_PID=$(cat "$T/tend.pid")
	[ -S "$T/x.sock" ]
	wait_until 5 bash -c "'$TEND' -c '$CONF' -s '$T/x.sock' status a | grep -q RUNNING"
	run "$TEND" -c "$CONF" -s "$T/x.sock" shutdown
	[ "$status" -eq 0 ]
	wait_gone "$TEND_PID" 10
}

@test "\$TEND_SOCKET is where tend up listens, over the config's socket, and where status looks" {
	conf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
EOF
	TEND_SOCKET=$T/env.sock "$TEND" -c "$CONF" up >"$T/tend.log" 2>&1 &
	TEND_PID=$!
	wait_started
	[ -S "$T/env.sock" ]
	[ ! -e "$SOCK" ]
	wait_until 5 bash -c "TEND_SOCKET='$T/env.sock' '$TEND' -c '$CONF' status a | grep -q RUNNING"
	run tendc status
	[ "$status" -eq 3 ]
}

@test "up -d: a second tend on the same socket says why on stderr (exit 1); config warnings are shown" {
	conf <<EOF
[program:a]
command=$TPROC sleep
startsecs=0
autostrat=true
EOF
	run "$TEND" -c "$CONF" up -d --pidfile "$T/tend.pid"
	[ "$status" -eq 0 ]
	TEND_PID=$(cat "$T/tend.pid")
	[[ "$output" == *"warning: unknown key 'autostrat' in [program:a] (did you mean 'autostart'?)"* ]]
	cp "$CONF" "$T/second.conf"
	run "$TEND" -c "$T/second.conf" up -d --pidfile "$T/second.pid"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another tend is already running on $SOCK"* ]]
	run tendc shutdown
	wait_gone "$TEND_PID" 10
}

@test "tend -h says the socket order README says" {
	run "$TEND" -h
	[[ "$output" == *'default: $TEND_SOCKET, then the config'* ]]
	tr '\n' ' ' <"$BATS_TEST_DIRNAME/../../README.md" | grep -q 'socket with `-s`, then `$TEND_SOCKET`, then the config'
}
