"""Demo data: two tenants (a multi-specialty hospital and a small clinic), staff of every role,
20 patients, and a platform admin. Idempotent: does nothing once the demo hospital exists."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.db import driver_connection, set_context
from carebase.identity.models import Membership, User
from carebase.identity.passwords import hash_password
from carebase.patients.models import Patient
from carebase.scheduling.listing_refresh import refresh_next_free
from carebase.tenancy.models import PLATFORM_TENANT_ID, Department, Location, Organization

DEMO_PASSWORD = "care-demo-2026"  # noqa: S105 (printed on purpose: demo only)


@dataclass(frozen=True)
class DemoLogin:
    role: str
    tenant: str
    login: str
    how: str


TENANTS = [
    {
        "slug": "sunrise", "name": "Sunrise Multispeciality Hospital", "kind": "hospital", "country": "IN",
        "currency": "INR", "timezone": "Asia/Kolkata", "domain": "sunrise.example", "device_approval": True,
        "location": ("Sunrise Main Campus", "12 MG Road", "Bengaluru", "560001", 12.9756, 77.6050, "+918041234567"),
        "departments": ["Cardiology", "Dermatology", "General Medicine", "Paediatrics", "Pharmacy", "Laboratory"],
        "phone_prefix": "+9198450", "patients": 12,
    },
    {
        "slug": "riverside", "name": "Riverside Family Clinic", "kind": "clinic", "country": "GB",
        "currency": "GBP", "timezone": "Europe/London", "domain": "riverside.example", "device_approval": False,
        "location": ("Riverside Clinic", "4 Thames Walk", "London", "SE1 9PX", 51.5055, -0.0754, "+442071234567"),
        "departments": ["General Practice", "Dermatology", "Pharmacy"],
        "phone_prefix": "+4477009", "patients": 8,
    },
]  # fmt: skip

STAFF = [
    ("hospital_admin", "admin", "Asha Rao"),
    ("doctor", "doctor", "Dr. Vikram Mehta"),
    ("nurse", "nurse", "Meera Nair"),
    ("pharmacist", "pharmacist", "Rahul Iyer"),
    ("lab_staff", "lab", "Sana Khan"),
    ("receptionist", "reception", "Priya Das"),
]
UK_NAMES = {
    "admin": "Helen Carter", "doctor": "Dr. James Whitfield", "nurse": "Olivia Brooks",
    "pharmacist": "Daniel Hughes", "lab": "Chloe Patel", "reception": "Emma Walsh",
}  # fmt: skip
GIVEN = ["Aarav", "Diya", "Kabir", "Ananya", "Rohan", "Isha", "Arjun", "Kavya", "Vihaan", "Saanvi", "Aditya", "Myra",
         "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia"]  # fmt: skip
FAMILY = ["Sharma", "Verma", "Gupta", "Reddy", "Kumar", "Singh", "Joshi", "Pillai", "Bose", "Menon", "Shah", "Kapoor",
          "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts"]  # fmt: skip


async def seed_demo(session: AsyncSession) -> list[DemoLogin] | None:
    """Create the demo data in the owner's session. Returns the logins, or None if already seeded."""
    exists = (await session.execute(select(Organization.id).where(Organization.slug == "sunrise"))).first()
    if exists:
        return None
    rng = random.Random(2026)  # noqa: S311 (demo data)
    password_hash = hash_password(DEMO_PASSWORD)
    logins: list[DemoLogin] = []

    platform_admin = User(email="platform@carebase.example", full_name="Pat Platform", password_hash=password_hash)
    session.add(platform_admin)
    await session.flush()
    await set_context(session, tenant_id=PLATFORM_TENANT_ID, user_id=platform_admin.id, platform_admin=True)
    session.add(Membership(tenant_id=PLATFORM_TENANT_ID, user_id=platform_admin.id, role="platform_admin"))
    await audit.record(session, PLATFORM_TENANT_ID, "demo.seeded", details={"tenants": len(TENANTS)})
    logins.append(
        DemoLogin("platform_admin", "Carebase platform", "platform@carebase.example", "password + MFA set-up")
    )

    patient_index = 0
    for spec in TENANTS:
        org = Organization(
            name=spec["name"], slug=spec["slug"], kind=spec["kind"], country=spec["country"],
            currency=spec["currency"], timezone=spec["timezone"],
            settings={"device_approval_required": spec["device_approval"], "cancellation_cutoff_hours": 2,
                      "marketplace": True},
        )  # fmt: skip
        session.add(org)
        await session.flush()
        await set_context(session, tenant_id=org.id, user_id=None)
        name, line, city, postal, lat, lon, phone = spec["location"]
        location = Location(
            tenant_id=org.id, name=name, address_line=line, city=city, postal_code=postal, country=spec["country"],
            timezone=spec["timezone"], latitude=lat, longitude=lon, phone=phone,
        )  # fmt: skip
        session.add(location)
        await session.flush()
        departments = [Department(tenant_id=org.id, name=d, location_id=location.id) for d in spec["departments"]]
        session.add_all(departments)
        await session.flush()
        doctors: list[tuple[Membership, str]] = []
        for role, local, person in STAFF:
            full_name = person if spec["country"] == "IN" else UK_NAMES[local]
            email = f"{local}@{spec['domain']}"
            user = User(email=email, full_name=full_name, password_hash=password_hash)
            session.add(user)
            await session.flush()
            membership = Membership(tenant_id=org.id, user_id=user.id, role=role, department_id=departments[0].id)
            session.add(membership)
            if role == "doctor":
                doctors = [(membership, full_name)]
            how = "password + MFA set-up" if role == "hospital_admin" else "password"
            if spec["device_approval"] and role != "hospital_admin":
                how += " (new devices need the admin's approval)"
            logins.append(DemoLogin(role, spec["name"], email, how))
        for i in range(spec["patients"]):
            given, family = GIVEN[patient_index % len(GIVEN)], FAMILY[patient_index % len(FAMILY)]
            patient_index += 1
            phone = f"{spec['phone_prefix']}{rng.randint(10000, 99999)}"
            email = f"{given.lower()}.{family.lower()}@patients.example"
            user_id: uuid.UUID | None = None
            if i < 2:  # the first two patients of each tenant have portal accounts
                user = User(email=email, phone=phone, full_name=f"{given} {family}")
                session.add(user)
                await session.flush()
                session.add(Membership(tenant_id=org.id, user_id=user.id, role="patient"))
                user_id = user.id
                logins.append(DemoLogin("patient", spec["name"], f"{email} or {phone}", "one-time code"))
            session.add(
                Patient(
                    tenant_id=org.id, user_id=user_id, mrn=f"P{i + 1:06d}", given_name=given, family_name=family,
                    birth_date=date(rng.randint(1950, 2018), rng.randint(1, 12), rng.randint(1, 28)),
                    sex=rng.choice(["female", "male"]), phone=phone, email=email,
                )
            )  # fmt: skip
        await session.flush()
        await audit.record(session, org.id, "demo.seeded", details={"patients": spec["patients"]})
        logins += await seed_demo_directory(session, org, spec, doctors, password_hash)
    await seed_demo_schedules(session)
    await _refresh_demo_listings(session)
    return logins


