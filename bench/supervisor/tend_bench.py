#!/usr/bin/env python3
"""tend's supervisor figures, measured the way the anchors are (../shared/bench).

  up-all:  launch -> all N programs RUNNING, from the daemon's own log stamps
           (as more/upall.py does for supervisord); N programs `/bin/sleep 100000`,
           startsecs=0, stdout_logfile=NONE; also tend's CPU, PSS and stop-all time
  status:  `tend status` with N programs, hyperfine -N --runs R --warmup 3
           (as more/ctl_latency.py does for supervisorctl)
  idle:    context switches of the daemon over 5 idle seconds with N programs
  more:    with N programs up, `tend status --json`, a reload of the unchanged
           config (`tend reload`, wall time of the call) and a /metrics scrape
           (GET over the unix socket, timed by curl), 10 times each

Usage: tend_bench.py TEND_BIN [TRIALS] [N,N...]
Prints lines "NAME | METRIC | median (range, n) UNIT | DETAILS".
"""
import json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def report(name, metric, xs, unit, fmt="{:.3f}", details=""):
    xs = list(xs)
    med, lo, hi = statistics.median(xs), min(xs), max(xs)
    print(f"{name} | {metric} | {fmt.format(med)} {unit} (range {fmt.format(lo)} - "
          f"{fmt.format(hi)}, n={len(xs)}) | {details}", flush=True)
    return med


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


def wait_for(pred, timeout, step=0.01, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pred()
        if r:
            return r
        time.sleep(step)
    raise TimeoutError(what)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / CLK_TCK


def cpu_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat: not in ticks)."""
    t = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            t += int(f.read().split()[0])
    return t


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for l in f:
            if l.startswith("Pss:"):
                return int(l.split()[1])
    return 0


def ctx_switches(pid):
    n = 0
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if "ctxt_switches" in l:
                n += int(l.split()[1])
    return n


def stamps(logfile, needle):
    ts = []
    with open(logfile) as f:
        for l in f:
            if needle in l:
                m = re.match(r"(\d+-\d+-\d+ \d+:\d+:\d+),(\d+)", l)
                ts.append(time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
                          + int(m.group(2)) / 1000)
    return ts


class Tend:
    def __init__(self, binary, d, n):
        self.bin, self.d, self.n = binary, d, n
        self.conf = os.path.join(d, "tend.conf")
        self.logfile = os.path.join(d, "tend.log")
        with open(self.conf, "w") as f:
            f.write(f"[tend]\nlogfile={self.logfile}\n[unix_http_server]\nfile={d}/tend.sock\n")
            for i in range(n):
                f.write(f"[program:p{i}]\ncommand=/bin/sleep 100000\nstartsecs=0\n"
                        "autorestart=true\nstdout_logfile=NONE\nstderr_logfile=NONE\n")

    def start(self):
        self.t_launch = time.time()
        self.p = subprocess.Popen([self.bin, "-c", self.conf, "up"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def running(self):
        """How many have entered RUNNING so far: reads only what the log
        gained since the last call (a whole read each poll of a 1.5 MB log
        at 10,000 programs costs the machine more than tend does)."""
        try:
            with open(self.logfile, "rb") as f:
                f.seek(getattr(self, "seen", 0))
                new = f.read()
        except FileNotFoundError:
            return 0
        cut = new.rfind(b"\n") + 1
        self.seen = getattr(self, "seen", 0) + cut
        self.nrunning = getattr(self, "nrunning", 0) + new[:cut].count(b"entered RUNNING state")
        return self.nrunning

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(120)


def upall(binary, n, trials):
    rows = []
    for _ in range(trials):
        d = tempfile.mkdtemp(prefix="tend-bench-")
        t = Tend(binary, d, n)
        try:
            t.start()
            wait_for(lambda: t.running() >= n, up_timeout(n), 0.1, f"{n} RUNNING")
            up = max(stamps(t.logfile, "entered RUNNING state")) - t.t_launch
            cpu = cpu_seconds(t.p.pid)
            time.sleep(1.0)
            pss = pss_kb(t.p.pid)
            t0 = time.monotonic()
            t.stop()
            rows.append((up, cpu, time.monotonic() - t0, pss))
        finally:
            t.stop()
            shutil.rmtree(d, ignore_errors=True)
        time.sleep(0.5)
    report("tend-upall", f"launch -> all {n} RUNNING", [r[0] for r in rows], "s", "{:.3f}",
           "startsecs=0; the last 'entered RUNNING' stamp of tend's log (ms) - launch")
    report("tend-upall", f"tend CPU to bring {n} up", [r[1] for r in rows], "CPU-s", "{:.3f}",
           "utime+stime of tendd when all were RUNNING")
    report("tend-upall", f"SIGTERM -> tend exited ({n} children stopped)", [r[2] for r in rows], "s",
           "{:.3f}", "")
    report("tend-upall", f"tend PSS with {n} programs up", [r[3] / 1024 for r in rows], "MB",
           "{:.2f}", "smaps_rollup Pss of tendd 1 s after all were RUNNING")
    return rows


def up_timeout(n):
    """Seconds to wait for N programs: 10,000 execs take a while on a loaded VM."""
    return max(120, n / 20)


def timed(fn, runs, pid):
    """Wall times of RUNS calls of fn, in ms, and tendd's (pid's) CPU ms per call."""
    out = []
    c0 = cpu_ns(pid)
    for _ in range(runs):
        t0 = time.monotonic()
        fn()
        out.append((time.monotonic() - t0) * 1000)
    return out, (cpu_ns(pid) - c0) / 1e6 / runs


def get_unix(sock, path):
    """GET path over tend's unix socket; the body (HTTP/1.0: read to EOF)."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
    chunks = []
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        chunks.append(b)
    s.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], head[:100]
    return body


