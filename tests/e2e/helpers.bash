# Shared set-up for the end-to-end tests: each test gets a temp dir with its
# own config and socket, runs the real bin/tend and bin/tendd, and must leave
# no process behind.

TEND_BUILD=${TEND_BUILD:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
TEND=$TEND_BUILD/bin/tend
TPROC=$TEND_BUILD/helpers/tproc

setup() {
	T=$(mktemp -d /tmp/tend-e2e.XXXXXX)
	chmod 755 "$T"
	SOCK=$T/tend.sock
	CONF=$T/tend.conf
	TEND_PID=
	INNER=
	# every process this test starts inherits it (tend passes its environment on)
	export TEND_E2E_TEST=$T
}

# strays: processes carrying this test's mark that are no longer below this
# shell (a program whose tend died is adopted by PID 1 or a subreaper); the
# marked processes are listed first, so the ones this check runs are gone
# (not alive) or below this shell by the time they are looked at
strays() {
	local marked ours p
	marked=$(grep -lzx "TEND_E2E_TEST=$T" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
	ours=" $$ $(descendants $$ | tr '\n' ' ') "
	for p in $marked; do
		[[ "$ours" == *" $p "* ]] || ! kill -0 "$p" 2>/dev/null || echo "$p"
	done
}

teardown() {
	local left="" d
	# tend as PID 1 of a namespace: unshare ignores TERM, tend itself must get it
	if [ -n "$INNER" ] && kill -0 "$INNER" 2>/dev/null; then
		kill -TERM "$INNER" 2>/dev/null
		wait_gone "$INNER" 20
	fi
	if [ -n "$TEND_PID" ] && kill -0 "$TEND_PID" 2>/dev/null; then
		local tree
		tree=$(descendants "$TEND_PID")
		kill -TERM "$TEND_PID" 2>/dev/null
		wait_gone "$TEND_PID" 20 || kill -KILL "$TEND_PID" 2>/dev/null
		for p in $tree; do
			kill -0 "$p" 2>/dev/null && left="$left $p"
		done
	fi
	# anything else we started names the test dir on its command line
	left="$left $(pgrep -f "$T/" || true) $(strays)"
	left=$(echo $left)
	if [ -n "$left" ]; then
		kill -KILL $left 2>/dev/null || true
	fi
	# the cgroup tree of a tend that did not exit cleanly (its processes are
	# gone now; the kernel may take a moment to let the leaves go)
	for d in $(sed -n 's/.*INFO cgroup tree: //p' "$T/tend.log" 2>/dev/null); do
		[ -d "$d" ] || continue
		wait_until 5 bash -c "! [ -d '$d' ] || find '$d' -depth -type d -exec rmdir {} + 2>/dev/null"
	done
	# file systems a test mounted under its directory
	for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	rm -rf "$T"
	if [ -n "$left" ]; then
		echo "leftover processes: $left" >&3
		return 1
	fi
}

# conf: write the config from stdin, after a [unix_http_server] pointing at $SOCK
conf() {
	{
		printf '[unix_http_server]\nfile=%s\n\n' "$SOCK"
		cat
	} >"$CONF"
}

# start_tend [ARGS]: run `tend up` in the background; wait for its socket
start_tend() {
	"$TEND" -c "$CONF" up "$@" >"$T/tend.log" 2>&1 &
	TEND_PID=$!
	wait_started
}

# wait_started: until tend has logged that it is up (its socket exists a little
# earlier: cgroup set-up and the TCP listener come after it)
wait_started() {
	wait_until 10 grep -q "started with pid" "$T/tend.log" || {
		cat "$T/tend.log" >&3
		return 1
	}
}

tendc() {
	"$TEND" -c "$CONF" "$@"
}

# wait_until SECONDS CMD...: poll CMD every 20 ms
wait_until() {
	local limit=$1
	shift
	local end=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.02
	done
}

wait_gone() {
	local pid=$1 limit=${2:-10}
	wait_until "$limit" bash -c "! kill -0 $pid 2>/dev/null"
}

# state NAME: the state column of `tend status NAME`
state() {
	"$TEND" -c "$CONF" status "$1" 2>/dev/null | awk '{print $2}'
}

state_is() {
	[ "$(state "$1")" = "$2" ]
}

# pid_of NAME: the pid of a running instance
pid_of() {
	"$TEND" -c "$CONF" --json status "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["pid"])'
}

# descendants PID: every process below PID
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			for (p in parent) {
				q = parent[p]
				while (q != "" && q != 0 && q != 1) {
					if (q == root) { print p; break }
					q = parent[q]
				}
			}
		}'
}

# zombies_of PID: zombie children of PID
zombies_of() {
	ps -e -o pid=,ppid=,stat= | awk -v root="$1" '$2 == root && $3 ~ /^Z/ { print $1 }'
}

# stop_tend: SIGTERM and wait; sets TEND_STATUS
stop_tend() {
	kill -TERM "$TEND_PID"
	local rc=0
	wait "$TEND_PID" || rc=$?
	TEND_STATUS=$rc
	TEND_PID=
}

# user_bins: UTPROC and UTEND, copies of tproc and the tend CLI that other
# users can run.  The checkout may lie below a directory only root can enter
# (a private temporary directory): the copies sit in the test's own
# directory, which is 0755; if nobody still cannot run them, the test is
# skipped and says why.
user_bins() {
	mkdir -p "$T/bin"
	cp "$TPROC" "$T/bin/tproc"
	cp "$TEND" "$T/bin/tend"
	chmod 755 "$T/bin" "$T/bin/tproc" "$T/bin/tend"
	UTPROC=$T/bin/tproc
	UTEND=$T/bin/tend
	setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$UTPROC" ||
		skip "user nobody cannot run $UTPROC (a parent directory is closed to other users)"
}

# free_port: a TCP port nobody listens on now
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