async def _refresh_demo_listings(session: AsyncSession) -> None:
    """Fill in each demo listing's next free slot (the worker keeps it current from then on)."""
    conn = await driver_connection(session)
    for row in await conn.fetch("SELECT DISTINCT practitioner_id FROM directory_listings"):
        await refresh_next_free(conn, row["practitioner_id"])


# Doctors of each demo tenant: the first is the doctor of STAFF; (name, specialties, languages, qualifications).
DEMO_DOCTORS = {
    "sunrise": [
        ("Dr. Vikram Mehta", ["cardiology"], ["en", "hi", "kn"], "MBBS, MD, DM (Cardiology)"),
        ("Dr. Ananya Krishnan", ["dermatology"], ["en", "kn"], "MBBS, MD (Dermatology)"),
        ("Dr. Rahul Shetty", ["paediatrics"], ["en", "hi", "kn"], "MBBS, DCH"),
        ("Dr. Lakshmi Gowda", ["general-medicine", "endocrinology"], ["en", "kn"], "MBBS, MD (General Medicine)"),
    ],
    "riverside": [
        ("Dr. James Whitfield", ["family-medicine"], ["en"], "MBBS, MRCGP"),
        ("Dr. Sarah Collins", ["dermatology"], ["en"], "MBChB, MRCP (Dermatology)"),
        ("Dr. Tom Harris", ["general-medicine"], ["en"], "MBBS, MRCP"),
        ("Dr. Priya Shah", ["paediatrics"], ["en"], "MBBS, MRCPCH"),
    ],
}
# Services per currency: (name, minutes, mode, price in minor units).
DEMO_SERVICES = {
    "INR": [("Consultation", 15, "in_person", 60000), ("Video consultation", 15, "video", 50000),
            ("Follow-up", 10, "in_person", 30000)],
    "GBP": [("Consultation", 15, "in_person", 6000), ("Video consultation", 15, "video", 4500),
            ("Follow-up", 10, "in_person", 3000)],
}  # fmt: skip


