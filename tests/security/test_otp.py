"""Patient sign-in with one-time codes: by email through a real SMTP server, by phone (stored,
sent by a channel this issue does not ship), expiry, single use, the 5-try lock, and the same
answer for unknown destinations."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from sqlalchemy import text

from carebase.core.crypto import keyed_hash
from tests.api.helpers import assert_problem, bearer, field_errors, scalar
from tests.factories import Factory, UserInfo
from tests.smtp import Mailbox


def random_mobile() -> str:
    while True:
        number = f"+919{random.randint(100000000, 999999999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


@pytest.fixture
async def patient(factory: Factory) -> UserInfo:
    tenant = await factory.tenant()
    user = await factory.user(tenant, "patient", password=None)
    await factory.patient(tenant, user=user, given="Meera")
    return user


async def request_code(client, mailbox: Mailbox, email: str) -> str:  # type: ignore[no-untyped-def]
    before = len(mailbox.to(email))
    r = await client.post("/api/v1/auth/otp/request", json={"destination": email})
    assert r.status_code == 202, r.text
    return Mailbox.code(await mailbox.wait_for(email, after=before))


async def verify(client, destination: str, code: str):  # type: ignore[no-untyped-def]
    return await client.post("/api/v1/auth/otp/verify", json={"destination": destination, "code": code})


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_patient_signs_in_with_a_code_sent_by_email(client, mailbox, patient):
    code = await request_code(client, mailbox, patient.email.upper())  # case does not matter
    r = await verify(client, patient.email, code)
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["role"] == "patient" and tokens["mfa_enrolment_required"] is False
    records = await client.get("/api/v1/my/patient-records", headers=bearer(tokens))
    assert [p["given_name"] for p in records.json()] == ["Meera"]
    message = mailbox.to(patient.email)[-1]
    assert code in message["Subject"] and "10 minutes" in Mailbox.text(message)


async def test_a_code_for_a_phone_is_accepted_and_stored(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    phone = random_mobile()
    user = await factory.user(tenant, "patient", password=None, email="", phone=phone)
    national = phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)
    r = await client.post("/api/v1/auth/otp/request", json={"destination": national})
    assert r.status_code == 202, r.text
    row_user = await scalar(
        owner_sessionmaker,
        "SELECT user_id FROM one_time_codes WHERE purpose = 'login' AND destination_hash = :h AND consumed_at IS NULL",
        h=keyed_hash("destination", phone),
    )
    assert row_user == user.id
    # A wrong code for the phone is refused like any other.
    assert_problem(await verify(client, phone, "000000"), 401)


async def test_an_expired_code_is_refused(client, mailbox, patient, owner_sessionmaker):
    code = await request_code(client, mailbox, patient.email)
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(
            text("UPDATE one_time_codes SET expires_at = now() - interval '1 second' WHERE user_id = :u"),
            {"u": patient.id},
        )
    body = assert_problem(await verify(client, patient.email, code), 401)
    assert "expired" in body["detail"]


async def test_a_code_works_once(client, mailbox, patient):
    code = await request_code(client, mailbox, patient.email)
    assert (await verify(client, patient.email, code)).status_code == 200
    assert_problem(await verify(client, patient.email, code), 401)


async def test_a_new_code_replaces_the_old_one(client, mailbox, patient):
    first = await request_code(client, mailbox, patient.email)
    second = await request_code(client, mailbox, patient.email)
    if first != second:
        assert_problem(await verify(client, patient.email, first), 401)
    assert (await verify(client, patient.email, second)).status_code == 200


async def test_five_wrong_tries_lock_the_code(client, mailbox, patient, owner_sessionmaker):
    code = await request_code(client, mailbox, patient.email)
    for _ in range(5):
        assert_problem(await verify(client, patient.email, other_code(code)), 401)
    body = assert_problem(await verify(client, patient.email, code), 401)
    assert "access_token" not in body
    failures = await scalar(
        owner_sessionmaker,
        "SELECT count(*) FROM audit_events WHERE actor_user_id = :u AND action = 'auth.login.failed'",
        u=patient.id,
    )
    assert failures == 5
    # A fresh code works again.
    assert (await verify(client, patient.email, await request_code(client, mailbox, patient.email))).status_code == 200


async def test_unknown_destinations_get_the_same_answer(client, mailbox, patient):
    known = await client.post("/api/v1/auth/otp/request", json={"destination": patient.email})
    unknown = await client.post("/api/v1/auth/otp/request", json={"destination": "nobody-here@example.org"})
    unknown_phone = await client.post("/api/v1/auth/otp/request", json={"destination": random_mobile()})
    assert known.status_code == unknown.status_code == unknown_phone.status_code == 202
    assert known.json() == unknown.json() == unknown_phone.json()
    # Wrong code for a known destination and any code for an unknown one: the same refusal.
    wrong = await verify(client, patient.email, "000000")
    nobody = await verify(client, "nobody-here@example.org", "000000")
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    await mailbox.wait_for(patient.email)
    assert mailbox.to("nobody-here@example.org") == []


async def test_staff_cannot_sign_in_with_a_code(client, mailbox, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    r = await client.post("/api/v1/auth/otp/request", json={"destination": doctor.email})
    assert r.status_code == 202
    assert_problem(await verify(client, doctor.email, "123456"), 401)
    assert mailbox.to(doctor.email) == []


@pytest.mark.parametrize("destination", ["not-an-email@", "@example.org", "12", "+1 555", "98765 4321x", "a b@c.de"])
async def test_an_invalid_destination_is_a_field_error(client, destination):
    for url, body in [
        ("/api/v1/auth/otp/request", {"destination": destination}),
        ("/api/v1/auth/otp/verify", {"destination": destination, "code": "123456"}),
    ]:
        errors = field_errors(assert_problem(await client.post(url, json=body), 422))
        assert "destination" in errors, errors


async def test_a_malformed_code_is_a_field_error(client, patient):
    for code in ("12345", "1234567", "abcdef"):
        assert "code" in field_errors(assert_problem(await verify(client, patient.email, code), 422))


async def test_code_requests_are_rate_limited_per_destination(client, patient):
    for _ in range(5):
        assert (await client.post("/api/v1/auth/otp/request", json={"destination": patient.email})).status_code == 202
    r = await client.post("/api/v1/auth/otp/request", json={"destination": patient.email})
    assert_problem(r, 429)
    assert int(r.headers["retry-after"]) > 0
