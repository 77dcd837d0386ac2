"""Someone new picks a doctor of clinic X and registers there with a one-time code: the account, the
membership and the record are made in X only, audited in X, and the answer signs them in. Bad input
and wrong or expired codes create nothing; the code request answers alike for known and unknown
destinations and shares the sign-in codes' limits."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import phonenumbers
from sqlalchemy import text

from carebase.core.crypto import keyed_hash
from tests.api.helpers import assert_problem, audit_actions, bearer, field_errors, scalar
from tests.factories import Factory
from tests.patients.market import home_patient, listed_clinic, memberships_of, records_of
from tests.security.test_otp import random_mobile
from tests.smtp import Mailbox

ABOUT = {"given_name": "Ravi", "family_name": "Shah", "birth_date": "1985-11-02", "sex": "male"}


def new_email() -> str:
    return f"ravi-{uuid.uuid4().hex[:8]}@patients.example"


async def ask_code(client, mailbox: Mailbox, organization_id, email: str) -> str:  # type: ignore[no-untyped-def]
    before = len(mailbox.to(email))
    r = await client.post("/api/v1/marketplace/registrations/code",
                          json={"organization_id": str(organization_id), "destination": email})  # fmt: skip
    assert r.status_code == 202, r.text
    return Mailbox.code(await mailbox.wait_for(email, after=before))


async def register(client, organization_id, destination: str, code: str, **about):  # type: ignore[no-untyped-def]
    body = {"organization_id": str(organization_id), "destination": destination, "code": code} | ABOUT | about
    return await client.post("/api/v1/marketplace/registrations", json=body)


async def users_with(owner, value: str) -> int:  # type: ignore[no-untyped-def]
    return int(await scalar(owner, "SELECT count(*) FROM users WHERE lower(email) = :v OR phone = :v", v=value))


async def test_someone_new_registers_by_email_and_is_signed_in(client, factory: Factory, owner_sessionmaker, mailbox):
    x = await listed_clinic(factory, owner_sessionmaker)
    email = new_email()
    code = await ask_code(client, mailbox, x.tenant.id, email)
    r = await register(client, x.tenant.id, email.upper(), code)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] is True and body["tokens"]["tenant_id"] == str(x.tenant.id)
    assert body["patient"]["email"] == email and body["patient"]["given_name"] == "Ravi"
    actions = [a["action"] for a in await audit_actions(owner_sessionmaker, x.tenant.id)]
    assert actions[-3:] == ["auth.login.succeeded", "patients.record.created", "patients.clinic.registered"]

    tokens = body["tokens"]
    me = (await client.get("/api/v1/me", headers=bearer(tokens))).json()
    assert (me["role"], me["full_name"], me["email"]) == ("patient", "Ravi Shah", email)
    assert [m["tenant_id"] for m in me["memberships"]] == [str(x.tenant.id)]
    records = await records_of(owner_sessionmaker, uuid.UUID(me["id"]))
    assert [(r["tenant_id"], r["birth_date"], r["sex"]) for r in records] == [(x.tenant.id, date(1985, 11, 2), "male")]
    # From now on the ordinary sign-in knows them.
    before = len(mailbox.to(email))
    await client.post("/api/v1/auth/otp/request", json={"destination": email})
    again = Mailbox.code(await mailbox.wait_for(email, after=before))
    signed_in = await client.post("/api/v1/auth/otp/verify", json={"destination": email, "code": again})
    assert signed_in.status_code == 200 and signed_in.json()["tenant_id"] == str(x.tenant.id)
    # The code was used up: registering again with it is refused.
    assert_problem(await register(client, x.tenant.id, email, code), 401)


async def test_someone_new_registers_by_phone(client, factory: Factory, owner_sessionmaker):
    """Text messages are not sent in tests: the stored code is replaced by a known one, as the owner."""
    x = await listed_clinic(factory, owner_sessionmaker)
    phone = random_mobile()
    national = phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)
    r = await client.post("/api/v1/marketplace/registrations/code",
                          json={"organization_id": str(x.tenant.id), "destination": national})  # fmt: skip
    assert r.status_code == 202
    dest = keyed_hash("destination", phone)
    async with owner_sessionmaker() as s, s.begin():
        sql = "UPDATE one_time_codes SET code_hash = :c WHERE destination_hash = :d AND consumed_at IS NULL"
        await s.execute(text(sql), {"c": keyed_hash("otp", f"{dest}:424242"), "d": dest})
    r = await register(client, x.tenant.id, national, "424242")
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["phone"] == phone and r.json()["patient"]["email"] is None


async def test_a_patient_of_another_clinic_joins_with_the_same_account(client, factory, owner_sessionmaker, mailbox):
    x = await listed_clinic(factory, owner_sessionmaker)
    y, user, _ = await home_patient(factory, owner_sessionmaker)
    code = await ask_code(client, mailbox, x.tenant.id, user.email)
    body = (await register(client, x.tenant.id, user.email, code)).json()
    assert body["created"] is True
    assert {m["tenant_id"] for m in await memberships_of(owner_sessionmaker, user.id)} == {x.tenant.id, y.id}
    assert await users_with(owner_sessionmaker, user.email) == 1
    # Registering again is a sign-in at X: nothing new.
    code = await ask_code(client, mailbox, x.tenant.id, user.email)
    again = (await register(client, x.tenant.id, user.email, code)).json()
    assert again["created"] is False and again["patient"]["id"] == body["patient"]["id"]
    assert len(await records_of(owner_sessionmaker, user.id)) == 2


async def test_a_staff_contact_cannot_register_and_nothing_is_made(client, factory, owner_sessionmaker, mailbox):
    x = await listed_clinic(factory, owner_sessionmaker)
    doctor = await factory.user(await factory.tenant(), "doctor")
    code = await ask_code(client, mailbox, x.tenant.id, doctor.email)
    assert_problem(await register(client, x.tenant.id, doctor.email, code), 409)
    assert len(await memberships_of(owner_sessionmaker, doctor.id)) == 1


async def test_bad_input_is_refused_and_creates_nothing(client, factory: Factory, owner_sessionmaker, mailbox):
    x = await listed_clinic(factory, owner_sessionmaker)
    email = new_email()
    code = await ask_code(client, mailbox, x.tenant.id, email)
    future = (date.today() + timedelta(days=1)).isoformat()  # noqa: DTZ011
    cases = {
        "birth_date": {"birth_date": future},
        "given_name": {"given_name": ""},
        "family_name": {"family_name": "   "},
        "sex": {"sex": "robot"},
    }
    for name, change in cases.items():
        errors = field_errors(assert_problem(await register(client, x.tenant.id, email, code, **change), 422))
        assert name in errors, (name, errors)
    assert "code" in field_errors(assert_problem(await register(client, x.tenant.id, email, "12ab56"), 422))
    # A bad destination, for the code and for the registration.
    for destination in ("12345", "not-an-email@", "+91 12"):
        r = await client.post("/api/v1/marketplace/registrations/code",
                              json={"organization_id": str(x.tenant.id), "destination": destination})  # fmt: skip
        assert "destination" in field_errors(assert_problem(r, 422))
        r = await register(client, x.tenant.id, destination, code)
        assert "destination" in field_errors(assert_problem(r, 422))
    # A wrong code counts a try and makes nothing; the right one still works afterwards (tries are left).
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert_problem(await register(client, x.tenant.id, email, wrong), 401)
    assert await users_with(owner_sessionmaker, email) == 0
    assert (await register(client, x.tenant.id, email, code)).status_code == 201


async def test_expired_or_used_up_codes_and_unlisted_clinics(client, factory: Factory, owner_sessionmaker, mailbox):
    x = await listed_clinic(factory, owner_sessionmaker)
    email = new_email()
    code = await ask_code(client, mailbox, x.tenant.id, email)
    async with owner_sessionmaker() as s, s.begin():
        sql = "UPDATE one_time_codes SET expires_at = now() - interval '1 second' WHERE destination_hash = :d"
        await s.execute(text(sql), {"d": keyed_hash("destination", email)})
    body = assert_problem(await register(client, x.tenant.id, email, code), 401)
    assert "expired" in body["detail"]
    # Five wrong tries void the code: the right one is refused after them.
    code = await ask_code(client, mailbox, x.tenant.id, email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert_problem(await register(client, x.tenant.id, email, wrong), 401)
    assert "Too many tries" in assert_problem(await register(client, x.tenant.id, email, code), 401)["detail"]
    assert await users_with(owner_sessionmaker, email) == 0
    # A clinic that does not publish to the marketplace (or does not exist) cannot be registered with.
    unlisted = await factory.tenant()
    for organization_id in (unlisted.id, uuid.uuid4()):
        r = await client.post("/api/v1/marketplace/registrations/code",
                              json={"organization_id": str(organization_id), "destination": email})  # fmt: skip
        assert_problem(r, 404)
        assert_problem(await register(client, organization_id, email, code), 404)


async def test_the_code_request_answers_alike_and_shares_sign_in_limits(client, factory, owner_sessionmaker, mailbox):
    x = await listed_clinic(factory, owner_sessionmaker)
    _, known, _ = await home_patient(factory, owner_sessionmaker)
    answers = []
    for email in (known.email, new_email()):
        r = await client.post("/api/v1/marketplace/registrations/code",
                              json={"organization_id": str(x.tenant.id), "destination": email})  # fmt: skip
        answers.append((r.status_code, r.json()))
        await mailbox.wait_for(email)  # a code goes to both: the destination is what is being proven
    assert answers[0] == answers[1]
    # Sign-in and registration count together per destination (5 in 10 minutes).
    for _ in range(4):
        assert (await client.post("/api/v1/auth/otp/request", json={"destination": known.email})).status_code == 202
    r = await client.post("/api/v1/marketplace/registrations/code",
                          json={"organization_id": str(x.tenant.id), "destination": known.email})  # fmt: skip
    assert_problem(r, 429)
