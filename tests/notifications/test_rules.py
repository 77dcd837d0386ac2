"""Templates (StrictUndefined, en and hi), preferences, quiet hours in the tenant's timezone, rate limits,
and the inbox API."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from jinja2 import UndefinedError

from carebase.notifications import service
from carebase.notifications.service import Recipient, notify, quiet_until
from carebase.notifications.templates import EVENTS, LANGUAGES, SAMPLE_CONTEXT, TEXT_CHANNELS, render_files
from tests.api.helpers import bearer

CTX = SAMPLE_CONTEXT["appointment_confirmed"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", EVENTS)
def test_every_template_renders_strictly(event: str, language: str):
    for channel in TEXT_CHANNELS:
        rendered = render_files(event, channel, language, SAMPLE_CONTEXT[event])
        assert rendered.subject and rendered.text and "{{" not in rendered.text
        if channel == "email":
            assert rendered.html and "<html" in rendered.html
    with pytest.raises(UndefinedError):  # a missing variable fails here, not at send time
        render_files(event, "sms", language, {"tenant_name": "City Clinic"})


def test_quiet_hours_cross_midnight_in_the_tenant_zone():
    window = [(time(21, 0), time(8, 0))]
    # 22:30 in Kolkata (17:00 UTC) waits until 08:00 Kolkata (02:30 UTC next day).
    assert quiet_until(datetime(2026, 11, 23, 17, 0, tzinfo=UTC), "Asia/Kolkata", window) == datetime(
        2026, 11, 24, 2, 30, tzinfo=UTC)
    assert quiet_until(datetime(2026, 11, 23, 6, 0, tzinfo=UTC), "Asia/Kolkata", window) is None  # 11:30 local
    # New York across the DST change: 08:00 local is 13:00 UTC after it (EST).
    assert quiet_until(datetime(2026, 11, 1, 5, 0, tzinfo=UTC), "America/New_York", window) == datetime(
        2026, 11, 1, 13, 0, tzinfo=UTC)


async def test_preferences_quiet_hours_and_rate_limits(factory, owner_sessionmaker, settings, monkeypatch):
    tenant = await factory.tenant(tz="Asia/Kolkata")
    user = await factory.user(tenant, "patient", email="rules@example.test")
    async with owner_sessionmaker() as s, s.begin():
        await service.set_preferences(s, tenant.id, user.id, {("email", "booking"): False,
                                                               ("email", "security"): False})  # fmt: skip
        await service.set_user_quiet_hours(s, tenant.id, user.id, (time(21, 0), time(8, 0)))
    night = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 22:30 in Kolkata
    r = Recipient(user.id, user.email, None)
    async with owner_sessionmaker() as s, s.begin():
        booking = await notify(s, tenant.id, r, event="appointment_confirmed", category="booking", context=CTX,
                               channels_wanted=("email", "in_app"), now=night)  # fmt: skip
        reminder = await notify(s, tenant.id, r, event="appointment_reminder", category="reminder",
                                context=SAMPLE_CONTEXT["appointment_reminder"], channels_wanted=("email",), now=night)
        code = await notify(s, tenant.id, r, event="login_code", category="security",
                            context=SAMPLE_CONTEXT["login_code"], channels_wanted=("email",), now=night)
        urgent = await notify(s, tenant.id, r, event="appointment_reminder", category="clinical", urgent=True,
                              context=SAMPLE_CONTEXT["appointment_reminder"], channels_wanted=("email",), now=night)
    by = {n.channel: n for n in booking}
    assert by["email"].status == "suppressed" and by["email"].suppressed_reason == "preference"
    assert by["in_app"].status == "delivered"
    assert reminder[0].held_reason == "quiet_hours" and reminder[0].next_attempt_at == datetime(
        2026, 11, 24, 2, 30, tzinfo=UTC)
    assert code[0].status == "queued" and code[0].next_attempt_at == night  # security: never off, never held
    assert urgent[0].next_attempt_at == night
    monkeypatch.setattr(settings.notifications, "per_recipient", "4/3600")
    async with owner_sessionmaker() as s, s.begin():
        more = [await notify(s, tenant.id, r, event="appointment_reminder", category="reminder", now=night,
                             context=SAMPLE_CONTEXT["appointment_reminder"], channels_wanted=("email",))
                for _ in range(3)]  # fmt: skip
    statuses = [m[0].status for m in more]
    assert statuses[-1] == "suppressed" and more[-1][0].suppressed_reason == "rate_limit"
    # The tenant's limit counts every recipient's messages on the channel (suppressed ones do not count).
    sent = sum(1 for n in [*reminder, *code, *urgent, *(m[0] for m in more)] if n.status != "suppressed")
    other = Recipient(None, "walk-in@example.test", None)
    for limit, expected in ((sent + 1, "queued"), (sent + 1, "suppressed")):
        monkeypatch.setattr(settings.notifications, "per_tenant_channel", f"{limit}/3600")
        async with owner_sessionmaker() as s, s.begin():
            [theirs] = await notify(s, tenant.id, other, event="appointment_reminder", category="reminder",
                                    now=night, context=SAMPLE_CONTEXT["appointment_reminder"],
                                    channels_wanted=("email",))  # fmt: skip
        assert theirs.status == expected, limit


async def test_inbox_api(factory, owner_sessionmaker, client):
    tenant = await factory.tenant()
    user = await factory.user(tenant, "patient")
    async with owner_sessionmaker() as s, s.begin():
        for _ in range(3):
            await notify(s, tenant.id, Recipient(user.id, None, None), event="appointment_confirmed",
                         category="booking", context=CTX, channels_wanted=("in_app",))  # fmt: skip
    headers = bearer(await factory.login(user))
    r = await client.get("/api/v1/my/notifications/unread-count", headers=headers)
    assert r.json() == {"unread": 3}
    page = await client.get("/api/v1/my/notifications?limit=2", headers=headers)
    assert len(page.json()["items"]) == 2 and page.json()["next_cursor"]
    rest = await client.get("/api/v1/my/notifications", params={"cursor": page.json()["next_cursor"]},
                            headers=headers)  # fmt: skip
    assert len(rest.json()["items"]) == 1
    first = page.json()["items"][0]["id"]
    assert (await client.post(f"/api/v1/my/notifications/{first}/read", headers=headers)).json()["read_at"]
    assert (await client.get("/api/v1/my/notifications/unread-count", headers=headers)).json() == {"unread": 2}
    prefs = await client.put("/api/v1/my/notification-preferences", headers=headers, json={
        "preferences": [{"channel": "sms", "category": "reminder", "enabled": False}],
        "quiet_hours": {"starts": "22:00", "ends": "07:00"}})
    assert prefs.status_code == 200, prefs.text
    assert {"channel": "sms", "category": "reminder", "enabled": False} in prefs.json()["preferences"]
