"""``python -m bench.run``: the figures for the closing note. See bench/README.md.

    python -m bench.run                       # everything (startup, me, login)
    python -m bench.run --only me --duration 5 --rounds 1
    python -m bench.run --only login --generator python

Prints a table and writes bench/results/<UTC timestamp>.json. Everything runs on 127.0.0.1 and
stops by itself (bounded durations, every server started here is stopped with SIGINT).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import availability, booking, loadgen
from bench import realtime as realtime_bench
from bench import search as search_bench
from bench import worker as worker_bench
from bench.servers import (
    HOST,
    REPO,
    BenchDatabase,
    Server,
    carebase_cmd,
    create_bench_database,
    free_port,
    get_status,
    run_cli,
    uvicorn_loop,
    uvicorn_server,
)

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ME_USER = "doctor@riverside.example"
# Demo accounts that sign in with a password and get tokens at once (the clinic has device
# approval off); each is probed first and only those answering 200 are used.
LOGIN_CANDIDATES = [
    f"{who}@riverside.example" for who in ("doctor", "nurse", "pharmacist", "lab", "reception", "admin")
]
LOGIN_CANDIDATES += ["admin@sunrise.example", "platform@carebase.example"]
LIFTED_RATE_LIMITS = {
    "CAREBASE_RATE_LIMITS__LOGIN_PER_IP": "100000/60",
    "CAREBASE_RATE_LIMITS__LOGIN_PER_ACCOUNT": "100000/60",
}


def log(message: str) -> None:
    print(message, flush=True)


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback only)
    req.add_header("Accept", "application/json")
    req.add_header("User-Agent", "carebase-bench")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload)
        except ValueError:
            return exc.code, payload.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# Conditions


def serve_workers(args: argparse.Namespace) -> int:
    """Our server's processes: ``--carebase-env CAREBASE_SERVE_WORKERS=N`` (the baselines always run one)."""
    env = dict(kv.split("=", 1) for kv in args.carebase_env)
    return int(env.get("CAREBASE_SERVE_WORKERS", os.environ.get("CAREBASE_SERVE_WORKERS", "1")))


def conditions(generator: str, workers: int = 1) -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603,S607
        return out.stdout.strip()

    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "generator": generator,
        "uvicorn": {"workers": workers, "http": "httptools", "loop": uvicorn_loop(), "access_log": False},
        "carebase_log_level": "me/login: WARNING (access logs are INFO, so none are written); startup: default (INFO)",
    }


# ---------------------------------------------------------------------------------------------
# Startup


def _embedded_running(var_dir: Path) -> bool:
    return (var_dir / "pg" / "postmaster.pid").exists()


def _stop_embedded(var_dir: Path) -> None:
    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    subprocess.run([str(pg_ctl), "-D", str(var_dir / "pg"), "stop", "-m", "fast"], capture_output=True, check=False)  # noqa: S603


def bench_startup(args: argparse.Namespace) -> dict[str, Any]:
    log("startup: `carebase serve` on a fresh CAREBASE_VAR_DIR (embedded PostgreSQL), then again reusing it")
    make_q = subprocess.run(["make", "-q", "deps"], cwd=REPO, capture_output=True, check=False)  # noqa: S607
    installed = make_q.returncode == 0
    var_dir = Path(tempfile.mkdtemp(prefix="carebase-bench-var-"))
    env: dict[str, str | None] = {"CAREBASE_VAR_DIR": str(var_dir), "CAREBASE_DATABASE_URL": None}
    runs = []
    try:
        for label in ("first start (initdb, migrations, demo data)", "second start (reuses the data)"):
            port = free_port()
            server = Server("carebase-startup", [*carebase_cmd(), "serve", "--port", str(port)], port, env=env)
            server.start()
            try:
                to_health = server.wait_healthy(timeout=args.startup_timeout)
                ready = get_status(f"http://{HOST}:{port}/readyz", timeout=5)
            finally:
                exit_s, code = server.stop()
            pg_left = _embedded_running(var_dir)
            runs.append(
                {
                    "run": label,
                    "seconds_to_healthz_200": round(to_health, 2),
                    "readyz_status": ready,
                    "sigint_exit_seconds": round(exit_s, 2),
                    "exit_code": code,
                    "embedded_pg_stopped": not pg_left,
                    "clean_exit": code == 0 and not pg_left,
                }
            )
            log(
                f"  {label}: {to_health:.2f} s to /healthz 200; SIGINT exit in {exit_s:.2f} s, code {code}, "
                f"embedded PostgreSQL {'LEFT RUNNING' if pg_left else 'stopped'}"
            )
            if code != 0:
                log("  server log tail:\n" + server.log_tail(15))
            if pg_left:
                _stop_embedded(var_dir)
    finally:
        if _embedded_running(var_dir):
            _stop_embedded(var_dir)
        shutil.rmtree(var_dir, ignore_errors=True)
    return {
        "installed_checkout": installed,
        "note": "`make -q deps` says the venv is "
        + ("up to date" if installed else "NOT up to date (make run would install first)"),
        "target_seconds": 10,
        "runs": runs,
    }


