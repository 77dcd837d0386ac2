"""CSV exports from the web: start (a patient on /my/appointments, the desk from the board), a progress fragment
that polls itself with htmx until done, then a download link through the session cookie; the worker step is run
by draining the outbox."""

from __future__ import annotations

import csv
import io
import re

import asyncpg

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.worker import drain
from carebase.jobs import exports  # noqa: F401  (registers the export handler)
from tests.factories import Factory
from tests.web.helpers import web_login
from tests.worker.test_scheduled import _book


async def _run_worker(database_url, owner_sessionmaker) -> None:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await drain(conn, owner_sessionmaker, topics=["job.requested"])
    finally:
        await conn.close()


def _hx(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"HX-Request": "true", "X-CSRF-Token": client.cookies["cb_csrf"]}


async def test_desk_exports_the_boards_day_with_progress_then_a_link(client, factory: Factory, owner_sessionmaker,
                                                                      database_url):  # fmt: skip
    clinic, appointment_id, starts = await _book(client, factory, owner_sessionmaker)
    desk = await factory.user(clinic.tenant, "receptionist")
    await web_login(client, desk)
    board = await client.get("/desk")
    assert "Export appointments (CSV)" in board.text and 'hx-post="/desk/export"' in board.text
    r = await client.post("/desk/export", data={"date": starts.date().isoformat()}, headers=_hx(client))
    assert r.status_code == 200
    poll = re.search(r'hx-get="(/exports/[0-9a-f-]{36})" hx-trigger="every 1s"', r.text)
    assert poll, "a running export polls itself"
    assert "<progress" in r.text and "Waiting to start" in r.text
    status_url = poll.group(1)
    still = await client.get(status_url, headers={"HX-Request": "true"})
    assert still.status_code == 200 and 'hx-trigger="every 1s"' in still.text
    await _run_worker(database_url, owner_sessionmaker)
    done = await client.get(status_url, headers={"HX-Request": "true"})
    assert done.status_code == 200
    assert "hx-trigger" not in done.text and "<progress" not in done.text  # polling stops
    link = re.search(r'href="(/exports/[0-9a-f-]{36}/download)"', done.text)
    assert link and "1 row" in done.text
    csv_response = await client.get(link.group(1))
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_response.text)))
    assert rows[0][:3] == ["date", "time", "patient"] and len(rows) == 2
    # The full page (without htmx) shows the same state.
    page = await client.get(status_url)
    assert page.status_code == 200 and "Download CSV" in page.text and "<html" in page.text
    # Another day: no rows.
    r = await client.post("/desk/export", data={"date": "2001-01-01"}, headers=_hx(client))
    await _run_worker(database_url, owner_sessionmaker)
    other = re.search(r'hx-get="(/exports/[0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    assert "0 rows" in (await client.get(other, headers={"HX-Request": "true"})).text
    # Only the requester sees the job.
    client.cookies.clear()
    await web_login(client, await factory.user(clinic.tenant, "receptionist"))
    assert (await client.get(status_url)).status_code == 404
    assert (await client.get(link.group(1))).status_code == 404


async def test_patient_downloads_own_history_without_javascript(client, factory: Factory, owner_sessionmaker,
                                                                 database_url):  # fmt: skip
    clinic, appointment_id, starts = await _book(client, factory, owner_sessionmaker)
    patient = await factory.user(clinic.tenant, "patient")
    await factory.patient(clinic.tenant, user=patient)
    await web_login(client, patient)
    mine = await client.get("/my/appointments")
    assert "Download my appointments (CSV)" in mine.text
    r = await client.post("/my/appointments/export", data={"csrf_token": client.cookies["cb_csrf"]})
    assert r.status_code == 303 and re.fullmatch(r"/exports/[0-9a-f-]{36}", r.headers["location"])
    page = await client.get(r.headers["location"])
    assert page.status_code == 200 and "<progress" in page.text
    await _run_worker(database_url, owner_sessionmaker)
    page = await client.get(r.headers["location"])
    assert "Download CSV" in page.text and "0 rows" in page.text  # the booked patient is someone else
    download = await client.get(r.headers["location"] + "/download")
    assert download.status_code == 200 and download.text.startswith("date,time,patient")


async def test_exports_need_the_permission_and_csrf(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    await web_login(client, doctor)
    token = {"csrf_token": client.cookies["cb_csrf"]}
    assert (await client.post("/desk/export", data=token)).status_code == 403
    assert (await client.post("/my/appointments/export", data=token)).status_code == 403
    client.cookies.clear()
    desk = await factory.user(tenant, "receptionist")
    await web_login(client, desk)
    r = await client.post("/desk/export", data={"csrf_token": "forged-" + "z" * 40})
    assert r.status_code == 403 and "This form has expired" in r.text
    assert (await client.get("/exports/not-a-uuid")).status_code == 404
