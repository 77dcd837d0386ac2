"""Booking with a doctor of another clinic, server-rendered: a signed-in patient registers there from the
review page (details prefilled, errors next to the fields) and comes back to the review, now there; someone
new registers from the sign-in page with a code. Bad input re-renders the form and makes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import date, time, timedelta
from urllib.parse import parse_qsl, urlencode

import httpx

from tests.factories import Factory
from tests.patients.market import memberships_of, records_of, rows
from tests.scheduling.bookable import Bookable, make_bookable
from tests.smtp import Mailbox
from tests.web.booking_helpers import patient_user, publish, web_patient_login
from tests.web.helpers import csrf, field_error


async def _listed(factory: Factory, owner) -> Bookable:  # type: ignore[no-untyped-def]
    b = await make_bookable(factory, owner, start=time(0, 0), end=time(23, 45))
    await publish(owner, b, f"Dr. Other {b.tenant.slug[-4:]}")
    return b


async def _review_url(client: httpx.AsyncClient, b: Bookable) -> str:
    profile = await client.get(f"/doctors/{b.practitioner_id}")
    slot = re.findall(r'name="slot" value="([^"]+)"', profile.text)[0]
    return "/book?" + urlencode({"practitioner_id": b.practitioner_id, "service_id": b.service_id, "slot": slot})


def _form(url: str, **fields: str) -> dict[str, str]:
    """The review's hidden fields (the picked time) and what the patient typed."""
    return dict(parse_qsl(url.split("?", 1)[1])) | fields


async def test_a_patient_registers_with_another_clinic_from_the_review(client, factory, owner_sessionmaker, mailbox):
    x = await _listed(factory, owner_sessionmaker)
    y = await factory.tenant(kind="clinic")
    user, _ = await patient_user(factory, y, given="Asha", family="Kumar")
    await web_patient_login(client, mailbox, user)
    url = await _review_url(client, x)
    review = await client.get(url)
    assert "Register with" in review.text and 'value="Asha"' in review.text and 'value="1990-01-01"' in review.text
    token = client.cookies["cb_csrf"]

    # Bad details: the form again, with messages next to the fields, and nothing made.
    future = (date.today() + timedelta(days=3)).isoformat()  # noqa: DTZ011
    bad = await client.post("/book/join", data=_form(url, csrf_token=token, given_name="", family_name="Kumar",
                                                     birth_date=future, phone="12345", sex="female"))  # fmt: skip
    assert bad.status_code == 422
    assert field_error(bad.text, "given_name") == "This field is required."
    assert "between 1900 and today" in (field_error(bad.text, "birth_date") or "")
    assert field_error(bad.text, "phone")
    assert 'value="12345"' in bad.text  # what was typed is kept
    assert len(await memberships_of(owner_sessionmaker, user.id)) == 1

    ok = await client.post("/book/join", data=_form(url, csrf_token=token, given_name="Asha", family_name="Kumar",
                                                    birth_date="1990-01-01", sex="female"))  # fmt: skip
    assert ok.status_code == 303 and ok.headers["location"] == url
    back = await client.get(url)
    assert "Hold this time" in back.text and "Me (Asha Kumar)" in back.text
    assert {r["tenant_id"] for r in await records_of(owner_sessionmaker, user.id)} == {x.tenant.id, y.id}

    # Back at Y, the same doctor offers a one-click continue: the membership at X is reused.
    sql = "SELECT id FROM memberships WHERE user_id = :u AND tenant_id = :t"
    y_membership = (await rows(owner_sessionmaker, sql, u=user.id, t=y.id))[0]["id"]
    await client.post("/switch", data={"membership_id": str(y_membership), "csrf_token": token})
    again = await client.get(url)
    assert "Continue with" in again.text
    cont = await client.post("/book/join", data=_form(url, csrf_token=token, existing="1"))
    assert cont.status_code == 303 and "Hold this time" in (await client.get(url)).text
    assert len(await memberships_of(owner_sessionmaker, user.id)) == 2


async def test_someone_new_registers_from_the_sign_in_page(client, factory: Factory, owner_sessionmaker, mailbox):
    x = await _listed(factory, owner_sessionmaker)
    url = await _review_url(client, x)
    start = await client.get(url)  # not signed in: sent to the code sign-in, which offers to register
    assert start.status_code == 303
    sign_in = await client.get(start.headers["location"])
    link = re.search(r'href="(/patient-register\?next=[^"]+)"', sign_in.text)
    assert link, "the sign-in page offers registration for a picked time"
    page = await client.get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200 and f"Register with {x.tenant.name}" in page.text
    token = await csrf(client, "/patient-login")

    bad = await client.post("/patient-register", data={"destination": "12345", "next": url, "csrf_token": token})
    assert bad.status_code == 422 and field_error(bad.text, "destination")
    email = f"new-{uuid.uuid4().hex[:8]}@patients.example"
    sent = await client.post("/patient-register", data={"destination": email, "next": url, "csrf_token": token})
    assert sent.status_code == 200 and "Your details" in sent.text
    code = Mailbox.code(await mailbox.wait_for(email))

    form = {"destination": email, "next": url, "csrf_token": token, "code": code, "given_name": "Ravi",
            "family_name": "Shah", "birth_date": "1985-11-02", "sex": "male"}  # fmt: skip
    missing = await client.post("/patient-register/complete", data=form | {"family_name": "", "birth_date": ""})
    assert missing.status_code == 422
    assert field_error(missing.text, "family_name") == "This field is required."
    assert field_error(missing.text, "birth_date") == "This field is required."
    assert 'value="Ravi"' in missing.text and code not in missing.text  # typed values kept, the code not echoed
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = await client.post("/patient-register/complete", data=form | {"code": wrong})
    assert refused.status_code == 401 and "not right" in (field_error(refused.text, "code") or "")

    done = await client.post("/patient-register/complete", data=form)
    assert done.status_code == 303 and done.headers["location"] == url
    review = await client.get(url)
    assert "Hold this time" in review.text and "Me (Ravi Shah)" in review.text