# ---------------------------------------------------------------------------------------------
# Our server on a benchmark database


@contextlib.contextmanager
def carebase_stack(args: argparse.Namespace) -> Iterator[tuple[Server, BenchDatabase]]:
    var_dir = Path(tempfile.mkdtemp(prefix="carebase-bench-"))
    db = create_bench_database(None if args.pg_admin_url == "embedded" else args.pg_admin_url, var_dir)
    server: Server | None = None
    try:
        log(f"  database: {db.kind} ({db.owner_url.split('@')[-1]}); seeding with `carebase seed-demo`")
        env = {**db.env(), **LIFTED_RATE_LIMITS, **dict(kv.split("=", 1) for kv in args.carebase_env)}
        run_cli(["seed-demo"], env)
        port = free_port()
        server = Server("carebase", [*carebase_cmd(), "serve", "--port", str(port), "--no-demo"], port, env=env)
        server.start()
        server.wait_healthy(timeout=args.startup_timeout)
        yield server, db
    finally:
        if server is not None:
            exit_s, code = server.stop()
            if code != 0:
                log(f"  carebase server exit code {code} after {exit_s:.1f} s:\n{server.log_tail(20)}")
        db.drop()
        shutil.rmtree(var_dir, ignore_errors=True)


def login_token(port: int, email: str, password: str) -> dict[str, Any]:
    status, body = http_json("POST", f"http://{HOST}:{port}/api/v1/auth/login", {"email": email, "password": password})
    if status != 200:
        raise RuntimeError(f"login as {email}: {status} {body}")
    return dict(body)


