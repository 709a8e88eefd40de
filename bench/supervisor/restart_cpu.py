#!/usr/bin/env python3
"""tendd's kernel and user CPU per restart, natively (what callgrind cannot see).

callgrind.py counts tend's own instructions; the kernel's side of a spawn
(clone, the fd table, exec's close-on-exec, reaping) is not among them, and
tendd cannot run under valgrind with the clone it uses (spawn.h).  This runs
tendd natively with N idle programs (the victim of
../shared/bench/restart_latency.py, cgroups off, stdout and stderr NONE: two
descriptors per program), reads its utime and stime from /proc/PID/stat once
all are up, then SIGKILLs one program K times (restart_delay=0, each time
waiting for its replacement's start stamp) and prints tendd's CPU per
restart, then the time from SIGTERM to tendd's exit.  CPU time counts in
ticks (10 ms): take K >= 300.  PERF=FILE records the restarts with
`perf record -g` (tendd and its children) for `perf report`.

Usage: restart_cpu.py TENDD N K
"""
import os, signal, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("SHARED_BENCH", os.path.join(os.path.dirname(ROOT), "shared", "bench"))
sys.path.insert(0, SHARED)
import restart_latency as rl  # noqa: E402  (victim build, start stamps)

TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) / TCK, int(f[12]) / TCK


def main():
    tendd, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rl.build_victim()
    d = tempfile.mkdtemp(prefix="bench-rc-")
    conf = os.path.join(d, "tend.conf")
    with open(conf, "w") as f:
        f.write(f"[unix_http_server]\nfile={d}/tend.sock\n[supervisord]\ncgroups=off\n")
        for i in range(n):
            f.write(f"[program:v{i}]\ncommand={rl.VICTIM} {d}/v{i}.log\nautorestart=true\nstartsecs=0\n"
                    "restart_delay=0\nstdout_logfile=NONE\nstderr_logfile=NONE\n")
    logs = [os.path.join(d, f"v{i}.log") for i in range(n)]
    t0 = time.monotonic()
    p = subprocess.Popen([tendd, "up", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rl.wait_for(lambda: all(rl.read_starts(x) for x in logs), timeout=900, step=0.2)
        up = time.monotonic() - t0
        u, s = cpu(p.pid)
        print(f"{tendd} | {n} programs up | {up:.2f} s | tendd CPU user {u:.2f} s, sys {s:.2f} s, "
              f"{len(os.listdir(f'/proc/{p.pid}/fd'))} fds", flush=True)
        time.sleep(2)
        u0, s0 = cpu(p.pid)
        perf = None
        if os.environ.get("PERF"):
            perf = subprocess.Popen(["perf", "record", "-q", "-g", "-o", os.environ["PERF"], "-p", str(p.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        t1 = time.monotonic()
        for _ in range(k):
            st = rl.read_starts(logs[0])
            os.kill(st[-1][1], signal.SIGKILL)
            rl.wait_for(lambda: len(rl.read_starts(logs[0])) > len(st), timeout=60, step=0.001)
        el = time.monotonic() - t1
        u1, s1 = cpu(p.pid)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        print(f"{tendd} | per restart, {n} programs | user {(u1 - u0) / k * 1e6:.0f} us, sys "
              f"{(s1 - s0) / k * 1e6:.0f} us | {k} SIGKILLs in {el:.2f} s", flush=True)
        t2 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(600)
        print(f"{tendd} | SIGTERM -> exit, {n} programs | {time.monotonic() - t2:.2f} s |", flush=True)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