def more_figures(binary, t, n, runs=10):
    """status --json, reload of the unchanged config, /metrics scrape with N programs."""
    def status_json():
        # output to /dev/null, as hyperfine runs plain `tend status` (checked once, untimed)
        r = subprocess.run([binary, "-c", t.conf, "status", "--json"], stdout=subprocess.DEVNULL)
        assert r.returncode == 0

    r = subprocess.run([binary, "-c", t.conf, "status", "--json"], capture_output=True, text=True)
    assert r.returncode == 0 and len(json.loads(r.stdout)["programs"]) >= n, r.stderr[-200:]

    def reload():
        r = subprocess.run([binary, "-c", t.conf, "reload"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-200:] + r.stderr[-200:]

    ms, cpu = timed(status_json, runs, t.p.pid)
    report("tend", f"tend status --json, {n} programs", ms, "ms", "{:.2f}",
           f"wall time of the CLI call (output to /dev/null), {runs} runs; tendd CPU {cpu:.2f} ms per call")
    pids = subprocess.run([binary, "-c", t.conf, "status"], capture_output=True, text=True).stdout
    ms, cpu = timed(reload, runs, t.p.pid)
    report("tend", f"reload of the unchanged config, {n} programs", ms, "ms", "{:.2f}",
           f"wall time of `tend reload`, {runs} runs; tendd CPU {cpu:.2f} ms per call")
    after = subprocess.run([binary, "-c", t.conf, "status"], capture_output=True, text=True).stdout
    pid_set = lambda text: sorted(re.findall(r"pid (\d+)", text))
    assert pid_set(pids) == pid_set(after) and len(pid_set(after)) == n, "a reload restarted a program"
    sock = os.path.join(t.d, "tend.sock")
    body = get_unix(sock, "/metrics")
    assert body.count(b"tend_up") >= 1, body[:200]
    # timed by curl (-w time_total: request sent -> last byte read), as a
    # scraper sees it; a Python reader adds ~50 ms of its own for 8 MB
    c0, ms = cpu_ns(t.p.pid), []
    for _ in range(runs):
        r = subprocess.run(["curl", "-sf", "--unix-socket", sock, "-o", "/dev/null", "-w", "%{time_total}",
                            "http://localhost/metrics"], capture_output=True, text=True, check=True)
        ms.append(float(r.stdout) * 1000)
    cpu = (cpu_ns(t.p.pid) - c0) / 1e6 / runs
    report("tend", f"/metrics scrape, {n} programs", ms, "ms", "{:.2f}",
           f"GET /metrics over the unix socket by curl (time_total), {len(body)} bytes, {runs} runs; "
           f"tendd CPU {cpu:.2f} ms per call")
    # the daemon's own time for the full answer (status --json's request):
    # tendd's CPU across each call, in ns, while curl waits for it
    cpu, size = [], 0
    for _ in range(runs):
        c0 = cpu_ns(t.p.pid)
        r = subprocess.run(["curl", "-sf", "--unix-socket", sock, "-o", "/dev/null", "-w", "%{size_download}",
                            "http://localhost/v1/programs"], capture_output=True, text=True, check=True)
        cpu.append((cpu_ns(t.p.pid) - c0) / 1e6)
        size = int(r.stdout)
    report("tend", f"tendd CPU per GET /v1/programs, {n} programs", cpu, "ms", "{:.2f}",
           f"the full answer ({size} bytes) by curl, {runs} runs; tendd's schedstat across each call")


def status_latency(binary, n, runs):
    d = tempfile.mkdtemp(prefix="tend-bench-")
    t = Tend(binary, d, n)
    try:
        t.start()
        wait_for(lambda: t.running() >= n, up_timeout(n), 0.1, f"{n} RUNNING")
        time.sleep(1.0)
        out = subprocess.run([binary, "-c", t.conf, "status"], capture_output=True, text=True)
        lines = out.stdout.strip().splitlines()
        assert len(lines) == n and all("RUNNING" in l for l in lines), out.stdout[-300:]
        c0 = cpu_ns(t.p.pid)
        fd, js = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        subprocess.run(["hyperfine", "--style", "none", "-N", "--runs", str(runs), "--warmup", "3",
                        "--export-json", js, f"{binary} -c {t.conf} status"],
                       check=True, stdout=subprocess.DEVNULL)
        res = json.load(open(js))["results"][0]
        os.unlink(js)
        server = (cpu_ns(t.p.pid) - c0) / 1e9 / (runs + 3)
        report("tend", f"tend status, {n} programs", [x * 1000 for x in res["times"]], "ms", "{:.2f}",
               f"hyperfine -N --runs {runs} --warmup 3; output {len(out.stdout)} bytes; CPU per call: "
               f"client {(res['user'] + res['system']) * 1000:.1f} ms, tendd {server * 1000:.2f} ms")
        if n == 200:
            c0, w0 = ctx_switches(t.p.pid), time.monotonic()
            time.sleep(5.0)
            report("tend", f"idle wake-ups, {n} programs",
                   [(ctx_switches(t.p.pid) - c0) / (time.monotonic() - w0)], "/s", "{:.1f}",
                   "voluntary+nonvoluntary context switches of tendd over 5 idle seconds")
        if n > 1:
            more_figures(binary, t, n)
    finally:
        t.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    binary = os.path.abspath(sys.argv[1])
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    ns = [int(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else [200, 1000]
    for n in ns:
        upall(binary, n, trials)
    for n in [1] + ns:
        status_latency(binary, n, 20)


if __name__ == "__main__":
    main()
