"""Booking figures: ``python -m bench.run --only booking``.

Hold + confirm by 64 closed-loop clients on distinct slots (each client its own practitioner and its own
receptionist: the saturation throughput), then the same 64 clients paced at a fixed offered rate (open
loop, 300 bookings/s by default, latency from each booking's intended start: the latency at that rate),
then 64 clients contending for the same 20 slots until 10,000 hold attempts, with the database checked
afterwards for overlapping active appointments.

The HTTP clients run in their own process (bench/booking_clients.py: ``python -m bench.booking_clients
MODE``, spec on stdin, one JSON line out); the data comes from bench/booking_data.py. ``add_arguments``
registers the options of both the availability and the booking section. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from bench.booking_data import ACTIVE, Tenant, create_tenants, local_today, log, login
from bench.booking_profile import profile_lines, profile_server
from bench.servers import HOST, BenchDatabase, Server, _admin


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the availability and booking sections, one group (called by bench.run.parse_args)."""
    g = p.add_argument_group("availability / booking")
    g.add_argument("--booked-share", type=float, default=0.3, help="share of the measured week already booked (0.3)")
    g.add_argument("--bulk-appointments", type=int, default=1_000_000, help="appointments COPYed (0: skip)")
    g.add_argument("--bulk-timeout", type=float, default=110.0, help="stop the COPY after this many seconds (110)")
    g.add_argument("--booking-clients", type=int, default=64, help="closed-loop booking clients (64)")
    g.add_argument("--booking-rate", type=float, default=300.0,
                   help="bookings/s offered together by the paced (open-loop) run (300; 0: skip)")  # fmt: skip
    g.add_argument("--booking-tenants", type=int, default=1,
                   help="spread the booking clients over this many tenants (1; a diagnostic)")  # fmt: skip
    g.add_argument("--contention-slots", type=int, default=20, help="slots fought over (20)")
    g.add_argument("--contention-attempts", type=int, default=10_000, help="hold attempts in total (10000)")


