"""Closed-loop HTTP/1.1 load generators: our own (asyncio + httptools) and Debian's ``wrk``.

Both take a :class:`Spec` and return a :class:`Result` with throughput and p50/p95/p99.

- The Python generator runs in its own process (``python -m bench.loadgen SPEC_JSON``): N workers,
  each with one keep-alive connection, send a request, wait for the whole response, record the
  latency, send the next. Requests completed during the warm-up are discarded; the measured window
  is ``duration`` seconds after it. It uses uvloop when installed and hand-built request bytes, so it
  stays far lighter than an httpx client (which would be the bottleneck on a 2-core machine).
- ``wrk`` (C, one thread here) is lighter still. It has no warm-up, so a separate short run warms up
  first. Request bodies rotate through ``bodies`` via a generated Lua script.

Each result carries the generator's own CPU time over the run, so a report can show whether the
generator, rather than the server, was the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Spec:
    host: str
    port: int
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    bodies: list[str] = field(default_factory=list)  # rotated per request; empty: no body
    paths: list[str] = field(default_factory=list)  # rotated per request (with query strings); empty: path
    concurrency: int = 32
    duration: float = 10.0
    warmup: float = 2.0
    timeout: float = 30.0
    server_pids: list[int] = field(default_factory=list)  # CPU sampled over the measured window


@dataclass
class Result:
    generator: str
    requests: int  # completed in the measured window (any status)
    ok: int  # 2xx among them
    errors: dict[str, int]  # non-2xx statuses and socket errors
    seconds: float
    rps: float  # completed 2xx per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    generator_cpu_pct: float  # of one core, over the measured window (wrk: over its whole run)
    server_cpu_pct: float | None  # of one core, summed over server_pids
    machine_busy_pct: float | None = None  # all CPUs together: 100 = the machine is saturated
    postgres_cpu_pct: float | None = None  # of one core, every postgres process (shared cluster)


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()


def _with_children(pids: list[int]) -> list[int]:
    """The processes and their live descendants (``carebase serve --workers N`` serves from children)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = list(pids), list(pids)
    while todo:
        pid = todo.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        todo += children
    return found


def proc_cpu_seconds(pids: list[int]) -> float | None:
    """utime + stime of the given processes and their live descendants (all threads), from /proc."""
    total = 0.0
    for pid in _with_children(pids):
        try:
            fields = _stat(pid)
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            if pid in pids:
                return None  # a descendant may just have exited; the server itself must be there
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(x) for x in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


