"""The client process of the booking section: ``python -m bench.booking_clients MODE < spec.json``.

bench.booking starts it (``_client_process``) with a JSON spec on stdin; it prints one JSON line. Modes:

- ``throughput``: closed loop. Each client books its next free slot (hold, then confirm) as soon as the
  previous booking is done: the saturation throughput; the latency then follows from Little's law.
- ``paced``: open loop. The clients together offer ``rate`` bookings/s on an evenly spaced schedule (a random
  phase per client); latency is measured from each booking's intended start (coordinated-omission
  correction, as wrk2 does): the latency a patient sees at that offered rate. The schedule, its bookkeeping
  and the CPU window are bench/paced.py's (shared with the search section's paced client).
- ``contention``: every client fights over the same few slots of one practitioner.

``bench.httpclient.LeanClient``, HTTP/1.1 keep-alive, one connection per client. See bench/README.md.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import time
from datetime import date, timedelta
from typing import Any

from bench import paced

AVAILABILITY_MAX_DAYS = 31  # the ``days`` limit of GET /api/v1/practitioners/{id}/availability
HORIZON_DAYS = 180  # the default booking horizon (tenancy DEFAULT_POLICY): no slots are offered beyond it


def _client(spec: dict[str, Any], c: dict[str, Any]) -> Any:
    from bench.httpclient import LeanClient

    return LeanClient(spec["host"], int(spec["port"]),
                      {"Authorization": f"Bearer {c['token']}", "User-Agent": "carebase-bench"})  # fmt: skip


def _hold_body(c: dict[str, str], starts_at: str, practitioner_id: str | None = None) -> dict[str, str]:
    """The POST /api/v1/holds body of client ``c`` (its own practitioner unless ``practitioner_id``)."""
    return {"practitioner_id": practitioner_id or c["practitioner_id"], "service_id": c["service_id"],
            "patient_id": c["patient_id"], "starts_at": starts_at, "source": "front_desk"}  # fmt: skip


async def _book(cl: Any, c: dict[str, str], starts_at: str) -> tuple[int, float, int | None, float | None]:
    """One booking: POST /api/v1/holds, then (on 201) POST /api/v1/appointments/{id}/confirm.
    Returns (hold status, hold answered at, confirm status, confirm answered at) in ``time.perf_counter``."""
    r = await cl.post("/api/v1/holds", json=_hold_body(c, starts_at))
    b = time.perf_counter()
    if r.status_code != 201:
        return r.status_code, b, None, None
    r2 = await cl.post(f"/api/v1/appointments/{r.json()['id']}/confirm")
    return r.status_code, b, r2.status_code, time.perf_counter()


async def _free_slots(client: Any, spec: dict[str, Any], c: dict[str, str], days: int,
                      first: date | None = None) -> list[str]:  # fmt: skip
    first = first or date.fromisoformat(spec["first_day"])
    r = await client.get(f"/api/v1/practitioners/{c['practitioner_id']}/availability",
                         params={"service_id": c["service_id"], "from": str(first), "days": days})  # fmt: skip
    r.raise_for_status()
    return [s["starts_at"] for s in r.json()["slots"]]


async def _enough_free_slots(client: Any, spec: dict[str, Any], c: dict[str, str], need: int) -> list[str]:
    """At least ``need`` free slots if the booking horizon has them: consecutive windows of the most days
    availability answers for (earlier runs have taken the first days' slots)."""
    first_day = date.fromisoformat(spec["first_day"])
    slots: list[str] = []
    day = first_day
    while len(slots) < need and day < first_day + timedelta(days=HORIZON_DAYS):
        slots += await _free_slots(client, spec, c, AVAILABILITY_MAX_DAYS, day)
        day += timedelta(days=AVAILABILITY_MAX_DAYS)
    return slots


async def _throughput(spec: dict[str, Any]) -> dict[str, Any]:
    clients = [_client(spec, c) for c in spec["clients"]]
    try:
        slots = await asyncio.gather(*(_free_slots(cl, spec, c, 10)
                                       for cl, c in zip(clients, spec["clients"], strict=True)))  # fmt: skip
        warm, dur = float(spec["warmup"]), float(spec["duration"])
        t0 = time.perf_counter()
        start_at, end_at = t0 + warm, t0 + warm + dur
        window = paced.Window(spec["server_pid"])
        hold_ms: list[float] = []
        confirm_ms: list[float] = []
        errors: collections.Counter[str] = collections.Counter()
        counts = {"bookings": 0, "exhausted": 0}

        async def run(i: int) -> None:
            cl, c, mine = clients[i], spec["clients"][i], list(slots[i])
            while time.perf_counter() < end_at:
                if not mine:
                    counts["exhausted"] += 1
                    return
                a = time.perf_counter()
                hold, b, confirm, d = await _book(cl, c, mine.pop(0))
                measured = start_at <= b <= end_at
                if measured:
                    hold_ms.append((b - a) * 1000)
                if confirm is None or d is None:
                    if measured:
                        errors[f"hold {hold}"] += 1
                    continue
                if start_at <= d <= end_at:
                    confirm_ms.append((d - b) * 1000)
                    if confirm == 200:
                        counts["bookings"] += 1
                    else:
                        errors[f"confirm {confirm}"] += 1

        await asyncio.gather(window.track(warm, dur), *(run(i) for i in range(len(clients))))
        window.close()
    finally:
        await asyncio.gather(*(cl.aclose() for cl in clients))
    return {"clients": len(clients), "seconds": dur, "bookings": counts["bookings"],
            "bookings_per_s": round(counts["bookings"] / dur, 1), "hold": paced.pcts(hold_ms),
            "confirm": paced.pcts(confirm_ms),
            "errors": dict(errors), "clients_out_of_slots": counts["exhausted"],
            "free_slots_per_client_min": min(len(s) for s in slots), **window.stats}  # fmt: skip


async def _paced(spec: dict[str, Any]) -> dict[str, Any]:
    """Open loop: client i intends to start a booking at t0 + phase_i + k * (n / rate), k = 0, 1, ...
    A booking whose intended start falls in the measured window is measured from that intended start (a
    client that fell behind sends its next booking at once, and the lag counts); after the window the
    clients finish the bookings still owed to it (up to ``drain`` seconds), so slow answers are not left out."""
    clients = [_client(spec, c) for c in spec["clients"]]
    n, rate = len(clients), float(spec["rate"])
    warm, dur = float(spec["warmup"]), float(spec["duration"])
    interval = n / rate  # seconds between one client's intended starts
    per_client = int((warm + dur) / interval) + 1
    try:
        slots = await asyncio.gather(*(_enough_free_slots(cl, spec, c, per_client + 8)
                                       for cl, c in zip(clients, spec["clients"], strict=True)))  # fmt: skip
        rng = random.Random(int(spec.get("seed", 1)))  # noqa: S311 (bench schedule)
        phases = [rng.uniform(0, interval) for _ in range(n)]
        t0 = time.perf_counter()
        start_at, end_at = t0 + warm, t0 + warm + dur
        drain_until = end_at + float(spec.get("drain", max(10.0, dur)))
        window = paced.Window(spec["server_pid"])
        hold_ms: list[float] = []
        confirm_ms: list[float] = []
        booking_ms: list[float] = []
        errors: collections.Counter[str] = collections.Counter()
        counts = collections.Counter({"bookings": 0, "completed_in_window": 0, "exhausted": 0})

        schedules = [[t0 + phase + k * interval for k in range(per_client + 1) if t0 + phase + k * interval < end_at]
                     for phase in phases]  # fmt: skip
        pacer = paced.Pacer.per_connection(schedules, start_at, drain_until)

        async def run(i: int) -> None:
            cl, c, mine = clients[i], spec["clients"][i], collections.deque(slots[i])

            async def book(intended: float) -> None:
                hold, b, confirm, d = await _book(cl, c, mine.popleft())
                if confirm == 200 and d is not None and start_at <= d <= end_at:
                    counts["completed_in_window"] += 1
                if intended < start_at:
                    return
                hold_ms.append((b - intended) * 1000)
                if confirm is None or d is None:
                    errors[f"hold {hold}"] += 1
                elif confirm != 200:
                    confirm_ms.append((d - b) * 1000)
                    errors[f"confirm {confirm}"] += 1
                else:
                    confirm_ms.append((d - b) * 1000)
                    booking_ms.append((d - intended) * 1000)
                    counts["bookings"] += 1

            # Bookings owed to the window never sent (drain limit, out of slots): counted, so a stall cannot hide.
            if not await pacer.follow(i, book, more=lambda: bool(mine)):
                counts["exhausted"] += not mine

        await asyncio.gather(window.track(warm, dur), *(run(i) for i in range(n)))
        window.close()
        drained_s = max(0.0, time.perf_counter() - end_at)
    finally:
        await asyncio.gather(*(cl.aclose() for cl in clients))
    if pacer.unsent:
        errors["not sent (drain limit or out of slots)"] += pacer.unsent
    return {"clients": n, "seconds": dur, "offered_per_s": rate, "interval_per_client_ms": round(interval * 1000, 2),
            "scheduled": pacer.scheduled, "bookings": counts["bookings"], "unsent": pacer.unsent,
            "achieved_per_s": round(counts["completed_in_window"] / dur, 1),
            "hold": paced.pcts(hold_ms), "confirm": paced.pcts(confirm_ms), "booking": paced.pcts(booking_ms),
            "started_late": pacer.late, "late_threshold_ms": paced.LATE_S * 1000,
            "start_lag": paced.pcts(pacer.lag_ms),
            "errors": dict(errors), "clients_out_of_slots": counts["exhausted"],
            "free_slots_per_client_min": min(len(s) for s in slots), "slots_needed_per_client": per_client,
            "drained_after_window_s": round(drained_s, 2), **window.stats}  # fmt: skip


async def _contention(spec: dict[str, Any]) -> dict[str, Any]:
    clients = [_client(spec, c) for c in spec["clients"]]
    try:
        pid = spec["clients"][0]["practitioner_id"]
        targets = (await _free_slots(clients[0], spec, spec["clients"][0], 2))[: int(spec["slots"])]
        limit, deadline = int(spec["attempts"]), time.perf_counter() + float(spec["time_limit"])
        counts: collections.Counter[str] = collections.Counter()
        won: collections.Counter[str] = collections.Counter()
        ms: list[float] = []
        state = {"attempts": 0}
        window = paced.Window(spec["server_pid"])

        async def run(i: int) -> None:
            cl, c = clients[i], spec["clients"][i]
            k = i
            while state["attempts"] < limit and time.perf_counter() < deadline:
                state["attempts"] += 1
                slot = targets[k % len(targets)]
                k += 1
                a = time.perf_counter()
                try:
                    r = await cl.post("/api/v1/holds", json=_hold_body(c, slot, pid))
                except Exception as exc:  # noqa: BLE001 (counted)
                    counts[f"error {exc.__class__.__name__}"] += 1
                    continue
                ms.append((time.perf_counter() - a) * 1000)
                if r.status_code == 201:
                    counts["201"] += 1
                    won[slot] += 1
                elif r.status_code == 409:
                    detail = str(r.json().get("detail", ""))
                    # The hold's slot check ignores bookings: the exclusion constraint refuses taken slots.
                    kind = ("taken (exclusion constraint)" if "just taken" in detail
                            else "outside the schedule (slot check)" if "not free" in detail
                            else "hold cap per user" if "already hold" in detail else "other 409")  # fmt: skip
                    counts[f"409 {kind}"] += 1
                else:
                    counts[str(r.status_code)] += 1

        t0 = time.perf_counter()
        window.open()
        await asyncio.gather(*(run(i) for i in range(len(clients))))
        secs = time.perf_counter() - t0
        window.close()
    finally:
        await asyncio.gather(*(cl.aclose() for cl in clients))
    conflicts = sum(v for k, v in counts.items() if k.startswith("409"))
    other = {k: v for k, v in counts.items() if k != "201" and not k.startswith("409")}
    return {"clients": len(clients), "slots": len(targets), "slot_starts": targets, "attempts": sum(counts.values()),
            "seconds": round(secs, 2), "attempts_per_s": round(sum(counts.values()) / secs, 1),
            "successes": counts["201"], "conflicts": conflicts,
            "conflicts_by_kind": {k[4:]: v for k, v in counts.items() if k.startswith("409")}, "other": other,
            "successes_per_slot_max": max(won.values()) if won else 0, "slots_won": len(won),
            "latency": paced.pcts(ms), **window.stats}  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    paced.client_main({"throughput": _throughput, "paced": _paced, "contention": _contention})
