"""Availability and booking figures: ``python -m bench.run --only availability`` / ``--only booking``.

- availability: GET /api/v1/practitioners/{id}/availability (7 days from tomorrow, a receptionist's token)
  at 32 connections next to the raw asyncpg PK read (and bare FastAPI) measured in the same run; then the
  same after COPYing 1,000,000 appointments (500 practitioners, 20 tenants, two years) and ANALYZE.
- booking: hold + confirm by 64 closed-loop clients on distinct slots (each client its own practitioner
  and its own receptionist: the saturation throughput), then the same 64 clients paced at a fixed offered
  rate (open loop, 300 bookings/s by default, latency from each booking's intended start: the latency at
  that rate), then 64 clients contending for the same 20 slots until 10,000 hold attempts, with the
  database checked afterwards for overlapping active appointments.

The HTTP clients of the booking section run in their own process (bench/booking_clients.py:
``python -m bench.booking_clients MODE``, spec on stdin, one JSON line out). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from bench import loadgen
from bench.servers import HOST, BenchDatabase, Server, _admin, uvicorn_server

TZ = "Asia/Kolkata"
PASSWORD = "bench-password-2026"  # noqa: S105 (throwaway bench accounts)
ACTIVE = ("held", "requested", "confirmed", "checked_in", "in_consultation")
SESSIONS = ((dtime(9), dtime(13)), (dtime(14), dtime(18)))  # every day, Mon-Sun
SLOT_MINUTES = 15
SLOTS_PER_DAY = sum((e.hour - s.hour) * 60 // SLOT_MINUTES for s, e in SESSIONS)  # 32
PRICE_MINOR = 50_000


def log(message: str) -> None:
    print(message, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of these sections (called by bench.run.parse_args)."""
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


# ---------------------------------------------------------------------------------------------
# Data set-up (as the owner, which bypasses RLS; every row carries its tenant_id)


@dataclass
class Tenant:
    id: uuid.UUID
    location_id: uuid.UUID
    service_id: uuid.UUID
    practitioner_ids: list[uuid.UUID]
    receptionist_emails: list[str]
    receptionist_ids: list[uuid.UUID]
    patient_ids: list[uuid.UUID]


def _today() -> date:
    return datetime.now(ZoneInfo(TZ)).date()


def _password_hash() -> str:
    from argon2 import PasswordHasher

    from carebase.settings import AuthSettings

    a = AuthSettings()
    return PasswordHasher(time_cost=a.argon2_time_cost, memory_cost=a.argon2_memory_kib,
                          parallelism=a.argon2_parallelism).hash(PASSWORD)  # fmt: skip


def _build_tenant(
    objects: list[Any], n: int, *, practitioners: int, receptionists: int, patients: int, password_hash: str
) -> Tenant:
    """ORM objects of one tenant (appended to ``objects``): organisation, location, a 15-minute service,
    practitioners (doctor user + membership + profile) with weekly templates Mon-Sun 09-13 and 14-18,
    receptionists, patients."""
    from carebase.core.ids import new_id
    from carebase.directory.models import Service
    from carebase.identity.models import Membership, User
    from carebase.patients.models import Patient
    from carebase.tenancy.models import Location, Organization

    org = Organization(
        id=new_id(), name=f"Bench Clinic {n}", slug=f"bench-clinic-{n}", kind="clinic", country="IN", currency="INR",
        timezone=TZ, settings={"device_approval_required": False, "cancellation_cutoff_hours": 2},
    )  # fmt: skip
    loc = Location(id=new_id(), tenant_id=org.id, name=f"Bench Clinic {n} Main", country="IN", timezone=TZ)
    svc = Service(id=new_id(), tenant_id=org.id, name="Consultation (15 min)", duration_minutes=SLOT_MINUTES,
                  price_minor=PRICE_MINOR, currency="INR", mode="in_person", payment="at_desk")  # fmt: skip
    objects += [org, loc, svc]
    t = Tenant(org.id, loc.id, svc.id, [], [], [], [])
    t.practitioner_ids += _build_practitioners(objects, t, practitioners, f"{n}", password_hash)
    for i in range(receptionists):
        email = f"desk{i}@t{n}.bench.example"
        user = User(id=new_id(), email=email, full_name=f"Desk {n}-{i}", password_hash=password_hash)
        objects += [user, Membership(id=new_id(), tenant_id=org.id, user_id=user.id, role="receptionist")]
        t.receptionist_emails.append(email)
        t.receptionist_ids.append(user.id)
    for i in range(patients):
        p = Patient(id=new_id(), tenant_id=org.id, mrn=f"B{i:06d}", given_name=f"Given{i}", family_name=f"Family{n}",
                    sex="unknown")  # fmt: skip
        objects.append(p)
        t.patient_ids.append(p.id)
    return t


