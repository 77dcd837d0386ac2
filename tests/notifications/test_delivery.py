"""Delivery through the real protocols: SMTP (aiosmtpd) with HTML, text and the .ics; the SMTP server down for
a while (retried, then all delivered once); SMS and WhatsApp HTTP fakes with signed status callbacks; a
provider 4xx failed at once and escalated to the front desk; web push decrypted by a fake push service."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

from sqlalchemy import select

from carebase.core.clock import utcnow
from carebase.core.db import set_context
from carebase.notifications import service
from carebase.notifications.channels import Channels
from carebase.notifications.models import Notification, PushSubscription
from carebase.notifications.service import Recipient, deliver_due, notify
from carebase.notifications.templates import SAMPLE_CONTEXT
from carebase.notifications.webhooks import twilio_signature, whatsapp_signature
from tests.notifications import fakes
from tests.notifications.conftest import configure
from tests.smtp import Mailbox

CTX = SAMPLE_CONTEXT["appointment_confirmed"]


def _email() -> str:
    return f"p-{uuid.uuid4().hex[:10]}@example.test"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: connections are refused


async def _rows(owner, tenant_id, **where) -> list[Notification]:  # type: ignore[no-untyped-def]
    async with owner() as s:
        query = select(Notification).where(Notification.tenant_id == tenant_id)
        for key, value in where.items():
            query = query.where(getattr(Notification, key) == value)
        return list((await s.execute(query.order_by(Notification.created_at))).scalars())


async def _deliver(owner, **kw) -> int:  # type: ignore[no-untyped-def]
    async with owner() as s, s.begin():
        return await deliver_due(s, **kw)


async def test_email_has_text_html_and_the_ics(factory, owner_sessionmaker, mailbox: Mailbox):
    tenant = await factory.tenant()
    patient = await factory.user(tenant, "patient", email=_email())
    async with owner_sessionmaker() as s, s.begin():
        rows = await notify(
            s, tenant.id, Recipient(patient.id, patient.email, None), event="appointment_confirmed",
            category="booking", context=CTX, channels_wanted=("in_app", "email"),
            attachment=("appointment.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar"),
        )  # fmt: skip
    assert sorted(r.channel for r in rows) == ["email", "in_app"]
    assert await _deliver(owner_sessionmaker) >= 1
    message = await mailbox.wait_for(patient.email)
    types = [part.get_content_type() for part in message.walk()]
    assert "text/plain" in types and "text/html" in types and "text/calendar" in types
    assert "Dr Mehta" in Mailbox.text(message)
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert ics.get_filename() == "appointment.ics"
    (email_row,) = await _rows(owner_sessionmaker, tenant.id, user_id=patient.id, channel="email")
    assert email_row.status == "sent" and email_row.attempts == 1 and email_row.provider_id


async def test_smtp_down_for_a_while_then_all_delivered_once(factory, owner_sessionmaker, mailbox, settings,
                                                              monkeypatch):  # fmt: skip
    tenant = await factory.tenant()
    people = [await factory.user(tenant, "patient", email=_email()) for _ in range(3)]
    async with owner_sessionmaker() as s, s.begin():
        for p in people:
            await notify(s, tenant.id, Recipient(p.id, p.email, None), event="appointment_confirmed",
                         category="booking", context=CTX, channels_wanted=("email",))  # fmt: skip
    down = settings.model_copy(deep=True)
    down.smtp.port = _closed_port()
    broken = Channels(down)
    monkeypatch.setattr(service, "channels", lambda: broken)
    now = utcnow()
    for round_ in range(2):  # two failed rounds while the server is down
        await _deliver(owner_sessionmaker, now=now + timedelta(hours=round_ * 2))
    rows = await _rows(owner_sessionmaker, tenant.id, channel="email")
    assert [r.status for r in rows] == ["queued"] * 3
    assert all(r.attempts == 2 and r.error and "SMTP unavailable" in r.error for r in rows)
    assert all(r.next_attempt_at and r.next_attempt_at > now + timedelta(hours=2) for r in rows)
    assert not any(mailbox.to(p.email) for p in people)  # type: ignore[arg-type]
    # Not due yet: nothing is sent early.
    monkeypatch.setattr(service, "channels", lambda: Channels(settings))
    # The server is back; the retries run when due.
    await _deliver(owner_sessionmaker, now=now + timedelta(hours=6))
    for p in people:
        await mailbox.wait_for(p.email)  # type: ignore[arg-type]
    await _deliver(owner_sessionmaker, now=now + timedelta(hours=12))
    assert all(len(mailbox.to(p.email)) == 1 for p in people)  # type: ignore[arg-type]  # none twice
    rows = await _rows(owner_sessionmaker, tenant.id, channel="email")
    assert [r.status for r in rows] == ["sent"] * 3 and all(r.attempts == 3 for r in rows)  # none lost


async def test_sms_through_the_twilio_fake_and_a_signed_status_callback(factory, owner_sessionmaker, client,
                                                                         settings, monkeypatch, provider):  # fmt: skip
    fake, base = provider
    configure(settings, monkeypatch, base)
    tenant = await factory.tenant()
    patient = await factory.user(tenant, "patient", phone="+919812345670")
    async with owner_sessionmaker() as s, s.begin():
        await notify(s, tenant.id, Recipient(patient.id, None, "+919812345670"), event="appointment_confirmed",
                     category="booking", context=CTX, channels_wanted=("phone",))  # fmt: skip
    await _deliver(owner_sessionmaker)
    (sent,) = fake.received
    assert sent["To"] == "+919812345670" and "Dr Mehta" in sent["Body"]
    assert sent["StatusCallback"] == "http://testserver/webhooks/sms/status"
    (row,) = await _rows(owner_sessionmaker, tenant.id, channel="sms")
    assert row.status == "sent" and row.provider_id == sent["sid"]
    form = {"MessageSid": sent["sid"], "MessageStatus": "delivered", "AccountSid": fakes.SID}
    url = "http://testserver/webhooks/sms/status"
    bad = await client.post("/webhooks/sms/status", data=form, headers={"X-Twilio-Signature": "AAAA"})
    assert bad.status_code == 403
    tampered = twilio_signature(fakes.TOKEN, url, form | {"MessageStatus": "failed"})
    assert (await client.post("/webhooks/sms/status", data=form,
                              headers={"X-Twilio-Signature": tampered})).status_code == 403  # fmt: skip
    good = await client.post("/webhooks/sms/status", data=form,
                             headers={"X-Twilio-Signature": twilio_signature(fakes.TOKEN, url, form)})  # fmt: skip
    assert good.status_code == 204
    (row,) = await _rows(owner_sessionmaker, tenant.id, channel="sms")
    assert row.status == "delivered" and row.delivered_at


async def test_whatsapp_through_the_cloud_api_fake_and_a_signed_webhook(factory, owner_sessionmaker, client,
                                                                         settings, monkeypatch, provider):  # fmt: skip
    fake, base = provider
    configure(settings, monkeypatch, base, whatsapp=True)
    tenant = await factory.tenant()
    patient = await factory.user(tenant, "patient", phone="+919812345671")
    async with owner_sessionmaker() as s, s.begin():
        await notify(s, tenant.id, Recipient(patient.id, None, "+919812345671", "hi"), event="appointment_confirmed",
                     category="booking", context=CTX, channels_wanted=("phone",))  # fmt: skip
    await _deliver(owner_sessionmaker)
    (sent,) = fake.received
    assert sent["to"] == "919812345671" and "पक्का" in sent["text"]["body"]  # Hindi template
    body = (
        '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
        '{"statuses":[{"id":"' + sent["id"] + '","status":"delivered","recipient_id":"919812345671"}]}}]}]}'
    ).encode()
    bad = await client.post("/webhooks/whatsapp", content=body,
                            headers={"X-Hub-Signature-256": "sha256=00", "Content-Type": "application/json"})
    assert bad.status_code == 403
    ok = await client.post("/webhooks/whatsapp", content=body, headers={
        "X-Hub-Signature-256": whatsapp_signature("wa-app-secret", body), "Content-Type": "application/json"})
    assert ok.status_code == 200
    (row,) = await _rows(owner_sessionmaker, tenant.id, channel="whatsapp")
    assert row.status == "delivered"


async def test_a_provider_4xx_fails_at_once_and_the_front_desk_gets_a_task(factory, owner_sessionmaker, settings,
                                                                            monkeypatch, provider):  # fmt: skip
    fake, base = provider
    configure(settings, monkeypatch, base)
    fake.fail_with = 400
    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist")
    patient = await factory.user(tenant, "patient", phone="+919812345672")
    async with owner_sessionmaker() as s, s.begin():
        await notify(s, tenant.id, Recipient(patient.id, None, "+919812345672"), event="appointment_confirmed",
                     category="booking", context=CTX, channels_wanted=("phone",))  # fmt: skip
    await _deliver(owner_sessionmaker)
    (row,) = await _rows(owner_sessionmaker, tenant.id, channel="sms")
    assert row.status == "failed" and row.attempts == 1 and "400" in (row.error or "")
    assert row.next_attempt_at is None and row.escalated_at is not None
    assert await _deliver(owner_sessionmaker, now=utcnow() + timedelta(days=1)) == 0  # not retried
    (task,) = await _rows(owner_sessionmaker, tenant.id, user_id=desk.id, channel="in_app")
    assert task.category == "escalation" and task.status == "delivered" and "could not be delivered" in task.body


async def test_a_5xx_is_retried_then_fails_after_the_last_attempt(factory, owner_sessionmaker, settings,
                                                                   monkeypatch, provider):  # fmt: skip
    fake, base = provider
    configure(settings, monkeypatch, base)
    monkeypatch.setattr(settings.notifications, "max_attempts", 3)
    fake.fail_with = 503
    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist")
    patient = await factory.user(tenant, "patient", phone="+919812345673")
    async with owner_sessionmaker() as s, s.begin():
        await notify(s, tenant.id, Recipient(patient.id, None, "+919812345673"), event="appointment_reminder",
                     category="reminder", context=SAMPLE_CONTEXT["appointment_reminder"], channels_wanted=("phone",))
    now = utcnow()
    for hours in (0, 3, 6, 9):
        await _deliver(owner_sessionmaker, now=now + timedelta(hours=hours))
    (row,) = await _rows(owner_sessionmaker, tenant.id, channel="sms")
    assert row.status == "failed" and row.attempts == 3
    assert len(await _rows(owner_sessionmaker, tenant.id, user_id=desk.id, category="escalation")) == 1


async def test_web_push_is_encrypted_for_the_subscription(factory, owner_sessionmaker, settings, monkeypatch,
                                                           provider):  # fmt: skip
    fake, base = provider
    configure(settings, monkeypatch, base)
    tenant = await factory.tenant()
    user = await factory.user(tenant, "patient")
    p256dh, auth = fake.subscription_keys()
    async with owner_sessionmaker() as s, s.begin():
        s.add(PushSubscription(tenant_id=tenant.id, user_id=user.id, endpoint=f"{base}/push/sub1", p256dh=p256dh,
                               auth=auth))  # fmt: skip
        await s.flush()
        await notify(s, tenant.id, Recipient(user.id, None, None), event="appointment_confirmed", category="booking",
                     context=CTX, channels_wanted=("push",))  # fmt: skip
    await _deliver(owner_sessionmaker)
    (pushed,) = fake.received
    assert "Appointment confirmed" in pushed["payload"] and "Dr Mehta" in pushed["payload"]
    (row,) = await _rows(owner_sessionmaker, tenant.id, channel="push")
    assert row.status == "sent"


async def test_rls_keeps_notifications_in_their_tenant(factory, owner_sessionmaker, db):
    a, b = await factory.tenant(), await factory.tenant()
    user = await factory.user(a, "patient")
    async with owner_sessionmaker() as s, s.begin():
        await notify(s, a.id, Recipient(user.id, None, None), event="appointment_confirmed", category="booking",
                     context=CTX, channels_wanted=("in_app",))  # fmt: skip
    async with db.sessionmaker() as s, s.begin():
        await set_context(s, tenant_id=b.id, user_id=user.id)
        assert (await s.execute(select(Notification).where(Notification.user_id == user.id))).first() is None
        await set_context(s, tenant_id=a.id, user_id=user.id)
        assert (await s.execute(select(Notification).where(Notification.user_id == user.id))).first() is not None
