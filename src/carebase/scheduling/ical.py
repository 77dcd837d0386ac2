"""iCalendar (RFC 5545): one appointment as an .ics, and a practitioner's private feed.

Written by hand (a few properties, no dependency): CRLF line ends, lines folded at 75 octets
without splitting a UTF-8 character, TEXT values escaped, all times in UTC. The feed never
names patients: its events read "Appointment: <service>"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from carebase.core.clock import utcnow

PRODID = "-//Carebase//Scheduling//EN"

_STATUS = {
    "held": "TENTATIVE",
    "requested": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "checked_in": "CONFIRMED",
    "in_consultation": "CONFIRMED",
    "completed": "CONFIRMED",
}


def ics_status(status: str) -> str:
    """CONFIRMED, TENTATIVE (held, awaiting approval) or CANCELLED (cancelled, no-show, expired, moved)."""
    return _STATUS.get(status, "CANCELLED")


def escape_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def fold(line: str) -> bytes:
    """A content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    out: list[bytes] = []
    current = b""
    limit = 75
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > limit:
            out.append(current)
            current = b" "
            limit = 75
        current += encoded
    out.append(current)
    return b"\r\n".join(out) + b"\r\n"


def utc_stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _location_text(location: Any) -> str:
    if location is None:
        return ""
    if isinstance(location, str):
        return location
    parts = [getattr(location, "name", ""), getattr(location, "address_line", ""), getattr(location, "city", "")]
    return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One appointment for the practitioner's feed (no patient data)."""

    appointment: Any
    location: Any
    service_name: str
    tz: str


def _event(appointment: Any, summary: str, location: Any, description: str, stamp: datetime) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{appointment.id}@carebase",
        f"DTSTAMP:{utc_stamp(stamp)}",
        f"DTSTART:{utc_stamp(appointment.starts_at)}",
        f"DTEND:{utc_stamp(appointment.ends_at)}",
        f"SUMMARY:{escape_text(summary)}",
    ]
    where = _location_text(location)
    if where:
        lines.append(f"LOCATION:{escape_text(where)}")
    if description:
        lines.append(f"DESCRIPTION:{escape_text(description)}")
    lines += [
        f"STATUS:{ics_status(appointment.status)}",
        f"SEQUENCE:{int(getattr(appointment, 'version', 0) or 0)}",
        "END:VEVENT",
    ]
    return lines


def _local(value: datetime, tz: str) -> str:
    local = value.astimezone(ZoneInfo(tz))
    return f"{local:%a %d %b %Y, %H:%M} ({tz})"


def _calendar(lines: Iterable[str], name: str | None = None) -> bytes:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    if name:
        head.append(f"X-WR-CALNAME:{escape_text(name)}")
    return b"".join(fold(line) for line in [*head, *lines, "END:VCALENDAR"])


def appointment_ics(appointment: Any, practitioner_name: str, location: Any, service_name: str, tz: str) -> bytes:
    """One appointment as a calendar with one VEVENT; ``tz`` is the location's IANA zone (used for
    the local time in the description: DTSTART/DTEND are UTC)."""
    summary = f"{service_name} with {practitioner_name}"
    description = f"{service_name} with {practitioner_name}, {_local(appointment.starts_at, tz)}"
    return _calendar(_event(appointment, summary, location, description, utcnow()))


def practitioner_feed_ics(practitioner_name: str, items: Iterable[FeedItem]) -> bytes:
    """The practitioner's appointments as one calendar. Events say "Appointment: <service>" and
    nothing about the patient."""
    stamp = utcnow()
    lines: list[str] = []
    for item in items:
        summary = f"Appointment: {item.service_name}"
        lines += _event(item.appointment, summary, item.location, _local(item.appointment.starts_at, item.tz), stamp)
    return _calendar(lines, name=f"{practitioner_name} (Carebase)")
