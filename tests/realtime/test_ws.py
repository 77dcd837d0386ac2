"""/ws: authentication, topic authorisation, bad input, publish-after-commit, catch-up."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
import websockets
from sqlalchemy import text

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.outbox import emit
from carebase.core.worker import run_batch
from carebase.realtime.publish import record_and_publish
from tests.realtime.conftest import connect, fake_event, nothing_more, recv, send, subscribe, ws_url


@pytest.fixture
async def staff(factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    user = await factory.user(tenant, "receptionist")
    await factory.login(user)
    return tenant, user


@pytest.fixture
async def owner_conn(database_url: str):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


async def test_without_a_token_the_socket_gets_an_error_and_4401(ws_server) -> None:  # type: ignore[no-untyped-def]
    async with websockets.connect(ws_url(ws_server)) as ws:
        await send(ws, {"type": "subscribe", "topics": ["board:" + str(uuid.uuid4())]})
        error = await recv(ws)
        assert error["type"] == "error" and error["code"] == "unauthenticated"
        with pytest.raises(websockets.ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 4401


async def test_a_bad_token_gets_4401(ws_server) -> None:  # type: ignore[no-untyped-def]
    async with websockets.connect(ws_url(ws_server), subprotocols=["carebase.v1", "bearer.not-a-jwt"]) as ws:
        error = await recv(ws)
        assert error["code"] == "unauthenticated"
        with pytest.raises(websockets.ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 4401


async def test_token_in_the_first_message(ws_server, staff) -> None:  # type: ignore[no-untyped-def]
    tenant, user = staff
    async with websockets.connect(ws_url(ws_server)) as ws:
        await send(ws, {"type": "auth", "token": user.tokens["access_token"]})
        assert (await recv(ws))["type"] == "ready"
        await subscribe(ws, f"board:{tenant.location_id}")


async def test_cookie_auth_from_a_foreign_origin_is_refused_at_the_handshake(ws_server, staff) -> None:  # type: ignore[no-untyped-def]
    _, user = staff
    cookie = {"Cookie": f"cb_access={user.tokens['access_token']}"}
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url(ws_server), additional_headers=cookie, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(ws_url(ws_server), additional_headers=cookie, origin=ws_server.url) as ws:
        assert (await recv(ws))["type"] == "ready"


async def test_another_tenants_topic_is_an_error_frame_and_the_connection_stays(ws_server, factory, staff) -> None:  # type: ignore[no-untyped-def]
    tenant, user = staff
    other = await factory.tenant()
    stranger = await factory.user(other, "receptionist")
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        for topic in (f"board:{other.location_id}", f"user:{stranger.id}"):
            await send(ws, {"type": "subscribe", "topics": [topic]})
            error = await recv(ws)
            assert error["type"] == "error" and error["code"] == "forbidden" and error["topic"] == topic
        await subscribe(ws, f"board:{tenant.location_id}", f"user:{user.id}")
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}


async def test_a_patient_may_not_follow_a_board(ws_server, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    patient = await factory.user(tenant, "patient")
    await factory.login(patient)
    async with connect(ws_server, patient.tokens["access_token"]) as ws:
        await send(ws, {"type": "subscribe", "topics": [f"board:{tenant.location_id}"]})
        assert (await recv(ws))["code"] == "forbidden"
        await subscribe(ws, f"user:{patient.id}")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"type": "dance"}', "unknown-type"),
        ('{"type": "subscribe", "topics": "board:x"}', "malformed"),
        ('{"type": "subscribe", "topics": ["board:not-a-uuid"]}', "bad-topic"),
        ('{"type": "subscribe", "topics": ["board:x"], "last_event_id": "nope"}', "malformed"),
        ('{"type": "ping", "pad": "' + "x" * 17_000 + '"}', "too-large"),
        (b"\x00\x01", "binary-not-supported"),
    ],
)
async def test_bad_input_gets_an_error_frame_and_the_connection_keeps_working(ws_server, staff, frame, code) -> None:  # type: ignore[no-untyped-def]
    tenant, user = staff
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        await ws.send(frame)
        error = await recv(ws)
        assert error["type"] == "error" and error["code"] == code, error
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}
        await subscribe(ws, f"board:{tenant.location_id}")


async def test_repeated_abuse_closes_the_connection(ws_server, staff) -> None:  # type: ignore[no-untyped-def]
    _, user = staff
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        for _ in range(21):
            await ws.send("{oops")
        codes = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                codes.append((await recv(ws))["code"])
        assert codes.count("malformed") == 21 and codes[-1] == "too-many-errors"
        assert ws.close_code == 1008


async def test_published_only_after_commit(ws_server, staff, db, owner_sessionmaker, owner_conn) -> None:  # type: ignore[no-untyped-def]
    tenant, user = staff
    loc = str(tenant.location_id)
    rolled_back, committed = str(uuid.uuid4()), str(uuid.uuid4())
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        await subscribe(ws, f"board:{loc}")
        async with owner_sessionmaker() as s:
            await s.begin()
            await emit(s, tenant.id, "appointment.checked_in", {"appointment_id": rolled_back, "location_id": loc,
                                                                 "status": "checked_in"})  # fmt: skip
            await s.rollback()
        async with owner_sessionmaker() as s, s.begin():
            await emit(s, tenant.id, "appointment.checked_in", {"appointment_id": committed, "location_id": loc,
                                                                "status": "checked_in"})  # fmt: skip
        while await run_batch(owner_conn):
            pass
        event = await recv(ws)
        assert event["type"] == "event" and event["topic"] == f"board:{loc}"
        assert event["event"] == "appointment.checked_in" and event["data"]["appointment_id"] == committed
        await nothing_more(ws)
    async with owner_sessionmaker() as s:
        found = await s.execute(text("SELECT count(*) FROM realtime_events WHERE data->>'appointment_id' = :a"),
                                {"a": rolled_back})  # fmt: skip
        assert found.scalar() == 0


async def test_catch_up_after_reconnect_in_order_without_duplicates(ws_server, staff, owner_conn) -> None:  # type: ignore[no-untyped-def]
    tenant, user = staff
    topic = f"board:{tenant.location_id}"

    async def publish(n: int) -> dict:  # type: ignore[type-arg]
        payload = {"appointment_id": str(uuid.uuid4()), "location_id": str(tenant.location_id), "status": str(n)}
        (message,) = await record_and_publish(owner_conn, fake_event(tenant.id, "appointment.started", payload))
        return message

    async with connect(ws_server, user.tokens["access_token"]) as ws:
        await subscribe(ws, topic)
        first = await publish(1)
        assert (await recv(ws))["id"] == first["id"]
    missed = [await publish(n) for n in (2, 3, 4)]
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        await subscribe(ws, topic, last_event_id=first["id"])
        got = [await recv(ws) for _ in missed]
        assert [g["id"] for g in got] == [m["id"] for m in missed]
        assert [g["data"]["status"] for g in got] == ["2", "3", "4"]
        live = await publish(5)
        assert (await recv(ws))["id"] == live["id"]
        # The same outbox event published again (a retry) is not delivered twice.
        await nothing_more(ws, 0.3)
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        await send(ws, {"type": "subscribe", "topics": [topic], "last_event_id": str(uuid.uuid4())})
        assert (await recv(ws))["type"] == "subscribed"
        reset = await recv(ws)
        assert reset["type"] == "reset" and reset["topics"] == [topic]


async def test_a_retried_event_is_not_delivered_twice(ws_server, staff, owner_conn) -> None:  # type: ignore[no-untyped-def]
    tenant, user = staff
    event = fake_event(tenant.id, "appointment.completed", {"location_id": str(tenant.location_id), "status": "x"})
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        await subscribe(ws, f"board:{tenant.location_id}")
        (first,) = await record_and_publish(owner_conn, event)
        (again,) = await record_and_publish(owner_conn, event)
        assert first["id"] == again["id"] and first["seq"] == again["seq"]
        assert (await recv(ws))["id"] == first["id"]
        await nothing_more(ws)


async def test_unsubscribe_stops_delivery(ws_server, staff, owner_conn) -> None:  # type: ignore[no-untyped-def]
    tenant, user = staff
    topic = f"board:{tenant.location_id}"
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        await subscribe(ws, topic)
        await send(ws, {"type": "unsubscribe", "topics": [topic]})
        assert await recv(ws) == {"type": "unsubscribed", "topics": [topic]}
        await record_and_publish(owner_conn, fake_event(tenant.id, "appointment.started",
                                                        {"location_id": str(tenant.location_id)}))  # fmt: skip
        await nothing_more(ws)


async def test_events_reach_the_doctor_and_the_patients_portal_user(ws_server, factory, owner_conn) -> None:  # type: ignore[no-untyped-def]
    from tests.scheduling.bookable import make_bookable

    b = await make_bookable(factory, factory.owner)
    portal = await factory.user(b.tenant, "patient")
    patient_id = await factory.patient(b.tenant, user=portal)
    await factory.login(b.doctor)
    await factory.login(portal)
    payload = {"appointment_id": str(uuid.uuid4()), "practitioner_id": str(b.practitioner_id),
               "patient_id": str(patient_id), "location_id": str(b.location_id), "status": "confirmed"}  # fmt: skip
    async with connect(ws_server, b.doctor.tokens["access_token"]) as doc, \
            connect(ws_server, portal.tokens["access_token"]) as pat:  # fmt: skip
        await subscribe(doc, f"doctor:{b.practitioner_id}")
        await subscribe(pat, f"user:{portal.id}")
        messages = await record_and_publish(owner_conn, fake_event(b.tenant.id, "appointment.confirmed", payload))
        assert {m["topic"] for m in messages} == {
            f"board:{b.location_id}", f"doctor:{b.practitioner_id}", f"user:{portal.id}"}
        for ws in (doc, pat):
            got = await recv(ws)
            assert got["event"] == "appointment.confirmed" and "patient_id" not in got["data"]


async def test_token_expiry_closes_with_4401(ws_server, staff, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from carebase.realtime import ws as ws_module

    _, user = staff
    monkeypatch.setattr(ws_module, "_expiry", lambda token: __import__("time").time() + 0.3)
    async with connect(ws_server, user.tokens["access_token"]) as ws:
        error = await recv(ws)
        assert error["code"] == "token-expired"
        with pytest.raises(websockets.ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 4401
    await asyncio.sleep(0)


async def test_a_notification_reaches_only_its_user_with_title_and_unread_count(ws_server, factory, owner_conn) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    me, colleague = await factory.user(tenant, "nurse"), await factory.user(tenant, "nurse")
    await factory.login(me)
    payload = {"user_id": str(me.id), "notification_id": str(uuid.uuid4()), "title": "Booking confirmed",
               "unread_count": 3, "body": "not for screens"}  # fmt: skip
    async with connect(ws_server, me.tokens["access_token"]) as ws:
        await subscribe(ws, f"user:{me.id}")
        await record_and_publish(owner_conn, fake_event(tenant.id, "notification.created", payload))
        await record_and_publish(owner_conn, fake_event(tenant.id, "notification.created",
                                                        payload | {"user_id": str(colleague.id)}))  # fmt: skip
        got = await recv(ws)
        assert got["event"] == "notification.created" and got["topic"] == f"user:{me.id}"
        assert got["data"] == {"notification_id": payload["notification_id"], "title": "Booking confirmed",
                               "unread_count": 3}  # fmt: skip
        await nothing_more(ws)