async def seed_demo_directory(
    session: AsyncSession, org: Organization, spec: dict[str, Any], doctors: list[tuple[Membership, str]],
    password_hash: str,
) -> list[DemoLogin]:
    """Practitioner profiles (the staff doctor plus three more), services, and the public listings.
    Runs in the tenant's context; the tenant publishes to the marketplace."""
    from carebase.directory.listings import rebuild_listings
    from carebase.directory.models import Practitioner, PractitionerService, PractitionerSpecialty, Service, Specialty

    logins: list[DemoLogin] = []
    specialty_ids = {s.code: s.id for s in (await session.execute(select(Specialty))).scalars()}
    services = [
        Service(tenant_id=org.id, name=name, duration_minutes=minutes, price_minor=price, currency=org.currency,
                mode=mode)
        for name, minutes, mode, price in DEMO_SERVICES[org.currency]
    ]  # fmt: skip
    session.add_all(services)
    for n, (name, _, _, _) in enumerate(DEMO_DOCTORS[spec["slug"]][1:], start=2):
        email = f"doctor{n}@{spec['domain']}"
        user = User(email=email, full_name=name, password_hash=password_hash)
        session.add(user)
        await session.flush()
        membership = Membership(tenant_id=org.id, user_id=user.id, role="doctor")
        session.add(membership)
        doctors.append((membership, name))
        how = "password" + (" (new devices need the admin's approval)" if spec["device_approval"] else "")
        logins.append(DemoLogin("doctor", spec["name"], email, how))
    await session.flush()
    for (membership, _), (name, codes, languages, qualifications) in zip(doctors, DEMO_DOCTORS[spec["slug"]],
                                                                         strict=True):  # fmt: skip
        practitioner = Practitioner(
            tenant_id=org.id, membership_id=membership.id, display_name=name, qualifications=qualifications,
            languages=languages, bio=f"{name} sees patients at {spec['location'][0]}.",
        )  # fmt: skip
        session.add(practitioner)
        await session.flush()
        session.add_all(
            [PractitionerSpecialty(tenant_id=org.id, practitioner_id=practitioner.id, specialty_id=specialty_ids[c])
             for c in codes]
            + [PractitionerService(tenant_id=org.id, practitioner_id=practitioner.id, service_id=s.id)
               for s in services]
        )  # fmt: skip
        await session.flush()
        await rebuild_listings(session, practitioner.id, org.id)
    await audit.record(session, org.id, "demo.directory_seeded", details={"practitioners": len(doctors)})
    return logins


DEMO_SESSIONS = [(time(9, 0), time(13, 0)), (time(14, 0), time(17, 0))]
# One public holiday per demo tenant, by country: (month, day, name).
DEMO_HOLIDAYS = {"IN": (1, 26, "Republic Day"), "GB": (12, 25, "Christmas Day")}


async def seed_demo_schedules(session: AsyncSession, today: date | None = None, slugs: list[str] | None = None) -> int:
    """Weekly templates for every practitioner of each demo tenant (Mon-Fri 09:00-13:00 and
    14:00-17:00 at the tenant's first location, 15-minute slots, valid from today) and one holiday.
    Practitioners who already have a template are left alone. Returns the templates added.
    ``slugs``: which tenants (default: the demo ones)."""
    from carebase.core.outbox import emit
    from carebase.directory.models import Practitioner
    from carebase.scheduling.models import Holiday, ScheduleTemplate

    today = today or date.today()  # noqa: DTZ011 (demo data)
    added = 0
    wanted = slugs if slugs is not None else [spec["slug"] for spec in TENANTS]
    for org in (await session.execute(select(Organization).where(Organization.slug.in_(wanted)))).scalars().all():
        await set_context(session, tenant_id=org.id, user_id=None)
        location = (
            await session.execute(
                select(Location).where(Location.tenant_id == org.id).order_by(Location.created_at, Location.id).limit(1)
            )
        ).scalar_one_or_none()
        if location is None:
            continue
        practitioners = (
            await session.execute(select(Practitioner).where(Practitioner.tenant_id == org.id, Practitioner.is_active))
        ).scalars()
        existing = select(ScheduleTemplate.practitioner_id).where(ScheduleTemplate.tenant_id == org.id)
        scheduled = set((await session.execute(existing)).scalars())
        count = 0
        for practitioner in practitioners:
            if practitioner.id in scheduled:
                continue
            for weekday in range(5):
                for start, end in DEMO_SESSIONS:
                    session.add(
                        ScheduleTemplate(
                            tenant_id=org.id, practitioner_id=practitioner.id, location_id=location.id,
                            weekday=weekday, start_time=start, end_time=end, slot_minutes=15, valid_from=today,
                        )
                    )  # fmt: skip
                    count += 1
            await session.flush()
            await emit(session, org.id, "schedule.changed", {"practitioner_id": str(practitioner.id)})
        month, day, name = DEMO_HOLIDAYS.get(org.country, DEMO_HOLIDAYS["IN"])
        holiday_day = date(today.year, month, day)
        if holiday_day < today:
            holiday_day = date(today.year + 1, month, day)
        exists = await session.execute(
            select(Holiday.id).where(
                Holiday.tenant_id == org.id, Holiday.day == holiday_day, Holiday.location_id.is_(None)
            )
        )
        if exists.first() is None:
            session.add(Holiday(tenant_id=org.id, day=holiday_day, name=name))
            await session.flush()
            await emit(session, org.id, "schedule.changed", {"practitioner_id": None, "day": holiday_day.isoformat()})
        await audit.record(session, org.id, "demo.schedules_seeded", details={"templates": count})
        added += count
    return added
