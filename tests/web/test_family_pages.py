"""Family members, server-rendered (/my/family): a patient lists, adds and removes the people they book
for through the dependents service, with the API's permission, audit and validation. Bad input is
shown next to its field (422) and writes nothing; another patient's family member is neither listed
nor removable."""

from __future__ import annotations

import re
import uuid

from tests.api.helpers import audit_actions, scalar
from tests.factories import Factory
from tests.web.booking_helpers import patient_user, web_patient_login
from tests.web.helpers import field_error, web_login

CHILD = {"given_name": "Meera", "family_name": "Kumar", "birth_date": "2019-05-04", "sex": "female",
         "relationship": "child", "consent_note": "I am her mother"}  # fmt: skip


def _tok(client) -> str:  # type: ignore[no-untyped-def]
    return client.cookies["cb_csrf"]


def _members(html: str) -> list[str]:
    return re.findall(r'id="member-([0-9a-f-]+)"', html)


async def _links(owner, guardian_id: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    return int(await scalar(owner, "SELECT count(*) FROM dependents WHERE guardian_user_id = :g", g=guardian_id))


async def _patients(owner, tenant_id: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    return int(await scalar(owner, "SELECT count(*) FROM patients WHERE tenant_id = :t", t=tenant_id))


async def test_patient_adds_lists_and_removes_a_family_member(client, factory: Factory, owner_sessionmaker, mailbox):
    tenant = await factory.tenant(kind="clinic")
    user, _ = await patient_user(factory, tenant)
    await web_patient_login(client, mailbox, user)

    home = await client.get("/")
    assert 'href="/my/family"' in home.text and "Manage family members" in home.text
    empty = await client.get("/my/family")
    assert empty.status_code == 200 and "No family members yet" in empty.text and _members(empty.text) == []
    assert 'aria-current="page">Family</a>' in empty.text

    added = await client.post("/my/family", data=CHILD | {"csrf_token": _tok(client)})
    assert added.status_code == 303 and added.headers["location"] == "/my/family"
    page = await client.get("/my/family")
    assert page.status_code == 200 and "Meera Kumar" in page.text and "Child" in page.text
    assert "Your family member is added" in page.text
    (member,) = _members(page.text)
    assert await scalar(owner_sessionmaker, "SELECT user_id FROM patients WHERE id = :p", p=member) is None
    assert await scalar(owner_sessionmaker, "SELECT relationship FROM dependents WHERE patient_id = :p",
                        p=member) == "child"  # fmt: skip
    actions = [e["action"] for e in await audit_actions(owner_sessionmaker, tenant.id, patient_id=uuid.UUID(member))]
    assert actions[:2] == ["patients.record.created", "scheduling.dependent.linked"]
    # The confirmation is shown once.
    assert "Your family member is added" not in (await client.get("/my/family")).text

    removed = await client.post(f"/my/family/{member}/remove", data={"csrf_token": _tok(client)})
    assert removed.status_code == 303 and removed.headers["location"] == "/my/family"
    after = await client.get("/my/family")
    assert _members(after.text) == [] and "They are removed from your account" in after.text
    assert await _links(owner_sessionmaker, user.id) == 0
    # Unlinking keeps the registration: it is the clinic's record.
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM patients WHERE id = :p", p=member) == 1
    actions = [e["action"] for e in await audit_actions(owner_sessionmaker, tenant.id, patient_id=uuid.UUID(member))]
    assert actions[-1] == "scheduling.dependent.unlinked"


async def test_bad_input_is_shown_next_to_its_field_and_writes_nothing(client, factory: Factory, owner_sessionmaker,
                                                                       mailbox):  # fmt: skip
    tenant = await factory.tenant(kind="clinic")
    user, _ = await patient_user(factory, tenant)
    await web_patient_login(client, mailbox, user)
    patients_before = await _patients(owner_sessionmaker, tenant.id)

    bad = await client.post("/my/family", data={
        "given_name": "", "family_name": "Kumar", "birth_date": "2999-01-01", "sex": "female",
        "relationship": "cousin", "consent_note": "", "csrf_token": _tok(client)})  # fmt: skip
    assert bad.status_code == 422
    assert field_error(bad.text, "given_name") == "This field is required."
    assert field_error(bad.text, "birth_date")
    assert field_error(bad.text, "relationship") == "Choose one of the options."
    assert field_error(bad.text, "consent_note") == "This field is required."
    assert field_error(bad.text, "family_name") is None
    assert 'value="Kumar"' in bad.text and 'value="2999-01-01"' in bad.text  # what was typed is kept
    assert re.search(r'<option value="female" selected>', bad.text)
    assert re.search(r'id="f-given_name"[^>]* autofocus="autofocus"', bad.text)  # the first error takes the focus
    assert bad.text.count('autofocus="autofocus"') == 1

    not_a_date = await client.post("/my/family", data=CHILD | {"birth_date": "yesterday", "csrf_token": _tok(client)})
    assert not_a_date.status_code == 422 and field_error(not_a_date.text, "birth_date")

    forged = await client.post("/my/family", data=CHILD | {"csrf_token": "forged" * 8})
    assert forged.status_code == 403

    assert await _links(owner_sessionmaker, user.id) == 0
    assert await _patients(owner_sessionmaker, tenant.id) == patients_before

    # The date of birth may be left out (as in the API); the rest is enough.
    ok = await client.post("/my/family", data=CHILD | {"birth_date": "", "csrf_token": _tok(client)})
    assert ok.status_code == 303
    assert await _links(owner_sessionmaker, user.id) == 1


async def test_a_patient_cannot_see_or_remove_another_patients_family_member(client, factory: Factory,
                                                                            owner_sessionmaker, mailbox):  # fmt: skip
    tenant = await factory.tenant(kind="clinic")
    asha, _ = await patient_user(factory, tenant, given="Asha", family="Kumar")
    ravi, _ = await patient_user(factory, tenant, given="Ravi", family="Shah")
    await web_patient_login(client, mailbox, asha)
    assert (await client.post("/my/family", data=CHILD | {"csrf_token": _tok(client)})).status_code == 303
    (member,) = _members((await client.get("/my/family")).text)

    client.cookies.clear()
    await web_patient_login(client, mailbox, ravi)
    theirs = await client.get("/my/family")
    assert theirs.status_code == 200 and "Meera" not in theirs.text and _members(theirs.text) == []
    refused = await client.post(f"/my/family/{member}/remove", data={"csrf_token": _tok(client)})
    assert refused.status_code == 404
    assert await _links(owner_sessionmaker, asha.id) == 1
    assert (await client.post("/my/family/not-an-id/remove", data={"csrf_token": _tok(client)})).status_code == 404


async def test_staff_are_refused_and_the_refusal_is_audited(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist")
    await web_login(client, desk)
    assert 'href="/my/family"' not in (await client.get("/")).text
    assert (await client.get("/my/family")).status_code == 403
    denied = await audit_actions(owner_sessionmaker, tenant.id, actor_user_id=desk.id, action="access.denied")
    assert denied and denied[-1]["details"]["path"] == "/my/family"


async def test_signed_out_visitors_are_sent_to_the_patient_sign_in(client):
    r = await client.get("/my/family")
    assert r.status_code == 303 and r.headers["location"].startswith("/patient-login?next=/my/family")