def postgres_cpu_seconds() -> float:
    """CPU seconds of every process named ``postgres`` (the whole cluster: shared with others)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                data = fh.read()
        except OSError:
            continue
        if "(postgres)" not in data[:64]:
            continue
        fields = data.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


class CpuWindow:
    """Machine-wide busy % (of all CPUs, 100 = every core busy) and postgres CPU % over a window."""

    def __init__(self) -> None:
        self.m0, self.p0, self.t0 = machine_cpu(), postgres_cpu_seconds(), time.perf_counter()

    def close(self) -> tuple[float, float]:
        m1, p1, t1 = machine_cpu(), postgres_cpu_seconds(), time.perf_counter()
        busy = 100 * (m1[0] - self.m0[0]) / max(1.0, m1[1] - self.m0[1])
        # Approximate: backends that exit during the window take their CPU with them (clamped at 0).
        return round(busy, 1), max(0.0, round(100 * (p1 - self.p0) / (t1 - self.t0), 1))


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.4999)))
    return sorted_values[rank - 1]


# ---------------------------------------------------------------------------------------------
# Python generator


def _request_bytes(spec: Spec) -> list[bytes]:
    rest = f" HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\nUser-Agent: carebase-bench\r\n"
    rest += "Accept: application/json\r\n" + "".join(f"{k}: {v}\r\n" for k, v in spec.headers.items())
    if spec.paths:
        return [f"{spec.method} {path}{rest}\r\n".encode() for path in spec.paths]
    head = f"{spec.method} {spec.path}{rest}"
    if not spec.bodies:
        return [(head + "\r\n").encode()]
    out = []
    for body in spec.bodies:
        raw = body.encode()
        out.append((head + f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n").encode() + raw)
    return out


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # malformed response
            if self.waiter and not self.waiter.done():
                self.waiter.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("closed by server"))

    # httptools callbacks
    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


async def _python_run(spec: Spec) -> Result:
    loop = asyncio.get_running_loop()
    requests = _request_bytes(spec)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counts = {"requests": 0, "ok": 0}
    window: dict[str, float] = {}
    start = time.perf_counter()
    window_start, window_end = start + spec.warmup, start + spec.warmup + spec.duration
    counter = 0

    async def connect() -> _Connection:
        _, conn = await loop.create_connection(_Connection, spec.host, spec.port)
        return conn

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        window["cpu0"], window["srv0"] = time.process_time(), proc_cpu_seconds(spec.server_pids) or 0.0
        cpu_window = CpuWindow()
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        window["cpu1"], window["srv1"] = time.process_time(), proc_cpu_seconds(spec.server_pids) or 0.0
        window["busy"], window["pg"] = cpu_window.close()

    async def worker(index: int) -> None:
        nonlocal counter
        conn: _Connection | None = None
        while True:
            now = time.perf_counter()
            if now >= window_end:
                break
            if conn is None or conn.transport is None or not conn.keep_alive:
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                try:
                    conn = await connect()
                except OSError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    await asyncio.sleep(0.05)
                    continue
            request = requests[counter % len(requests)]
            counter += 1
            t0 = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.send(request), spec.timeout)
            except (TimeoutError, OSError, Exception) as exc:  # noqa: B014 (count every failure)
                t1 = time.perf_counter()
                if window_start <= t1 <= window_end:
                    key = type(exc).__name__
                    errors[key] = errors.get(key, 0) + 1
                if conn.transport is not None:
                    conn.transport.close()
                conn = None
                continue
            t1 = time.perf_counter()
            if window_start <= t1 <= window_end:
                counts["requests"] += 1
                latencies.append(t1 - t0)
                if 200 <= status < 300:
                    counts["ok"] += 1
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(sampler(), *(worker(i) for i in range(spec.concurrency)))
    latencies.sort()
    seconds = spec.duration
    server_cpu = None
    if spec.server_pids:
        server_cpu = round(100 * (window["srv1"] - window["srv0"]) / seconds, 1)
    ms = [x * 1000 for x in latencies]
    return Result(
        generator="python",
        requests=counts["requests"],
        ok=counts["ok"],
        errors=errors,
        seconds=seconds,
        rps=round(counts["ok"] / seconds, 1),
        p50_ms=round(percentile(ms, 50), 2),
        p95_ms=round(percentile(ms, 95), 2),
        p99_ms=round(percentile(ms, 99), 2),
        max_ms=round(ms[-1], 2) if ms else float("nan"),
        mean_ms=round(sum(ms) / len(ms), 2) if ms else float("nan"),
        generator_cpu_pct=round(100 * (window["cpu1"] - window["cpu0"]) / seconds, 1),
        server_cpu_pct=server_cpu,
        machine_busy_pct=window["busy"],
        postgres_cpu_pct=window["pg"],
    )


def run_python(spec: Spec) -> Result:
    """Run the Python generator in its own process and return its result."""
    proc = subprocess.run(  # noqa: S603 (our own module, our own interpreter)
        [sys.executable, "-m", "bench.loadgen", json.dumps(asdict(spec))],
        capture_output=True,
        text=True,
        timeout=spec.warmup + spec.duration + spec.timeout + 60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return Result(**json.loads(proc.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------------------------------
# wrk


def wrk_path() -> str | None:
    return shutil.which("wrk")


_LUA = """
wrk.method = {method}
{headers}
local bodies = {{{bodies}}}
local paths = {{{paths}}}
local n = 0
if #paths > 0 then
  request = function()
    n = n + 1
    return wrk.format(nil, paths[(n % #paths) + 1])
  end
elseif #bodies > 0 then
  request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {{"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%f}}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


def _lua_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _wrk_once(
    spec: Spec, seconds: float, script: str
) -> tuple[dict[str, float], float, float | None, tuple[float, float]]:
    wrk = wrk_path()
    assert wrk is not None
    url = f"http://{spec.host}:{spec.port}{spec.path}"
    cmd = [
        wrk,
        "-t1",
        f"-c{spec.concurrency}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={int(spec.timeout)}s",
        "-s",
        script,
        url,
    ]
    srv0 = proc_cpu_seconds(spec.server_pids)
    cpu_window = CpuWindow()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    srv1 = proc_cpu_seconds(spec.server_pids)
    machine = cpu_window.close()
    out = (proc.stdout.read() if proc.stdout else "") + (proc.stderr.read() if proc.stderr else "")
    line = next((x for x in out.splitlines() if x.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-2000:]}")
    gen_cpu = 100 * (rusage.ru_utime + rusage.ru_stime) / wall
    server_cpu = None if srv0 is None or srv1 is None or not spec.server_pids else 100 * (srv1 - srv0) / wall
    return json.loads(line.removeprefix("BENCHJSON ")), gen_cpu, server_cpu, machine


def run_wrk(spec: Spec) -> Result:
    headers = "\n".join(f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}" for k, v in spec.headers.items())
    headers += "\nwrk.headers['User-Agent'] = 'carebase-bench'\nwrk.headers['Accept'] = 'application/json'"
    if spec.bodies:
        headers += "\nwrk.headers['Content-Type'] = 'application/json'"
    lua = _LUA.format(
        method=_lua_str(spec.method), headers=headers, bodies=", ".join(map(_lua_str, spec.bodies)),
        paths=", ".join(map(_lua_str, spec.paths)),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    try:
        if spec.warmup > 0:
            _wrk_once(spec, spec.warmup, script)
        data, gen_cpu, server_cpu, (busy, pg) = _wrk_once(spec, spec.duration, script)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(script)
    seconds = data["duration_us"] / 1e6
    errors = {k: int(data[k]) for k in ("status", "connect", "read", "write", "timeout") if data[k]}
    if "status" in errors:
        errors["non-2xx/3xx"] = errors.pop("status")
    ok = int(data["requests"]) - errors.get("non-2xx/3xx", 0)
    return Result(
        generator="wrk",
        requests=int(data["requests"]),
        ok=ok,
        errors=errors,
        seconds=round(seconds, 3),
        rps=round(ok / seconds, 1),
        p50_ms=round(data["p50"] / 1000, 2),
        p95_ms=round(data["p95"] / 1000, 2),
        p99_ms=round(data["p99"] / 1000, 2),
        max_ms=round(data["max"] / 1000, 2),
        mean_ms=round(data["mean"] / 1000, 2),
        generator_cpu_pct=round(gen_cpu, 1),
        server_cpu_pct=None if server_cpu is None else round(server_cpu, 1),
        machine_busy_pct=busy,
        postgres_cpu_pct=pg,
    )


def run(spec: Spec, generator: str) -> Result:
    """generator: 'wrk', 'python' or 'auto' (wrk when installed, else python)."""
    if generator == "auto":
        generator = "wrk" if wrk_path() else "python"
    if generator == "wrk":
        if not wrk_path():
            raise RuntimeError("wrk is not installed (apt-get install wrk), use --generator python")
        return run_wrk(spec)
    return run_python(spec)


def _main() -> None:
    spec = Spec(**json.loads(sys.argv[1]))
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    result = runner(_python_run(spec))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    _main()