def _build_practitioners(objects: list[Any], t: Tenant, count: int, tag: str, password_hash: str) -> list[uuid.UUID]:
    """Doctor user + membership + practitioner profile + the service + 14 weekly templates, each."""
    from carebase.core.ids import new_id
    from carebase.directory.models import Practitioner, PractitionerService
    from carebase.identity.models import Membership, User
    from carebase.scheduling.models import ScheduleTemplate

    valid_from = _today() - timedelta(days=800)
    ids = []
    for i in range(count):
        user = User(id=new_id(), email=f"doc{i}@t{tag}.bench.example", full_name=f"Dr. Bench {tag}-{i}",
                    password_hash=password_hash)  # fmt: skip
        member = Membership(id=new_id(), tenant_id=t.id, user_id=user.id, role="doctor")
        prac = Practitioner(id=new_id(), tenant_id=t.id, membership_id=member.id, display_name=user.full_name,
                            qualifications="MBBS")  # fmt: skip
        objects += [user, member, prac, PractitionerService(tenant_id=t.id, practitioner_id=prac.id,
                                                            service_id=t.service_id)]  # fmt: skip
        for weekday in range(7):
            for start, end in SESSIONS:
                objects.append(
                    ScheduleTemplate(id=new_id(), tenant_id=t.id, practitioner_id=prac.id, location_id=t.location_id,
                                     weekday=weekday, start_time=start, end_time=end, slot_minutes=SLOT_MINUTES,
                                     valid_from=valid_from)
                )  # fmt: skip
        ids.append(prac.id)
    return ids


