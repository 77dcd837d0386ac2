"""Data for the availability and booking sections (bench/availability.py, bench/booking.py).

Bench tenants set up as the owner with the ORM models (organisation, location, a 15-minute service,
practitioners with weekly templates Mon-Sun 09-13 and 14-18, receptionists, patients), a share of a week's
slots booked, 1,000,000 appointments by COPY (500 practitioners, 20 tenants, two years) followed by
VACUUM (ANALYZE), EXPLAIN ANALYZE of the availability query's appointment part, and the bench accounts'
sign-in. See bench/README.md.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from bench.servers import BenchDatabase

TZ = "Asia/Kolkata"
PASSWORD = "bench-password-2026"  # noqa: S105 (throwaway bench accounts)
ACTIVE = ("held", "requested", "confirmed", "checked_in", "in_consultation")
SESSIONS = ((dtime(9), dtime(13)), (dtime(14), dtime(18)))  # every day, Mon-Sun
SLOT_MINUTES = 15
SLOTS_PER_DAY = sum((e.hour - s.hour) * 60 // SLOT_MINUTES for s, e in SESSIONS)  # 32
PRICE_MINOR = 50_000


def log(message: str) -> None:
    print(message, flush=True)


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


def local_today() -> date:
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

    valid_from = local_today() - timedelta(days=800)
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
    today = local_today()
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


# ---------------------------------------------------------------------------------------------
# Sign-in


def login(port: int, email: str) -> dict[str, Any]:
    """Tokens for a bench account (every one has PASSWORD)."""
    from bench.run import login_token

    return login_token(port, email, PASSWORD)
