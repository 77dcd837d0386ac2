"""Push subscriptions: the browser's PushSubscription JSON is stored for the signed-in user (https endpoints on
a named host only, keys of the lengths RFC 8291 needs), used by the push channel, and removable by its owner."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from carebase.notifications.models import PushSubscription
from carebase.notifications.service import Recipient, notify
from carebase.notifications.templates import SAMPLE_CONTEXT
from carebase.notifications.webpush import b64u
from tests.api.helpers import assert_problem, bearer, field_errors
from tests.notifications import fakes
from tests.notifications.conftest import configure

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"


def _body(endpoint: str = ENDPOINT, **keys: str) -> dict:
    p256dh, auth = fakes.Provider().subscription_keys()
    return {"endpoint": endpoint, "expirationTime": None, "keys": {"p256dh": p256dh, "auth": auth} | keys}


async def test_subscribe_is_used_by_the_push_channel_and_unsubscribe(client, factory, owner_sessionmaker, settings,
                                                                      monkeypatch):  # fmt: skip
    configure(settings, monkeypatch, "http://127.0.0.1:9")
    tenant = await factory.tenant()
    user = await factory.user(tenant, "patient")
    headers = bearer(await factory.login(user))
    r = await client.post("/api/v1/my/push-subscriptions", headers=headers, json=_body())
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    assert r.json()["endpoint"] == ENDPOINT
    again = await client.post("/api/v1/my/push-subscriptions", headers=headers, json=_body())
    assert again.status_code == 201 and again.json()["id"] == sub_id  # the same endpoint: one row

    async with owner_sessionmaker() as s, s.begin():
        rows = await notify(s, tenant.id, Recipient(user.id, None, None), event="appointment_confirmed",
                            category="booking", context=SAMPLE_CONTEXT["appointment_confirmed"],
                            channels_wanted=("push",))  # fmt: skip
    assert [(n.channel, n.destination, n.status) for n in rows] == [("push", ENDPOINT, "queued")]

    # Someone else cannot remove it; its owner can, once.
    other = bearer(await factory.login(await factory.user(tenant, "patient")))
    assert_problem(await client.delete(f"/api/v1/my/push-subscriptions/{sub_id}", headers=other), 404)
    assert (await client.delete(f"/api/v1/my/push-subscriptions/{sub_id}", headers=headers)).status_code == 204
    assert_problem(await client.delete(f"/api/v1/my/push-subscriptions/{sub_id}", headers=headers), 404)
    async with owner_sessionmaker() as s:
        assert (await s.execute(select(PushSubscription).where(PushSubscription.user_id == user.id))).first() is None


async def test_an_endpoint_moves_to_the_user_who_subscribes_it_last(client, factory, owner_sessionmaker):
    tenant = await factory.tenant()
    first, second = await factory.user(tenant, "patient"), await factory.user(tenant, "patient")
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/shared"
    a = await client.post("/api/v1/my/push-subscriptions", headers=bearer(await factory.login(first)),
                          json=_body(endpoint))  # fmt: skip
    b = await client.post("/api/v1/my/push-subscriptions", headers=bearer(await factory.login(second)),
                          json=_body(endpoint))  # fmt: skip
    assert a.status_code == b.status_code == 201
    async with owner_sessionmaker() as s:
        owners = (await s.execute(select(PushSubscription.user_id).where(PushSubscription.endpoint == endpoint)))
        assert owners.scalars().all() == [second.id]


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("endpoint", _body("http://fcm.googleapis.com/fcm/send/x")),  # not https
        ("endpoint", _body("https://127.0.0.1/push")),  # an IP literal
        ("endpoint", _body("https://[::1]/push")),
        ("endpoint", _body("https://localhost/push")),
        ("endpoint", _body("https://user:pw@fcm.googleapis.com/x")),
        ("endpoint", _body("fcm.googleapis.com/x")),
        ("p256dh", _body(p256dh=b64u(b"\x04" + b"\x01" * 63))),  # one byte short
        ("p256dh", _body(p256dh=b64u(b"\x02" + b"\x01" * 64))),  # not an uncompressed point
        ("p256dh", _body(p256dh="not base64url!")),
        ("auth", _body(auth=b64u(b"0123456789abcde"))),  # 15 bytes
        ("auth", _body(auth="a+b/" * 6)),  # base64, not base64url
    ],
)
async def test_bad_subscriptions_are_refused(client, factory, field, body):
    user = await factory.user(await factory.tenant(), "patient")
    r = await client.post("/api/v1/my/push-subscriptions", headers=bearer(await factory.login(user)), json=body)
    assert field in field_errors(assert_problem(r, 422)), r.text


async def test_a_gone_subscription_is_dropped_without_escalation(factory, owner_sessionmaker, settings, monkeypatch,
                                                                 provider):  # fmt: skip
    from carebase.notifications.models import Notification
    from carebase.notifications.service import deliver_due

    fake, base = provider
    configure(settings, monkeypatch, base)
    fake.fail_with = 410
    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist")
    user = await factory.user(tenant, "patient")
    p256dh, auth = fake.subscription_keys()
    async with owner_sessionmaker() as s, s.begin():
        s.add(PushSubscription(tenant_id=tenant.id, user_id=user.id, endpoint=f"{base}/push/gone", p256dh=p256dh,
                               auth=auth))  # fmt: skip
        await s.flush()
        await notify(s, tenant.id, Recipient(user.id, None, None), event="appointment_confirmed", category="booking",
                     context=SAMPLE_CONTEXT["appointment_confirmed"], channels_wanted=("push",))  # fmt: skip
    async with owner_sessionmaker() as s, s.begin():
        await deliver_due(s)
    async with owner_sessionmaker() as s:
        (row,) = (await s.execute(select(Notification).where(Notification.tenant_id == tenant.id))).scalars()
        assert row.status == "failed" and row.error == "subscription expired" and row.escalated_at is None
        assert (await s.execute(select(PushSubscription).where(PushSubscription.user_id == user.id))).first() is None
        assert (await s.execute(select(Notification).where(Notification.user_id == desk.id))).first() is None