def _client_process(mode: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 (our own module)
        [sys.executable, "-m", "bench.booking_clients", mode], input=json.dumps(spec), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"booking client ({mode}) failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def bench_booking(args: argparse.Namespace, server: Server, db: BenchDatabase) -> dict[str, Any]:
    n, nt = args.booking_clients, max(1, args.booking_tenants)
    per = -(-n // nt)
    # Tenant 0 also holds the contested practitioner and n receptionists for the contention run.
    specs = [{"practitioners": per + (k == 0), "receptionists": n if k == 0 else per, "patients": 100}
             for k in range(nt)]  # fmt: skip
    tenants = create_tenants(db.owner_url, specs)
    # As autovacuum would after the set-up (off on CI's server); earlier sections' writes flushed now.
    asyncio.run(_admin(db.owner_url, "VACUUM (ANALYZE)", "CHECKPOINT"))
    tenant = tenants[0]
    t0 = time.perf_counter()
    tokens = {e: login(server.port, e)["access_token"] for t in tenants for e in t.receptionist_emails}
    log(f"  {len(tokens)} receptionists signed in in {time.perf_counter() - t0:.1f} s; {n} clients on {n}"
        f" practitioners in {nt} tenant(s), one more practitioner for contention")  # fmt: skip
    first_day = local_today() + timedelta(days=1)

    def client(t: Tenant, j: int, practitioner_id: uuid.UUID) -> dict[str, str]:
        return {"token": tokens[t.receptionist_emails[j]], "practitioner_id": str(practitioner_id),
                "service_id": str(t.service_id), "patient_id": str(t.patient_ids[j % len(t.patient_ids)])}  # fmt: skip

    clients = [client(tenants[i % nt], i // nt, tenants[i % nt].practitioner_ids[i // nt]) for i in range(n)]
    base = {"host": HOST, "port": server.port, "first_day": str(first_day), "server_pid": server.pid}
    spec = {**base, "clients": clients, "duration": args.duration, "warmup": args.warmup}
    log(f"  hold + confirm: {n} clients, {args.warmup:g} s warm-up + {args.duration:g} s")
    before = _server_latency(server.port)
    thr = _client_process("throughput", spec, timeout=args.warmup + args.duration + 180)
    thr["server_side"] = _latency_shares(before, _server_latency(server.port))
    log(f"  inside the server (its request histogram, warm-up included): {thr['server_side']}")
    log(f"  {thr['bookings_per_s']:.1f} bookings/s ({thr['bookings']} in {thr['seconds']:.1f} s); hold p50"
        f" {thr['hold']['p50_ms']} p95 {thr['hold']['p95_ms']} p99 {thr['hold']['p99_ms']} ms; confirm p50"
        f" {thr['confirm']['p50_ms']} p95 {thr['confirm']['p95_ms']} p99 {thr['confirm']['p99_ms']} ms;"
        f" errors {thr['errors'] or 0}; srv CPU {thr['server_cpu_pct']}% client CPU {thr['client_cpu_pct']}%"
        f" pg CPU {thr['postgres_cpu_pct']}% machine {thr['machine_busy_pct']}%")  # fmt: skip
    out: dict[str, Any] = {
        "clients": n,
        "tenants": nt,
        "throughput": thr,
        "target_bookings_per_s": 300,
        "target_p95_ms": 100,
    }
    if args.booking_rate > 0:
        out["settled_before_paced"] = _settle(db.owner_url)
        out["paced"] = _paced(server, spec, args.booking_rate)
    if args.profile:
        seconds = max(3, int(args.duration))
        pspec = {**spec, "duration": seconds + 1, "warmup": args.warmup + 1}
        log(f"  profiling hold + confirm with py-spy for {seconds} s")
        out["profile"] = profile_server(server, seconds, lambda: _client_process("throughput", pspec, timeout=240),
                                  "booking", delay=float(args.warmup) + 1)  # fmt: skip
    # Contention: everyone on the first free slots of one practitioner.
    contested = tenant.practitioner_ids[per]
    cspec = {**base, "clients": [client(tenant, j, contested) for j in range(n)],
             "slots": args.contention_slots, "attempts": args.contention_attempts, "time_limit": 240}  # fmt: skip
    log(f"  contention: {n} clients, {args.contention_slots} slots of one practitioner,"
        f" {args.contention_attempts} hold attempts")  # fmt: skip
    out["settled_before_contention"] = _settle(db.owner_url)
    con = _client_process("contention", cspec, timeout=300)
    con["db"] = asyncio.run(_check_db(db.owner_url, contested, con["slot_starts"]))
    log(f"  {con['attempts']} attempts in {con['seconds']:.1f} s ({con['attempts_per_s']:.0f}/s): {con['successes']}"
        f" holds, 409s {con['conflicts']}, other {con['other'] or 0}; hold p95 {con['latency']['p95_ms']} ms;"
        f" database: double bookings {con['db']['double_bookings']}, active per contested slot"
        f" {con['db']['active_per_slot_min']}-{con['db']['active_per_slot_max']}")  # fmt: skip
    out["contention"] = con
    return out


_BACKLOG = "SELECT count(*) FROM outbox WHERE status IN ('pending', 'running')"


def _settle(owner_url: str, limit: float = 120.0) -> dict[str, Any]:
    """Let the server's in-process worker finish the previous run's events (each booking leaves two for the
    notifications and live updates) before the next run, so one run's background work is not measured in
    the next: wait until the outbox has nothing pending, at most ``limit`` seconds."""
    import asyncpg

    async def wait() -> dict[str, Any]:
        conn = await asyncpg.connect(owner_url, timeout=5)
        try:
            t0 = time.perf_counter()
            first = left = int(await conn.fetchval(_BACKLOG))
            while left and time.perf_counter() - t0 < limit:
                await asyncio.sleep(0.5)
                left = int(await conn.fetchval(_BACKLOG))
            return {"events_at_start": first, "events_left": left, "seconds": round(time.perf_counter() - t0, 1)}
        finally:
            await conn.close()

    settled = asyncio.run(wait())
    log(f"  settling: {settled['events_at_start']} outbox events of the previous run, {settled['events_left']} left"
        f" after {settled['seconds']} s")  # fmt: skip
    return settled


def _paced(server: Server, spec: dict[str, Any], rate: float) -> dict[str, Any]:
    """The same clients offering ``rate`` bookings/s on a schedule (open loop): latency at that rate."""
    n = len(spec["clients"])
    log(f"  hold + confirm paced: {n} clients offering {rate:g} bookings/s together ({rate / n:.2f}/s each, random"
        f" phase), {spec['warmup']:g} s warm-up + {spec['duration']:g} s; latency from the intended start")  # fmt: skip
    before = _server_latency(server.port)
    drain = max(10.0, float(spec["duration"]))
    p = _client_process("paced", {**spec, "rate": rate, "drain": drain},
                        timeout=spec["warmup"] + spec["duration"] + drain + 180)  # fmt: skip
    p["server_side"] = _latency_shares(before, _server_latency(server.port))
    log(f"  inside the server (its request histogram, warm-up included): {p['server_side']}")
    log(f"  offered {p['offered_per_s']:g}/s, achieved {p['achieved_per_s']:.1f} bookings/s ({p['bookings']} of"
        f" {p['scheduled']} scheduled in the window booked); {_pct_text(p, 'booking')}; {_pct_text(p, 'hold')};"
        f" {_pct_text(p, 'confirm')}; started > {p['late_threshold_ms']:g} ms late {p['started_late']} (max lag"
        f" {p['start_lag']['max_ms']} ms); errors {p['errors'] or 0}; srv CPU {p['server_cpu_pct']}% client CPU"
        f" {p['client_cpu_pct']}% pg CPU {p['postgres_cpu_pct']}% machine {p['machine_busy_pct']}%")  # fmt: skip
    return p


def _pct_text(r: dict[str, Any], what: str) -> str:
    q = r[what]
    return f"{what} p50/p95/p99/max {q['p50_ms']}/{q['p95_ms']}/{q['p99_ms']}/{q['max_ms']} ms"


_BUCKET = re.compile(
    r"^carebase_http_request_duration_seconds_bucket"
    r'\{le="([^"]+)",method="POST",route="([^"]+)",status="2\d\d"\} (\S+)$'
)


def _server_latency(port: int) -> dict[tuple[str, str], float]:
    """Cumulative counts of the server's own POST latency histogram (middleware in to response out), per
    (route, bucket): set against the clients' figures it tells time in the server from time queued before."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as r:  # noqa: S310 (loopback)
        text = r.read().decode()
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        m = _BUCKET.match(line)
        if m:
            le, route, count = m.groups()
            key = (route.rsplit("/", 1)[-1], le)
            out[key] = out.get(key, 0.0) + float(count)
    return out


def _latency_shares(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]) -> dict[str, str]:
    """Per route: the share of 2xx answers the server completed within 10, 50 and 100 ms."""
    shares: dict[str, str] = {}
    for route in sorted({r for r, _ in after}):
        total = after.get((route, "+Inf"), 0) - before.get((route, "+Inf"), 0)
        if total:
            parts = [f"{100 * (after.get((route, le), 0) - before.get((route, le), 0)) / total:.0f}% <= {le}s"
                     for le in ("0.01", "0.05", "0.1")]  # fmt: skip
            shares[route] = ", ".join(parts)
    return shares


async def _check_db(owner_url: str, practitioner_id: uuid.UUID, slot_starts: list[str]) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(owner_url)
    try:
        active = list(ACTIVE)
        double = await conn.fetchval(
            "SELECT count(*) FROM appointments a JOIN appointments b ON a.practitioner_id = b.practitioner_id"
            " AND a.id < b.id AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)"
            " WHERE a.status = ANY($1::text[]) AND b.status = ANY($1::text[])", active)  # fmt: skip
        starts = [datetime.fromisoformat(s) for s in slot_starts]
        rows = await conn.fetch(
            "SELECT s.starts_at, count(a.id) AS active FROM unnest($2::timestamptz[]) AS s(starts_at)"
            " LEFT JOIN appointments a ON a.practitioner_id = $1 AND a.starts_at = s.starts_at"
            " AND a.status = ANY($3::text[]) GROUP BY s.starts_at", practitioner_id, starts, active)  # fmt: skip
        per_slot = [r["active"] for r in rows]
        total_rows = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE practitioner_id = $1", practitioner_id
        )
        return {"double_bookings": double, "active_per_slot_min": min(per_slot), "active_per_slot_max": max(per_slot),
                "slots_with_exactly_one": sum(1 for c in per_slot if c == 1), "slots": len(per_slot),
                "rows_for_practitioner": total_rows}  # fmt: skip
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------
# Report lines (bench.run.table)


def table_lines(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    bk = report.get("booking")
    if bk:
        t = bk["throughput"]
        lines += ["", f"Hold + confirm: {t['clients']} closed-loop clients on distinct slots (own practitioner"
                  f" each), {t['seconds']:g} s after warm-up"]  # fmt: skip
        lines.append(f"  {t['bookings_per_s']:.1f} bookings/s ({'meets' if t['bookings_per_s'] >= 300 else 'BELOW'}"
                     f" the 300/s target); hold p50/p95/p99 {t['hold']['p50_ms']}/{t['hold']['p95_ms']}/"
                     f"{t['hold']['p99_ms']} ms, confirm {t['confirm']['p50_ms']}/{t['confirm']['p95_ms']}/"
                     f"{t['confirm']['p99_ms']} ms (target p95 < 100); errors {t['errors'] or 0}")  # fmt: skip
        ms = (t["server_cpu_pct"] or 0) * 10 / t["bookings_per_s"] if t["bookings_per_s"] else float("nan")
        workers = report.get("conditions", {}).get("uvicorn", {}).get("workers", 1)
        lines.append(f"  server CPU per booking (hold + confirm) {ms:.1f} ms over {workers} server process(es):"
                     f" each tops out near {1000 / ms if ms else float('nan'):.0f} bookings/s with a whole core"
                     " to itself")  # fmt: skip
        lines.append(f"  srv CPU {t['server_cpu_pct']}%  client CPU {t['client_cpu_pct']}%  pg CPU"
                     f" {t['postgres_cpu_pct']}%  machine {t['machine_busy_pct']}%")  # fmt: skip
        if settled := bk.get("settled_before_paced") or bk.get("settled_before_contention"):
            lines.append(_drain_line(settled))
        if bk.get("paced"):
            lines += _paced_lines(bk["paced"])
        c = bk["contention"]
        lines.append(f"Contention: {c['clients']} clients on the same {c['slots']} slots: {c['attempts']} hold attempts"
                     f" in {c['seconds']} s; {c['successes']} succeeded, {c['conflicts']} x 409, other"
                     f" {c['other'] or 0}; hold p95 {c['latency']['p95_ms']} ms")  # fmt: skip
        lines.append("  409s: " + ", ".join(f"{k} {v}" for k, v in c["conflicts_by_kind"].items()))
        d = c["db"]
        lines.append(f"  database: double bookings: {d['double_bookings']}; slots with exactly one active hold:"
                     f" {d['slots_with_exactly_one']} of {d['slots']}")  # fmt: skip
        if bk.get("profile"):
            lines += profile_lines(bk["profile"], "hold + confirm")
    return lines


def _drain_line(settled: dict[str, Any]) -> str:
    """The run's background work: how fast the in-process worker drained what the bookings left in the outbox."""
    n, seconds, left = settled["events_at_start"], settled["seconds"], settled["events_left"]
    rate = f"{(n - left) / seconds:.0f} events/s" if seconds else "none waiting"
    return (f"  then the in-process worker drained {n - left} of the {n} outbox events the run left in {seconds} s"
            f" ({rate}, the server otherwise idle){'; ' + str(left) + ' LEFT' if left else ''}")


def _paced_lines(p: dict[str, Any]) -> list[str]:
    rate, hold95, conf95 = p["offered_per_s"], p["hold"]["p95_ms"], p["confirm"]["p95_ms"]
    verdict = "not the target's rate" if rate != 300 else "meets" if hold95 < 100 and conf95 < 100 else "MISSES"
    late_pct = 100 * p["started_late"] / p["scheduled"] if p["scheduled"] else 0.0
    if p["achieved_per_s"] < 0.95 * rate or p["unsent"]:
        pace = "FELL BEHIND: the latency includes the backlog"
    elif late_pct > 1:
        pace = f"at its limit: {late_pct:.0f}% of bookings started late, the wait is in the latency"
    else:
        pace = "kept up"
    return [
        f"Hold + confirm paced at {rate:g} bookings/s (open loop, latency from intended start): {p['clients']}"
        f" clients on distinct slots, {p['seconds']:g} s after warm-up",
        f"  offered {rate:g}/s, achieved {p['achieved_per_s']:.1f} bookings/s"
        f" ({pace}); {p['bookings']} of"
        f" {p['scheduled']} scheduled bookings done; started > {p['late_threshold_ms']:g} ms late:"
        f" {p['started_late']}; errors {p['errors'] or 0}"
        + (f"; {p['unsent']} never sent, so the percentiles below are a lower bound" if p["unsent"] else ""),
        f"  {_pct_text(p, 'hold')} (from intended start), {_pct_text(p, 'confirm')}",
        f"  {_pct_text(p, 'booking')} (intended start -> confirmed)",
        f"  target at 300 bookings/s offered: p95 < 100 ms (hold and confirm each): {verdict}",
        f"  srv CPU {p['server_cpu_pct']}%  client CPU {p['client_cpu_pct']}%  pg CPU {p['postgres_cpu_pct']}%"
        f"  machine {p['machine_busy_pct']}%",
    ]