def _median_result(results: list[loadgen.Result]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "generator_cpu_pct", "server_cpu_pct",
            "machine_busy_pct", "postgres_cpu_pct")  # fmt: skip
    out: dict[str, Any] = {}
    for key in keys:
        values = [getattr(r, key) for r in results if getattr(r, key) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    out["requests"] = sum(r.requests for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r.errors.items():
            errors[k] = errors.get(k, 0) + v
    out["errors"] = errors
    out["rounds"] = [asdict(r) for r in results]
    return out


def bench_me(args: argparse.Namespace, server: Server, db: BenchDatabase) -> dict[str, Any]:
    from carebase.demo import DEMO_PASSWORD

    tokens = login_token(server.port, ME_USER, DEMO_PASSWORD)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    status, me = http_json("GET", f"http://{HOST}:{server.port}/api/v1/me", headers=auth)
    if status != 200:
        raise RuntimeError(f"GET /api/v1/me: {status} {me}")
    bare = uvicorn_server("bare", "bench.baselines:bare_app")
    import jwt

    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    raw_env = {
        "BENCH_DSN": db.app_dsn(), "BENCH_USER_ID": me["id"], "BENCH_TENANT_ID": claims["tid"],
        "BENCH_SESSION_ID": claims["sid"], "BENCH_POOL_SIZE": "20",
    }  # fmt: skip
    raw = uvicorn_server("raw", "bench.baselines:raw_app", env=raw_env)
    targets: dict[str, tuple[Server, str, dict[str, str]]] = {
        "bare": (bare, "/bare", {}),
        "raw_asyncpg": (raw, "/raw", {}),
        "raw_me_sql": (raw, "/raw-me", {}),
        "me": (server, "/api/v1/me", auth),
    }
    results: dict[str, list[loadgen.Result]] = {name: [] for name in targets}
    try:
        for s in (bare, raw):
            s.start()
        for s in (bare, raw):
            s.wait_healthy(timeout=60)
        for name, (s, path, headers) in targets.items():
            code, body = http_json("GET", f"http://{HOST}:{s.port}{path}", headers=headers)
            if code != 200:
                raise RuntimeError(f"{name}: GET {path} answered {code}: {body}")
        order = list(targets)
        for round_no in range(args.rounds):
            for name in (
                order[round_no % len(order) :] + order[: round_no % len(order)]
            ):  # rotate, so drift hits all alike
                s, path, headers = targets[name]
                spec = loadgen.Spec(
                    HOST,
                    s.port,
                    path,
                    headers=headers,
                    concurrency=args.concurrency,
                    duration=args.duration,
                    warmup=args.warmup,
                    server_pids=[s.pid],
                )
                result = loadgen.run(spec, args.generator)
                results[name].append(result)
                log(
                    f"  round {round_no + 1}/{args.rounds} {name:11s} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f}"
                    f"  p95 {result.p95_ms:7.2f}  p99 {result.p99_ms:7.2f} ms  server CPU {result.server_cpu_pct}%"
                    f"  generator CPU {result.generator_cpu_pct}%  postgres CPU {result.postgres_cpu_pct}%"
                    f"  machine busy {result.machine_busy_pct}%  errors {result.errors or 0}"
                )
    finally:
        for s in (bare, raw):
            s.stop()
    summary = {name: _median_result(rs) for name, rs in results.items()}
    profile = None
    if args.profile:
        from bench.profile import profile_me

        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-me.collapsed")
        spec = loadgen.Spec(HOST, server.port, "/api/v1/me", headers=auth, concurrency=args.concurrency,
                            duration=args.duration, warmup=args.warmup, server_pids=[server.pid])  # fmt: skip
        log(f"  profiling /me with py-spy for {args.duration:g} s")
        profile = profile_me(spec, args.generator, out)
    bare_rps = summary["bare"]["rps"] or float("nan")
    raw_rps = summary["raw_asyncpg"]["rps"] or float("nan")
    me_rps = summary["me"]["rps"] or float("nan")
    raw_me_rps = summary["raw_me_sql"]["rps"] or float("nan")
    return {
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "user": ME_USER,
        "targets": summary,
        "ratios": {
            "me_over_bare": round(me_rps / bare_rps, 3),
            "raw_over_bare": round(raw_rps / bare_rps, 3),
            "me_over_raw": round(me_rps / raw_rps, 3),
            "raw_me_sql_over_bare": round(raw_me_rps / bare_rps, 3),
            "me_over_raw_me_sql": round(me_rps / raw_me_rps, 3),
        },
        "target_me_over_bare": 0.5,
        "profile": profile,
    }


def argon2_reference() -> dict[str, Any]:
    """One Argon2id verify with the shipped settings, in this process: the per-login CPU floor."""
    from argon2 import PasswordHasher

    from carebase.settings import AuthSettings

    auth = AuthSettings()
    hasher = PasswordHasher(
        time_cost=auth.argon2_time_cost, memory_cost=auth.argon2_memory_kib, parallelism=auth.argon2_parallelism
    )
    encoded = hasher.hash("bench-password-123")
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        hasher.verify(encoded, "bench-password-123")
        times.append(time.perf_counter() - t0)
    verify_ms = statistics.median(times) * 1000
    return {
        "memory_kib": auth.argon2_memory_kib,
        "time_cost": auth.argon2_time_cost,
        "parallelism": auth.argon2_parallelism,
        "verify_ms_median": round(verify_ms, 1),
        "ceiling_logins_per_s_all_cpus": round((os.cpu_count() or 1) * 1000 / verify_ms, 1),
    }


def bench_login(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    from carebase.demo import DEMO_PASSWORD

    accounts = []
    for email in LOGIN_CANDIDATES:
        status, _ = http_json(
            "POST", f"http://{HOST}:{server.port}/api/v1/auth/login", {"email": email, "password": DEMO_PASSWORD}
        )
        if status == 200:
            accounts.append(email)
    if not accounts:
        raise RuntimeError("no demo account signs in with 200; is the demo data seeded?")
    reference = argon2_reference()
    log(
        f"  Argon2id m={reference['memory_kib']} KiB t={reference['time_cost']} p={reference['parallelism']}: "
        f"{reference['verify_ms_median']} ms per verify here; {len(accounts)} accounts rotated"
    )
    bodies = [json.dumps({"email": e, "password": DEMO_PASSWORD}) for e in accounts]
    runs = {}
    for concurrency in args.login_concurrency:
        spec = loadgen.Spec(
            HOST,
            server.port,
            "/api/v1/auth/login",
            method="POST",
            bodies=bodies,
            concurrency=concurrency,
            duration=args.duration,
            warmup=args.warmup,
            server_pids=[server.pid],
        )
        result = loadgen.run(spec, args.generator)
        runs[str(concurrency)] = asdict(result)
        log(
            f"  login c={concurrency:<3d} {result.rps:7.1f} logins/s  p50 {result.p50_ms:7.1f}"
            f"  p95 {result.p95_ms:7.1f}"
            f"  p99 {result.p99_ms:7.1f} ms  server CPU {result.server_cpu_pct}%"
            f"  postgres CPU {result.postgres_cpu_pct}%"
            f"  machine busy {result.machine_busy_pct}%  errors {result.errors or 0}"
        )
    return {
        "accounts": accounts,
        "argon2": reference,
        "rate_limits": LIFTED_RATE_LIMITS,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "by_concurrency": runs,
    }


# ---------------------------------------------------------------------------------------------
# Report


def table(report: dict[str, Any]) -> str:
    lines = []
    cond = report["conditions"]
    lines.append(
        f"Carebase bench  {cond['timestamp']}  commit {cond['git_commit']}{' (dirty)' if cond['git_dirty'] else ''}"
        f"  {cond['cpus']} CPUs  load avg at start {cond['loadavg_at_start'][0]:.2f}"
        f" / end {cond.get('loadavg_at_end', [float('nan')])[0]:.2f}"
    )
    lines.append(
        "srv/gen/pg CPU: % of one core (server process, load generator, every postgres process of the cluster);"
        " machine: % of all CPUs busy (100 = saturated)"
    )
    lines.append(
        f"generator: {cond['generator']}   uvicorn: carebase {cond['uvicorn']['workers']} worker(s), baselines 1,"
        f" httptools, {cond['uvicorn']['loop']}, no access log;"
        f" carebase log level {cond['carebase_log_level']}"
    )
    if "startup" in report:
        st = report["startup"]
        lines.append("")
        lines.append(
            f"Startup: `carebase serve` to the first 200 on /healthz (target < {st['target_seconds']} s); {st['note']}"
        )
        for run in st["runs"]:
            lines.append(
                f"  {run['run']:48s} {run['seconds_to_healthz_200']:6.2f} s   readyz {run['readyz_status']}"
                f"   Ctrl-C exit {run['sigint_exit_seconds']:.2f} s code {run['exit_code']}"
                f" {'clean' if run['clean_exit'] else 'NOT CLEAN'}"
            )
    if "me" in report:
        me = report["me"]
        lines.append("")
        lines.append(
            f"GET at {me['concurrency']} connections, {me['duration_s']:g} s x {me['rounds']} round(s)"
            f" after {me['warmup_s']:g} s warm-up (median of rounds)"
        )
        lines.append(
            f"  {'endpoint':28s} {'req/s':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'vs bare':>8s}"
            f" {'srv CPU':>8s} {'gen CPU':>8s} {'pg CPU':>7s} {'machine':>8s}  errors"
        )
        names = {
            "bare": "bare FastAPI (/bare)",
            "raw_asyncpg": "raw asyncpg PK read (/raw)",
            "raw_me_sql": "/me's SQL on raw asyncpg",
            "me": "GET /api/v1/me",
        }
        bare_rps = me["targets"]["bare"]["rps"]
        for key, label in names.items():
            t = me["targets"][key]
            lines.append(
                f"  {label:28s} {t['rps']:9.1f} {t['p50_ms']:8.2f} {t['p95_ms']:8.2f} {t['p99_ms']:8.2f}"
                f" {t['rps'] / bare_rps:8.2f} {t['server_cpu_pct'] or 0:7.0f}% {t['generator_cpu_pct']:7.0f}%"
                f" {t['postgres_cpu_pct'] or 0:6.0f}% {t['machine_busy_pct'] or 0:7.0f}%  {t['errors'] or 0}"
            )
        r = me["ratios"]
        verdict = "meets" if r["me_over_bare"] >= me["target_me_over_bare"] else "BELOW"
        lines.append(
            f"  /me / bare = {r['me_over_bare']:.2f} ({verdict} the 0.5 target);"
            f" raw / bare = {r['raw_over_bare']:.2f}; /me / raw = {r['me_over_raw']:.2f};"
            f" /me / (its SQL on raw asyncpg) = {r['me_over_raw_me_sql']:.2f}"
        )
        prof = me.get("profile")
        if prof and "error" in prof:
            lines.append(f"  profile: {prof['error']}")
        elif prof:
            lines.append(f"  py-spy profile of /me ({prof['samples']} samples; {prof['collapsed_stacks']}):")
            libs = ", ".join(f"{k} {v}%" for k, v in list(prof["by_library_pct"].items())[:10])
            lines.append(f"    self time by library: {libs}")
            for k, v in prof["markers_pct"].items():
                lines.append(f"    {v:5.1f}%  {k}")
    if "login" in report:
        lg = report["login"]
        a = lg["argon2"]
        lines.append("")
        lines.append(
            f"POST /api/v1/auth/login, Argon2id m={a['memory_kib']} KiB t={a['time_cost']} p={a['parallelism']}"
            f" ({a['verify_ms_median']} ms per verify here, ceiling ~{a['ceiling_logins_per_s_all_cpus']}/s"
            f" on {cond['cpus']} CPUs), {len(lg['accounts'])} accounts, rate limits lifted"
        )
        lines.append(
            f"  {'concurrency':12s} {'logins/s':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}"
            f" {'srv CPU':>8s} {'pg CPU':>7s} {'machine':>8s}  errors"
        )
        for c, t in lg["by_concurrency"].items():
            lines.append(
                f"  {c:12s} {t['rps']:9.1f} {t['p50_ms']:8.1f} {t['p95_ms']:8.1f} {t['p99_ms']:8.1f}"
                f" {t['server_cpu_pct'] or 0:7.0f}% {t['postgres_cpu_pct'] or 0:6.0f}%"
                f" {t['machine_busy_pct'] or 0:7.0f}%"
                f"  {t['errors'] or 0}"
            )
    lines += availability.table_lines(report)
    lines += booking.table_lines(report)
    lines += search_bench.table_lines(report)
    lines += worker_bench.table_lines(report)
    lines += realtime_bench.table_lines(report)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--only",
        action="append",
        choices=["startup", "me", "login", "availability", "booking", "search", "worker", "ws"],
        help="run only these (repeatable); default: startup, me, login",
    )
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per load run (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each load run (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of bare/raw/me, order rotated (default 3)")
    p.add_argument("--concurrency", type=int, default=32, help="connections for the GET runs (default 32)")
    p.add_argument(
        "--login-concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[4, 16],
        help="comma-separated (default 4,16)",
    )
    p.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto: wrk if installed, else our Python generator",
    )
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="a PostgreSQL superuser URL to create the throwaway benchmark database on;"
        " 'embedded' (or unreachable) uses an embedded PostgreSQL (default %(default)s)",
    )
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument(
        "--carebase-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for our server, e.g. CAREBASE_DATABASE_POOL_SIZE=32 (repeatable)",
    )
    p.add_argument("--profile", action="store_true", help="also sample our server with py-spy under /me load")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/<timestamp>.json")
    booking.add_arguments(p)
    search_bench.add_arguments(p)
    worker_bench.add_arguments(p)
    realtime_bench.add_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = args.only or ["startup", "me", "login"]
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if loadgen.wrk_path() else "python"
    args.generator = generator
    report: dict[str, Any] = {"conditions": conditions(generator, serve_workers(args))}
    log(
        f"bench: {', '.join(only)}; generator {generator};"
        f" load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    if "startup" in only:
        report["startup"] = bench_startup(args)
    if "me" in only or "login" in only:
        log("me/login: our server on a throwaway database")
        with carebase_stack(args) as (server, db):
            report["conditions"]["database"] = db.kind
            report["conditions"]["worker_in_process"] = True
            report["conditions"]["carebase_env_extra"] = args.carebase_env
            if "me" in only:
                report["me"] = bench_me(args, server, db)
            if "login" in only:
                report["login"] = bench_login(args, server)
    for section, bench_fn in (("availability", availability.bench_availability), ("booking", booking.bench_booking)):
        if section in only:  # bench/availability.py, bench/booking.py: its own throwaway database and server
            log(f"{section}: our server on a throwaway database")
            with carebase_stack(args) as (server, db):
                report["conditions"]["database"] = db.kind
                report[section] = bench_fn(args, server, db)
    if "search" in only:  # bench/search.py: generated listings on its own throwaway database
        log("search: our server on a throwaway database")
        with carebase_stack(args) as (server, db):
            report["conditions"]["database"] = db.kind
            report["search"] = search_bench.bench_search(args, server, db)
    if "worker" in only:  # bench/worker.py: a worker process on its own throwaway database
        log("worker: a worker process with a no-op handler on a throwaway database")
        with carebase_stack(args) as (server, db):
            report["conditions"]["database"] = db.kind
            report["worker"] = worker_bench.bench_worker(args, server, db)
    if "ws" in only:  # bench/realtime.py: WebSocket clients on one board of one server
        log(f"ws: {args.ws_clients} WebSocket clients on one board of our server on a throwaway database")
        realtime_bench.raise_nofile(args.ws_clients * 2 + 1024)  # before the server starts: it inherits it
        with carebase_stack(args) as (server, db):
            report["conditions"]["database"] = db.kind
            report["ws"] = realtime_bench.bench_ws(args, server, db)
    report["conditions"]["loadavg_at_end"] = os.getloadavg()
    log("")
    log(table(report))
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json")
        path.write_text(json.dumps(report, indent=2, default=str))
        log(f"\nwrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
