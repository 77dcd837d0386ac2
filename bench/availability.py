"""Availability figures: ``python -m bench.run --only availability``.

GET /api/v1/practitioners/{id}/availability (7 days from tomorrow, a receptionist's token) at 32 connections
next to the raw asyncpg PK read (and bare FastAPI) measured in the same run; then the same after COPYing
1,000,000 appointments (500 practitioners, 20 tenants, two years) and ANALYZE. After each load, one
request's parts timed in-process (load SQL, slot computation, response). The data comes from
bench/booking_data.py. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from bench import loadgen
from bench.booking_data import (
    TZ,
    Tenant,
    book_share,
    bulk_load,
    create_tenants,
    explain_busy,
    local_today,
    log,
    login,
    window_slots,
)
from bench.booking_profile import profile_get, profile_lines
from bench.servers import HOST, BenchDatabase, Server, uvicorn_server

# ---------------------------------------------------------------------------------------------
# One request's parts, timed in this process


async def _breakdown(app_dsn: str, tenant_id: uuid.UUID, practitioner_id: uuid.UUID, service_id: uuid.UUID,
                     first_day: date, n: int = 50) -> dict[str, Any]:  # fmt: skip
    """Median in-process cost (this process, app role, tenant context) of the three parts of one
    availability request: the load SQL round trip, ``availability_on`` (SQL + slot computation), and
    the response (``availability_response``: JSON)."""
    import asyncpg

    from carebase.scheduling import availability as av
    from carebase.scheduling.api_availability import availability_response
    from carebase.tenancy.service import DEFAULT_POLICY

    last_day = first_day + timedelta(days=6)
    ws = datetime.combine(first_day - timedelta(days=1), dtime(), tzinfo=UTC)
    we = datetime.combine(last_day + timedelta(days=2), dtime(), tzinfo=UTC)
    conn = await asyncpg.connect(app_dsn)
    sql, total, resp = [], [], []
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
            for _ in range(n):
                t0 = time.perf_counter()
                await conn.fetchrow(av._LOAD_SQL, practitioner_id, service_id, first_day, last_day, ws, we,
                                    DEFAULT_POLICY["booking_horizon_days"])  # fmt: skip
                t1 = time.perf_counter()
                result = await av.availability_on(conn, practitioner_id=practitioner_id, service_id=service_id,
                                                  first_day=first_day, days=7)  # fmt: skip
                t2 = time.perf_counter()
                availability_response(result, service_id)
                t3 = time.perf_counter()
                sql.append(t1 - t0)
                total.append(t2 - t1)
                resp.append(t3 - t2)
    finally:
        await conn.close()
    med = lambda xs: round(statistics.median(xs) * 1000, 2)  # noqa: E731
    return {"runs": n, "load_sql_ms": med(sql), "availability_on_ms": med(total),
            "slot_computation_ms": round(med(total) - med(sql), 2), "response_ms": med(resp)}  # fmt: skip


def breakdown(db: BenchDatabase, tenant: Tenant, practitioner_id: uuid.UUID, first_day: date) -> dict[str, Any]:
    try:
        b = asyncio.run(_breakdown(db.app_dsn(), tenant.id, practitioner_id, tenant.service_id, first_day))
    except Exception as exc:  # noqa: BLE001 (src/ changes under us: report, do not fail the section)
        return {"error": f"{exc.__class__.__name__}: {exc}"}
    log(f"  in-process, median of {b['runs']}: load SQL {b['load_sql_ms']} ms, slot computation"
        f" {b['slot_computation_ms']} ms, response objects + JSON {b['response_ms']} ms")  # fmt: skip
    return b


# ---------------------------------------------------------------------------------------------
# Load runs (wrk or bench.loadgen) with rotating order, like bench.run's /me section


def _rounds(args: argparse.Namespace, targets: dict[str, tuple[Server, str, dict[str, str]]], label: str
            ) -> dict[str, dict[str, Any]]:  # fmt: skip
    from bench.run import _median_result

    results: dict[str, list[loadgen.Result]] = {name: [] for name in targets}
    order = list(targets)
    for round_no in range(args.rounds):
        for name in order[round_no % len(order) :] + order[: round_no % len(order)]:
            s, path, headers = targets[name]
            spec = loadgen.Spec(HOST, s.port, path, headers=headers, concurrency=args.concurrency,
                                duration=args.duration, warmup=args.warmup, server_pids=[s.pid])  # fmt: skip
            r = loadgen.run(spec, args.generator)
            results[name].append(r)
            log(f"  {label} round {round_no + 1}/{args.rounds} {name:12s} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.2f}"
                f"  p95 {r.p95_ms:7.2f}  p99 {r.p99_ms:7.2f} ms  srv CPU {r.server_cpu_pct}%  gen CPU"
                f" {r.generator_cpu_pct}%  pg CPU {r.postgres_cpu_pct}%  machine {r.machine_busy_pct}%"
                f"  errors {r.errors or 0}")  # fmt: skip
    return {name: _median_result(rs) for name, rs in results.items()}


def _availability_path(practitioner_id: uuid.UUID, service_id: uuid.UUID, first_day: date, days: int = 7) -> str:
    return f"/api/v1/practitioners/{practitioner_id}/availability?service_id={service_id}&from={first_day}&days={days}"


def bench_availability(args: argparse.Namespace, server: Server, db: BenchDatabase) -> dict[str, Any]:
    import jwt

    from bench.run import http_json

    tenant = create_tenants(db.owner_url, [{"practitioners": 1, "receptionists": 1, "patients": 50}])[0]
    prac = tenant.practitioner_ids[0]
    first_day = local_today() + timedelta(days=1)
    booked = book_share(db.owner_url, tenant, prac, first_day, 7, args.booked_share)
    total_slots = len(window_slots(first_day, 7))
    tokens = login(server.port, tenant.receptionist_emails[0])
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    path = _availability_path(prac, tenant.service_id, first_day)
    code, body = http_json("GET", f"http://{HOST}:{server.port}{path}", headers=auth)
    if code != 200:
        raise RuntimeError(f"GET availability answered {code}: {body}")
    free = len(body["slots"])
    log(f"  practitioner {prac}: {total_slots} slots in 7 days from {first_day}, {booked} booked, {free} free;"
        f" response {len(json.dumps(body)):,} bytes")  # fmt: skip
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    _, me = http_json("GET", f"http://{HOST}:{server.port}/api/v1/me", headers=auth)
    raw_env = {"BENCH_DSN": db.app_dsn(), "BENCH_USER_ID": me["id"], "BENCH_TENANT_ID": claims["tid"],
               "BENCH_SESSION_ID": claims["sid"], "BENCH_POOL_SIZE": "20"}  # fmt: skip
    bare = uvicorn_server("bare", "bench.baselines:bare_app")
    raw = uvicorn_server("raw", "bench.baselines:raw_app", env=raw_env)
    targets = {"bare": (bare, "/bare", {}), "raw_asyncpg": (raw, "/raw", {}), "availability": (server, path, auth)}
    out: dict[str, Any] = {
        "concurrency": args.concurrency, "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
        "window": {"first_day": str(first_day), "days": 7, "timezone": TZ, "template_slots": total_slots,
                   "booked": booked, "free": free, "response_bytes": len(json.dumps(body))},
        "targets_p95_ms": 20, "target_over_raw": 0.5,
    }  # fmt: skip
    try:
        for s in (bare, raw):
            s.start()
        for s in (bare, raw):
            s.wait_healthy(timeout=60)
        small = _rounds(args, targets, "small db")
        out["small"] = {"targets": small, "ratio_over_raw": _ratio(small)}
        out["small"]["breakdown"] = breakdown(db, tenant, prac, first_day)
        if args.profile:
            out["small"]["profile"] = profile_get(args, server, path, auth, "availability-small")
        if args.bulk_appointments > 0:
            # A new token: the first may expire during a long load (15 minutes).
            out["bulk"] = bulk_load(db, tenant, args.bulk_appointments, args.bulk_timeout,
                                    (first_day - timedelta(days=2), first_day + timedelta(days=9)))  # fmt: skip
            out["bulk"]["explain_busy"] = asyncio.run(explain_busy(db.app_dsn(), tenant.id, prac, first_day))
            log("  EXPLAIN ANALYZE of the availability query's appointment part (as the app role):")
            log("\n".join("    " + ln for ln in out["bulk"]["explain_busy"].splitlines()))
            tokens = login(server.port, tenant.receptionist_emails[0])
            auth = {"Authorization": f"Bearer {tokens['access_token']}"}
            code, body2 = http_json("GET", f"http://{HOST}:{server.port}{path}", headers=auth)
            if code != 200 or len(body2["slots"]) != free:
                raise RuntimeError(f"availability after the bulk load: {code}, {len(body2.get('slots', []))} slots")
            targets["availability"] = (server, path, auth)
            big = _rounds(args, targets, "1M db")
            out["big"] = {"targets": big, "ratio_over_raw": _ratio(big)}
            out["big"]["breakdown"] = breakdown(db, tenant, prac, first_day)
            p_small, p_big = small["availability"]["p95_ms"], big["availability"]["p95_ms"]
            out["big_over_small_p95"] = round(p_big / p_small, 2) if p_small else None
            out["target_big_over_small_p95"] = 1.5
            if args.profile:
                out["big"]["profile"] = profile_get(args, server, path, auth, "availability-1m")
    finally:
        for s in (bare, raw):
            s.stop()
    return out


def _ratio(summary: dict[str, dict[str, Any]]) -> float | None:
    raw = summary["raw_asyncpg"]["rps"]
    return round(summary["availability"]["rps"] / raw, 3) if raw else None


# ---------------------------------------------------------------------------------------------
# Report lines (bench.run.table)


def table_lines(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    av = report.get("availability")
    if av:
        w = av["window"]
        lines += ["", f"Availability: 7 days from {w['first_day']} ({w['timezone']}),"
                  f" {w['template_slots']} template slots,"
                  f" {w['booked']} booked, {w['free']} free ({w['response_bytes']:,} bytes); {av['concurrency']}"
                  f" connections, {av['duration_s']:g} s x {av['rounds']} round(s) after {av['warmup_s']:g} s warm-up"
                  " (median of rounds)"]  # fmt: skip
        lines.append(f"  {'':8s} {'endpoint':28s} {'req/s':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}"
                     f" {'srv CPU':>8s} {'ms/req':>7s} {'gen CPU':>8s} {'pg CPU':>7s} {'machine':>8s}"
                     "  errors")  # fmt: skip
        names = {"bare": "bare FastAPI (/bare)", "raw_asyncpg": "raw asyncpg PK read (/raw)",
                 "availability": "GET .../availability"}  # fmt: skip
        for phase, label in (("small", "small db"), ("big", "1M appts")):
            if phase not in av:
                continue
            for key, name in names.items():
                t = av[phase]["targets"][key]
                lines.append(f"  {label:8s} {name:28s} {t['rps']:9.1f} {t['p50_ms']:8.2f} {t['p95_ms']:8.2f}"
                             f" {t['p99_ms']:8.2f} {t['server_cpu_pct'] or 0:7.0f}% {_cpu_ms(t):7.2f}"
                             f" {t['generator_cpu_pct']:7.0f}%"
                             f" {t['postgres_cpu_pct'] or 0:6.0f}% {t['machine_busy_pct'] or 0:7.0f}%"
                             f"  {t['errors'] or 0}")  # fmt: skip
            t = av[phase]["targets"]["availability"]
            ratio = av[phase]["ratio_over_raw"]
            lines.append(f"  {label}: availability p95 {t['p95_ms']:.2f} ms ({'meets' if t['p95_ms'] < 20 else 'ABOVE'}"
                         f" the 20 ms target); availability / raw PK read = {ratio:.2f}"
                         f" ({'meets' if ratio >= 0.5 else 'BELOW'} the 0.5 target)")  # fmt: skip
        if "bulk" in av:
            b = av["bulk"]
            lines.append(f"  1M: {b['loaded']:,} of {b['requested']:,} appointments COPYed in {b['copy_seconds']} s"
                         f" ({b['rows_per_second']:,} rows/s), {b['practitioners']} practitioners in {b['tenants']}"
                         f" tenants, table {b['appointments_size']}; measured practitioner has"
                         f" {b['measured_practitioner_rows']:,} rows")  # fmt: skip
        for phase, label in (("small", "small db"), ("big", "1M appts")):
            b = av.get(phase, {}).get("breakdown")
            if b and "error" not in b:
                lines.append(f"  {label}: one request in-process (median of {b['runs']}): load SQL round trip"
                             f" {b['load_sql_ms']} ms, slot computation {b['slot_computation_ms']} ms,"
                             f" response objects + JSON {b['response_ms']} ms")  # fmt: skip
        if av.get("big_over_small_p95") is not None:
            r = av["big_over_small_p95"]
            lines.append(f"  p95 at 1M / p95 small = {r:.2f} ({'meets' if r <= 1.5 else 'ABOVE'} the 1.5x target)")
        for phase in ("small", "big"):
            prof = av.get(phase, {}).get("profile")
            if prof:
                lines += profile_lines(prof, f"availability ({phase})")
    return lines


def _cpu_ms(t: dict[str, Any]) -> float:
    """Server CPU milliseconds per 2xx response: what a request costs, whatever else the machine runs."""
    return (t["server_cpu_pct"] or 0) * 10 / t["rps"] if t["rps"] else float("nan")