async def _with_owner_session(owner_url: str, fn: Callable[[Any], Any]) -> Any:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from carebase.core.db import async_url

    engine = create_async_engine(async_url(owner_url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()


async def _insert(session: Any, objects: list[Any]) -> None:
    """Flush in foreign-key order (the models declare no relationships the unit of work could sort by)."""
    order = ["Organization", "Location", "Service", "User", "Membership", "Practitioner", "PractitionerService",
             "ScheduleTemplate", "Patient", "Appointment"]  # fmt: skip
    groups: dict[str, list[Any]] = collections.defaultdict(list)
    for obj in objects:
        groups[type(obj).__name__].append(obj)
    for name in order:
        if groups[name]:
            session.add_all(groups[name])
            await session.flush()


def create_tenants(owner_url: str, specs: list[dict[str, int]], first_index: int = 0) -> list[Tenant]:
    password_hash = _password_hash()

    async def go(session: Any) -> list[Tenant]:
        objects: list[Any] = []
        tenants = [
            _build_tenant(objects, first_index + i, password_hash=password_hash, **s) for i, s in enumerate(specs)
        ]
        await _insert(session, objects)
        return tenants

    return list(asyncio.run(_with_owner_session(owner_url, go)))


def add_practitioners(owner_url: str, tenant: Tenant, count: int) -> Tenant:
    """``count`` more practitioners in ``tenant``; returns the tenant with all of them."""
    password_hash = _password_hash()

    async def go(session: Any) -> list[uuid.UUID]:
        objects: list[Any] = []
        ids = _build_practitioners(objects, tenant, count, f"{tenant.id.hex[:8]}x", password_hash)
        await _insert(session, objects)
        return ids

    ids = asyncio.run(_with_owner_session(owner_url, go))
    return Tenant(tenant.id, tenant.location_id, tenant.service_id, tenant.practitioner_ids + ids,
                  tenant.receptionist_emails, tenant.receptionist_ids, tenant.patient_ids)  # fmt: skip


def window_slots(first_day: date, days: int) -> list[datetime]:
    """Every template slot start (UTC) over ``days`` local days from ``first_day``."""
    tz = ZoneInfo(TZ)
    out = []
    for d in range(days):
        day = first_day + timedelta(days=d)
        for start, end in SESSIONS:
            m = start.hour * 60
            while m + SLOT_MINUTES <= end.hour * 60:
                out.append(datetime.combine(day, dtime(m // 60, m % 60), tzinfo=tz).astimezone(UTC))
                m += SLOT_MINUTES
    return out


def book_share(owner_url: str, tenant: Tenant, practitioner_id: uuid.UUID, first_day: date, days: int,
               share: float) -> int:  # fmt: skip
    """Confirm a random ``share`` of the practitioner's slots in the window (ORM, as the owner)."""
    from carebase.core.ids import new_id
    from carebase.scheduling.models import Appointment

    rng = random.Random(7)  # noqa: S311 (bench data)
    starts = [s for s in window_slots(first_day, days) if rng.random() < share]

    async def go(session: Any) -> int:
        session.add_all(
            Appointment(id=new_id(), tenant_id=tenant.id, practitioner_id=practitioner_id,
                        patient_id=tenant.patient_ids[i % len(tenant.patient_ids)], service_id=tenant.service_id,
                        location_id=tenant.location_id, starts_at=s, ends_at=s + timedelta(minutes=SLOT_MINUTES),
                        status="confirmed", source="front_desk", booked_by_user_id=tenant.receptionist_ids[0],
                        mode="in_person", price_minor=PRICE_MINOR, currency="INR", payment_status="at_desk")
            for i, s in enumerate(starts)
        )  # fmt: skip
        await session.flush()
        return len(starts)

    return int(asyncio.run(_with_owner_session(owner_url, go)))


# ---------------------------------------------------------------------------------------------
# 1,000,000 appointments by COPY

APPT_COLUMNS = ["id", "tenant_id", "practitioner_id", "patient_id", "service_id", "location_id", "starts_at",
                "ends_at", "status", "source", "booked_by_user_id", "mode", "price_minor", "currency",
                "payment_status", "created_at", "updated_at"]  # fmt: skip


def _bulk_rows(tenants: list[Tenant], total: int, keep_free: tuple[date, date]) -> Iterator[tuple[Any, ...]]:
    """``total`` appointments spread evenly over every practitioner of ``tenants``, on a two-year grid of
    template slots (640 days back, 90 ahead) that skips the local dates in ``keep_free``: distinct
    15-minute slots per practitioner, so the exclusion constraint holds. Past: completed 72%, cancelled 20%,
    no-show 8%; future: confirmed 80%, cancelled 20%."""
    today = _today()
    days = [today + timedelta(days=d) for d in range(-640, 90) if not keep_free[0] <= today + timedelta(days=d)
            <= keep_free[1]]  # fmt: skip
    grid: list[datetime] = []
    for day in days:
        grid += window_slots(day, 1)
    pracs = [(t, p) for t in tenants for p in t.practitioner_ids]
    per = -(-total // len(pracs))
    stride = max(1, len(grid) // per)
    if per * stride > len(grid):
        raise ValueError(f"{per} appointments per practitioner do not fit {len(grid)} slots")
    now = datetime.now(UTC)
    base = uuid.UUID(bytes=__import__("uuid6").uuid7().bytes).int & ~0xFFFFFFFF
    rng = random.Random(11)  # noqa: S311
    dur = timedelta(minutes=SLOT_MINUTES)
    n = 0
    for j in range(per):
        for k, (t, p) in enumerate(pracs):
            if n >= total:
                return
            start = grid[j * stride + k % stride]
            r = rng.random()
            if start < now:
                status = "completed" if r < 0.72 else "cancelled" if r < 0.92 else "no_show"
            else:
                status = "confirmed" if r < 0.8 else "cancelled"
            created = start - timedelta(days=3)
            yield (uuid.UUID(int=base + n), t.id, p, t.patient_ids[n % len(t.patient_ids)], t.service_id,
                   t.location_id, start, start + dur, status, "front_desk", t.receptionist_ids[0], "in_person",
                   PRICE_MINOR, "INR", "at_desk", created, created)  # fmt: skip
            n += 1


async def _copy(owner_url: str, rows: Iterator[tuple[Any, ...]], deadline: float, chunk: int = 20_000,
                workers: int = 2) -> int:  # fmt: skip
    import asyncpg

    done = 0

    async def worker() -> None:
        nonlocal done
        conn = await asyncpg.connect(owner_url)
        try:
            # Foreign keys are not checked during this load (RI triggers off: the rows are generated
            # consistent); indexes and the no_double_booking exclusion constraint still apply.
            await conn.execute("SET session_replication_role = replica")
            while time.perf_counter() < deadline:
                batch = [r for _, r in zip(range(chunk), rows, strict=False)]
                if not batch:
                    return
                await conn.copy_records_to_table("appointments", records=batch, columns=APPT_COLUMNS)
                done += len(batch)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done


def bulk_load(db: BenchDatabase, tenant0: Tenant, total: int, timeout: float, keep_free: tuple[date, date]) -> dict:
    """Add 19 tenants (25 practitioners each) plus 24 practitioners in ``tenant0`` (whose first practitioner
    is the measured one): 500 practitioners in 20 tenants, then COPY ``total`` appointments over them."""
    t0 = time.perf_counter()
    more = create_tenants(db.owner_url, [{"practitioners": 25, "receptionists": 1, "patients": 200}] * 19,
                          first_index=1)  # fmt: skip
    t0_all = add_practitioners(db.owner_url, tenant0, 24)
    tenants = [t0_all, *more]
    setup_s = time.perf_counter() - t0
    log(f"  bulk: {len(tenants)} tenants, {sum(len(t.practitioner_ids) for t in tenants)} practitioners set up"
        f" in {setup_s:.1f} s; COPY {total:,} appointments (2 connections, stop after {timeout:g} s)")  # fmt: skip
    t1 = time.perf_counter()
    rows = _bulk_rows(tenants, total, keep_free)
    loaded = asyncio.run(_copy(db.owner_url, rows, deadline=t1 + timeout))
    copy_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    counts = asyncio.run(_analyze(db.owner_url, tenant0.practitioner_ids[0]))
    analyze_s = time.perf_counter() - t2
    rate = loaded / copy_s if copy_s else 0.0
    out = {
        "requested": total, "loaded": loaded, "complete": loaded >= total, "tenants": len(tenants),
        "practitioners": sum(len(t.practitioner_ids) for t in tenants), "setup_seconds": round(setup_s, 1),
        "copy_seconds": round(copy_s, 1), "rows_per_second": round(rate), "analyze_seconds": round(analyze_s, 1),
        "extrapolated_copy_seconds_for_requested": round(total / rate, 1) if rate else None,
        "fk_checks_during_copy": False, **counts,
    }  # fmt: skip
    log(f"  bulk: {loaded:,} rows in {copy_s:.1f} s ({rate:,.0f} rows/s), VACUUM (ANALYZE) {analyze_s:.1f} s;"
        f" table {counts['appointments_total']:,} rows ({counts['appointments_size']}), measured practitioner has"
        f" {counts['measured_practitioner_rows']:,} rows")  # fmt: skip
    if loaded < total:
        log(f"  bulk: NOT COMPLETE ({loaded:,} of {total:,}); at this rate the full load takes"
            f" ~{out['extrapolated_copy_seconds_for_requested']} s")  # fmt: skip
    return out


async def _analyze(owner_url: str, measured: uuid.UUID) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute("VACUUM (ANALYZE)")  # what autovacuum does soon after a bulk load (off on the CI server)
        await conn.execute("CHECKPOINT")  # the load's writes flushed now, not while the next figures are taken
        return {
            "appointments_total": await conn.fetchval("SELECT count(*) FROM appointments"),
            "appointments_active": await conn.fetchval(
                "SELECT count(*) FROM appointments WHERE status = ANY($1::text[])", list(ACTIVE)),
            "appointments_size": await conn.fetchval(
                "SELECT pg_size_pretty(pg_total_relation_size('appointments'))"),
            "measured_practitioner_rows": await conn.fetchval(
                "SELECT count(*) FROM appointments WHERE practitioner_id = $1", measured),
        }  # fmt: skip
    finally:
        await conn.close()


async def explain_busy(app_dsn: str, tenant_id: uuid.UUID, practitioner_id: uuid.UUID, first_day: date) -> str:
    """EXPLAIN ANALYZE of the availability query's appointment part, as the app role in the tenant."""
    import asyncpg

    ws = datetime.combine(first_day - timedelta(days=1), dtime(), tzinfo=UTC)
    we = datetime.combine(first_day + timedelta(days=8), dtime(), tzinfo=UTC)
    conn = await asyncpg.connect(app_dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL app.tenant_id = '{tenant_id}'")
            rows = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT a.starts_at, a.ends_at FROM appointments a"
                " WHERE a.practitioner_id = $1 AND a.starts_at < $3 AND a.ends_at > $2"
                " AND a.status IN ('held', 'requested', 'confirmed', 'checked_in', 'in_consultation')"
                " AND NOT (a.status = 'held' AND a.hold_expires_at < now())", practitioner_id, ws, we)  # fmt: skip
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


async def _breakdown(app_dsn: str, tenant_id: uuid.UUID, practitioner_id: uuid.UUID, service_id: uuid.UUID,
                     first_day: date, n: int = 50) -> dict[str, Any]:  # fmt: skip
    """Median in-process cost (this process, app role, tenant context) of the three parts of one
    availability request: the load SQL round trip, ``availability_on`` (SQL + slot computation), and
    the response (``availability_response``: JSON)."""
    import asyncpg

    from carebase.scheduling import availability as av
    from carebase.scheduling.api_availability import availability_response

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
                await conn.fetchrow(av._LOAD_SQL, practitioner_id, service_id, first_day, last_day, ws, we)
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


def _login(port: int, email: str) -> dict[str, Any]:
    from bench.run import login_token

    return login_token(port, email, PASSWORD)


def _availability_path(practitioner_id: uuid.UUID, service_id: uuid.UUID, first_day: date, days: int = 7) -> str:
    return f"/api/v1/practitioners/{practitioner_id}/availability?service_id={service_id}&from={first_day}&days={days}"


def bench_availability(args: argparse.Namespace, server: Server, db: BenchDatabase) -> dict[str, Any]:
    import jwt

    from bench.run import http_json

    tenant = create_tenants(db.owner_url, [{"practitioners": 1, "receptionists": 1, "patients": 50}])[0]
    prac = tenant.practitioner_ids[0]
    first_day = _today() + timedelta(days=1)
    booked = book_share(db.owner_url, tenant, prac, first_day, 7, args.booked_share)
    total_slots = len(window_slots(first_day, 7))
    tokens = _login(server.port, tenant.receptionist_emails[0])
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
            tokens = _login(server.port, tenant.receptionist_emails[0])
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
# Profiles (py-spy on our server while a load runs)

MARKERS = {
    "availability(): load + compute": "availability (carebase/scheduling/availability.py",
    "compute_slots (pure Python)": "compute_slots (",
    "availability_read (response objects)": "availability_read (",
    "the availability SQL (asyncpg fetchrow)": "fetchrow (asyncpg",
    "place_hold": "place_hold (",
    "is_free (availability over 3 days)": "is_free (",
    "insert_exclusive (savepoint + INSERT)": "insert_exclusive (",
    "expire_stale_holds": "expire_stale_holds (",
    "confirm": "confirm (carebase/scheduling/booking.py",
    "audit.record": "record (carebase/audit/service.py",
    "outbox emit": "emit (carebase/core/outbox.py",
    "JWT verify": "verify_access_token (",
    "principal lookup": "load_principal (",
    "BEGIN (asyncpg Transaction.start)": "Transaction.start (",
    "COMMIT (asyncpg Transaction.__commit)": "Transaction.__commit (",
    "FastAPI response serialisation": "serialize_response (",
    "pydantic": "pydantic/",
    "zoneinfo / datetime": "astimezone",
}


def _profile(server: Server, seconds: int, run_load: Callable[[], Any], name: str, delay: float = 0.3) -> dict:
    """py-spy on the server for ``seconds``, starting ``delay`` s after ``run_load`` (in a thread) started."""
    import threading

    from bench import profile as prof
    from bench.run import RESULTS

    spy = prof.py_spy()
    if spy is None:
        return {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{name}.collapsed")
    cmd = [spy, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "250", "--format", "raw",
           "--nonblocking", "-o", str(out)]  # fmt: skip
    load = threading.Thread(target=run_load)
    load.start()
    time.sleep(delay)
    spy_proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)  # noqa: S603
    load.join()
    err = spy_proc.stderr
    if spy_proc.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed ({spy_proc.returncode}): {err[-500:]}"}
    total = 0
    libs: collections.Counter[str] = collections.Counter()
    marks: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        libs[prof._library(stack.split(";")[-1])] += n
        for key, needle in MARKERS.items():
            if needle in stack:
                marks[key] += n
    pct = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {"samples": total, "collapsed_stacks": str(out),
            "by_library_pct": {k: pct(v) for k, v in libs.most_common(12)},
            "markers_pct": {k: pct(marks[k]) for k in MARKERS if marks[k]}}  # fmt: skip


def profile_get(args: argparse.Namespace, server: Server, path: str, auth: dict[str, str], name: str) -> dict:
    seconds = max(3, int(args.duration))
    spec = loadgen.Spec(HOST, server.port, path, headers=auth, concurrency=args.concurrency, duration=seconds + 2,
                        warmup=0, server_pids=[server.pid])  # fmt: skip
    log(f"  profiling {name} with py-spy for {seconds} s")
    return _profile(server, seconds, lambda: loadgen.run(spec, args.generator), name)


# ---------------------------------------------------------------------------------------------
# Booking: hold + confirm, and contention


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
    tokens = {e: _login(server.port, e)["access_token"] for t in tenants for e in t.receptionist_emails}
    log(f"  {len(tokens)} receptionists signed in in {time.perf_counter() - t0:.1f} s; {n} clients on {n}"
        f" practitioners in {nt} tenant(s), one more practitioner for contention")  # fmt: skip
    first_day = _today() + timedelta(days=1)

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
        out["paced"] = _paced(server, spec, args.booking_rate)
    if args.profile:
        seconds = max(3, int(args.duration))
        pspec = {**spec, "duration": seconds + 1, "warmup": args.warmup + 1}
        log(f"  profiling hold + confirm with py-spy for {seconds} s")
        out["profile"] = _profile(server, seconds, lambda: _client_process("throughput", pspec, timeout=240),
                                  "booking", delay=float(args.warmup) + 1)  # fmt: skip
    # Contention: everyone on the first free slots of one practitioner.
    contested = tenant.practitioner_ids[per]
    cspec = {**base, "clients": [client(tenant, j, contested) for j in range(n)],
             "slots": args.contention_slots, "attempts": args.contention_attempts, "time_limit": 240}  # fmt: skip
    log(f"  contention: {n} clients, {args.contention_slots} slots of one practitioner,"
        f" {args.contention_attempts} hold attempts")  # fmt: skip
    con = _client_process("contention", cspec, timeout=300)
    con["db"] = asyncio.run(_check_db(db.owner_url, contested, con["slot_starts"]))
    log(f"  {con['attempts']} attempts in {con['seconds']:.1f} s ({con['attempts_per_s']:.0f}/s): {con['successes']}"
        f" holds, 409s {con['conflicts']}, other {con['other'] or 0}; hold p95 {con['latency']['p95_ms']} ms;"
        f" database: double bookings {con['db']['double_bookings']}, active per contested slot"
        f" {con['db']['active_per_slot_min']}-{con['db']['active_per_slot_max']}")  # fmt: skip
    out["contention"] = con
    return out


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
                lines += _profile_lines(prof, f"availability ({phase})")
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
        lines.append(f"  server CPU per booking (hold + confirm) {ms:.1f} ms: one worker tops out near"
                     f" {1000 / ms if ms else float('nan'):.0f} bookings/s with a whole core to itself")  # fmt: skip
        lines.append(f"  srv CPU {t['server_cpu_pct']}%  client CPU {t['client_cpu_pct']}%  pg CPU"
                     f" {t['postgres_cpu_pct']}%  machine {t['machine_busy_pct']}%")  # fmt: skip
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
            lines += _profile_lines(bk["profile"], "hold + confirm")
    return lines


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


def _cpu_ms(t: dict[str, Any]) -> float:
    """Server CPU milliseconds per 2xx response: what a request costs, whatever else the machine runs."""
    return (t["server_cpu_pct"] or 0) * 10 / t["rps"] if t["rps"] else float("nan")


def _profile_lines(prof: dict[str, Any], what: str) -> list[str]:
    if "error" in prof:
        return [f"  profile of {what}: {prof['error']}"]
    out = [
        f"  py-spy profile of {what} ({prof['samples']} samples; {prof['collapsed_stacks']}):",
        "    self time by library: " + ", ".join(f"{k} {v}%" for k, v in list(prof["by_library_pct"].items())[:10]),
    ]
    out += [f"    {v:5.1f}%  {k}" for k, v in prof["markers_pct"].items()]
    return out
