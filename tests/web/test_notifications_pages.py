"""The notifications page (/account/notifications) and the bell in the page shell: the inbox with unread
highlighted and mark read (the bell's count follows), preferences per category and channel, personal quiet hours
validated inline, and the organisation's quiet hours for admins only."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from carebase.notifications.models import Notification, NotificationPreference, NotificationQuietHours
from carebase.tenancy.schemas import PolicyUpdate
from tests.factories import Factory, TenantInfo, UserInfo
from tests.web.helpers import field_error, web_login


async def _notify(factory: Factory, tenant: TenantInfo, user: UserInfo, n: int, *, read: bool = False,
                  category: str = "booking") -> list[uuid.UUID]:  # fmt: skip
    """``n`` in-app notifications for ``user``, one minute apart (the last is the newest)."""
    base = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    async with factory.owner() as s, s.begin():
        for i in range(n):
            row = Notification(
                tenant_id=tenant.id, user_id=user.id, channel="in_app", category=category, template="booking_confirmed",
                subject=f"{'Earlier visit' if read else 'Visit'} {i} confirmed",
                body=f"Your visit number {i} is confirmed.", link="/my/appointments",
                status="delivered", created_at=base + timedelta(minutes=i), read_at=base if read else None,
            )  # fmt: skip
            s.add(row)
            await s.flush()
            ids.append(row.id)
    return ids


def _bell(html: str) -> str:
    match = re.search(r'<a class="bell" id="notification-bell"[^>]*>.*?</a>', html, re.S)
    assert match, "every signed-in page has the bell"
    return match.group(0)


def _bell_count(html: str) -> int:
    bell = _bell(html)
    label = re.search(r'aria-label="Notifications, (\w+) unread"', bell)
    assert label
    badge = re.search(r"data-unread-count( hidden)?>([^<]*)<", bell)
    assert badge
    count = 0 if label.group(1) == "none" else int(label.group(1))
    assert (badge.group(1) is not None) == (count == 0)  # the badge hides at zero
    if count:
        assert badge.group(2) == str(count)
    return count


async def test_bell_shows_the_unread_count_and_mark_read_lowers_it(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    ids = await _notify(factory, tenant, doctor, 3)
    await _notify(factory, tenant, doctor, 1, read=True)
    other = await factory.user(tenant, "doctor")
    await _notify(factory, tenant, other, 2)  # someone else's: never counted or listed
    await web_login(client, doctor)
    home = await client.get("/")
    assert _bell_count(home.text) == 3
    assert 'href="/account/notifications"' in _bell(home.text)
    page = await client.get("/account/notifications")
    assert page.status_code == 200
    assert page.text.count("inbox__item--unread") == 3 and page.text.count('class="inbox__item') == 4
    # Newest first.
    assert page.text.index("Visit 2 confirmed") < page.text.index("Visit 1 confirmed") < page.text.index(
        "Visit 0 confirmed")
    # Mark one read with htmx: the item comes back read, and the bell out of band with the new count.
    r = await client.post(f"/account/notifications/{ids[0]}/read", headers={
        "HX-Request": "true", "X-CSRF-Token": client.cookies["cb_csrf"]})  # fmt: skip
    assert r.status_code == 200
    assert f'id="notification-{ids[0]}"' in r.text and "inbox__item--unread" not in r.text
    assert 'hx-swap-oob="true"' in r.text and _bell_count(r.text) == 2
    assert _bell_count((await client.get("/")).text) == 2
    # Without JavaScript: a form post and a redirect.
    r = await client.post(f"/account/notifications/{ids[1]}/read", data={"csrf_token": client.cookies["cb_csrf"]})
    assert r.status_code == 303
    assert _bell_count((await client.get("/account/notifications")).text) == 1
    # Someone else's notification is not found.
    theirs = (await _notify(factory, tenant, other, 1))[0]
    r = await client.post(f"/account/notifications/{theirs}/read", data={"csrf_token": client.cookies["cb_csrf"]})
    assert r.status_code == 404
    # Mark all read.
    r = await client.post("/account/notifications/read-all", data={"csrf_token": client.cookies["cb_csrf"]})
    assert r.status_code == 303
    page = await client.get("/account/notifications")
    assert _bell_count(page.text) == 0 and "inbox__item--unread" not in page.text
    assert "All your notifications are marked as read." in page.text


async def test_inbox_pages_with_a_cursor(client, factory: Factory):
    tenant = await factory.tenant()
    nurse = await factory.user(tenant, "nurse")
    await _notify(factory, tenant, nurse, 25)
    await web_login(client, nurse)
    first = await client.get("/account/notifications")
    assert first.text.count('class="inbox__item') == 20 and "Visit 24 confirmed" in first.text
    next_link = re.search(r'href="(/account/notifications\?cursor=[^"]+)" rel="next"', first.text)
    assert next_link
    second = await client.get(next_link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert second.text.count('class="inbox__item') == 5 and "Visit 0 confirmed" in second.text
    assert "Visit 24 confirmed" not in second.text and 'rel="next"' not in second.text
    assert (await client.get("/account/notifications", params={"cursor": "garbage"})).status_code == 200


async def test_posts_need_the_csrf_token(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    (nid,) = await _notify(factory, tenant, doctor, 1)
    await web_login(client, doctor)
    for path, data in ((f"/account/notifications/{nid}/read", {}), ("/account/notifications/read-all", {}),
                       ("/account/notifications/preferences", {"email:booking": "on"}),
                       ("/account/notifications/quiet-hours", {"quiet_start": "22:00", "quiet_end": "07:00"})):
        r = await client.post(path, data=data | {"csrf_token": "forged-" + "x" * 40})
        assert r.status_code == 403 and "This form has expired" in r.text, path
    assert _bell_count((await client.get("/")).text) == 1


async def test_signed_out_visitors_are_sent_to_sign_in(client):
    r = await client.get("/account/notifications")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/account/notifications")


async def test_preferences_are_saved_and_shown(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist")
    await web_login(client, desk)
    page = await client.get("/account/notifications")
    # Everything is on by default; security codes are shown on and cannot be changed.
    assert page.text.count('type="checkbox" name=') == 25
    assert re.search(r'name="sms:reminder" id="pref-sms-reminder" value="on"[^>]* checked', page.text)
    assert page.text.count("checked disabled") == 5 and "Security codes" in page.text
    # Submitted: everything on except SMS reminders and WhatsApp bookings (unchecked boxes are not sent).
    data = {f"{ch}:{cat}": "on" for cat in ("booking", "reminder", "waitlist", "admin", "escalation")
            for ch in ("email", "sms", "whatsapp", "push", "in_app")}  # fmt: skip
    del data["sms:reminder"], data["whatsapp:booking"]
    data["security:email"] = "off"  # not a choice: ignored
    r = await client.post("/account/notifications/preferences", data=data | {"csrf_token": client.cookies["cb_csrf"]})
    assert r.status_code == 303 and r.headers["location"] == "/account/notifications#preferences"
    page = await client.get("/account/notifications")
    assert "Your notification choices are saved." in page.text
    assert not re.search(r'name="sms:reminder" id="pref-sms-reminder" value="on"[^>]* checked', page.text)
    assert not re.search(r'name="whatsapp:booking"[^>]* checked', page.text)
    assert re.search(r'name="email:reminder"[^>]* checked', page.text)
    async with owner_sessionmaker() as s:
        rows = (await s.execute(select(NotificationPreference).where(NotificationPreference.user_id == desk.id)))
        off = {(p.channel, p.category) for p in rows.scalars() if not p.enabled}
    assert off == {("sms", "reminder"), ("whatsapp", "booking")}


QUIET = "/account/notifications/quiet-hours"


async def test_quiet_hours_are_validated_inline_and_saved(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    await web_login(client, doctor)
    token = {"csrf_token": client.cookies["cb_csrf"]}
    page = await client.get("/account/notifications")
    assert "Your organisation has no quiet hours." in page.text
    bad = await client.post(QUIET, data={"quiet_start": "25:99", "quiet_end": ""} | token)
    assert bad.status_code == 422
    assert field_error(bad.text, "quiet_start") == "Enter a time like 21:30."
    assert 'value="25:99"' in bad.text  # what was typed stays
    bad = await client.post(QUIET, data={"quiet_start": "22:00", "quiet_end": ""} | token)
    assert bad.status_code == 422 and "Enter when quiet hours end" in field_error(bad.text, "quiet_end")
    bad = await client.post("/account/notifications/quiet-hours",
                            data={"quiet_start": "22:00", "quiet_end": "22:00"} | token)  # fmt: skip
    assert bad.status_code == 422 and field_error(bad.text, "quiet_end") == "The end must differ from the start."
    ok = await client.post(QUIET, data={"quiet_start": "22:30", "quiet_end": "07:00"} | token)
    assert ok.status_code == 303
    page = await client.get("/account/notifications")
    assert 'value="22:30"' in page.text and 'value="07:00"' in page.text
    async with owner_sessionmaker() as s:
        row = (await s.execute(select(NotificationQuietHours).where(NotificationQuietHours.user_id == doctor.id)))
        saved = row.scalar_one()
    assert (saved.starts, saved.ends) == (time(22, 30), time(7, 0))
    # Both empty turns them off.
    ok = await client.post(QUIET, data={"quiet_start": "", "quiet_end": ""} | token)
    assert ok.status_code == 303
    async with owner_sessionmaker() as s:
        gone = (await s.execute(select(NotificationQuietHours).where(NotificationQuietHours.user_id == doctor.id)))
        assert gone.scalar_one_or_none() is None


async def test_organisation_quiet_hours_are_set_on_the_settings_page(client, factory: Factory):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    doctor = await factory.user(tenant, "doctor")
    await web_login(client, doctor)
    page = await client.get("/account/notifications")
    assert "/admin/settings#quiet-hours" not in page.text  # only for those who may change them
    client.cookies.clear()
    await web_login(client, admin)
    page = await client.get("/account/notifications")
    assert 'href="/admin/settings#quiet-hours"' in page.text
    assert (await client.post("/account/notifications/organisation", data={
        "csrf_token": client.cookies["cb_csrf"]})).status_code in (404, 405)  # the old second form is gone


def test_organisation_quiet_hours_must_end_at_another_time():
    """Written once, in the policy schema: the API and the settings page both refuse it."""
    with pytest.raises(ValidationError) as caught:
        PolicyUpdate(quiet_hours_start=time(21, 0), quiet_hours_end=time(21, 0))
    assert caught.value.errors()[0]["loc"] == ("quiet_hours_end",)
    assert PolicyUpdate(quiet_hours_start=time(21, 0), quiet_hours_end=time(8, 0)).quiet_hours_end == time(8, 0)


async def test_patients_have_the_page_and_the_bell(client, factory: Factory):
    tenant = await factory.tenant(kind="clinic")
    patient = await factory.user(tenant, "patient")
    await factory.patient(tenant, user=patient)
    await _notify(factory, tenant, patient, 2, category="reminder")
    await web_login(client, patient)
    page = await client.get("/my/appointments")
    assert _bell_count(page.text) == 2
    page = await client.get("/account/notifications")
    assert page.status_code == 200 and "Visit 1 confirmed" in page.text
    assert 'action="/account/notifications/organisation"' not in page.text
