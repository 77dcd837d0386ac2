"""Schedule schemas: weekly templates, exceptions (time off, extra sessions), holidays."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carebase.core.schemas import WriteModel
from carebase.tenancy.schemas import check_timezone

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _wall_time(value: time | None) -> time | None:
    if value is not None and value.tzinfo is not None:
        raise ValueError("give a local wall time without an offset: it is read in the location's timezone")
    return value


def resolve_local(value: datetime, zone: str) -> datetime:
    """A naive local datetime in ``zone`` as an aware one; refuses wall times that do not exist
    there (skipped by a DST change)."""
    tz = ZoneInfo(zone)
    aware = value.replace(tzinfo=tz)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value:
        raise ValueError(f"{value:%Y-%m-%d %H:%M} does not exist in {zone} (clocks change then)")
    return aware


class TemplateCreate(WriteModel):
    location_id: uuid.UUID
    weekday: int = Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")
    start_time: time = Field(description="Local wall time at the location, e.g. 09:00")
    end_time: time
    slot_minutes: int = Field(15, ge=5, le=240)
    valid_from: date
    valid_until: date | None = None

    _wall = field_validator("start_time", "end_time")(_wall_time)

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must be on or after valid_from")
        return self


class TemplateUpdate(WriteModel):
    location_id: uuid.UUID | None = None
    weekday: int | None = Field(None, ge=0, le=6)
    start_time: time | None = None
    end_time: time | None = None
    slot_minutes: int | None = Field(None, ge=5, le=240)
    valid_from: date | None = None
    valid_until: date | None = None
    is_active: bool | None = None

    _wall = field_validator("start_time", "end_time")(_wall_time)


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    practitioner_id: uuid.UUID
    location_id: uuid.UUID
    weekday: int
    start_time: time
    end_time: time
    slot_minutes: int
    valid_from: date
    valid_until: date | None
    is_active: bool


class ExceptionCreate(WriteModel):
    """Time off removes time, an extra session adds bookable time. ``starts_at``/``ends_at`` with an
    offset are absolute; without one they are local wall times in ``timezone`` (an IANA zone)."""

    kind: Literal["time_off", "extra"]
    starts_at: datetime
    ends_at: datetime
    timezone: str | None = Field(None, description="IANA zone for times given without an offset")
    location_id: uuid.UUID | None = Field(None, description="Required for extra sessions")
    slot_minutes: int = Field(15, ge=5, le=240)
    reason: str = Field("", max_length=200)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="after")
    def _absolute(self) -> Self:
        for name in ("starts_at", "ends_at"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                if self.timezone is None:
                    raise ValueError(f"{name} has no UTC offset: add one or give a timezone")
                value = resolve_local(value, self.timezone)
            setattr(self, name, value.astimezone(UTC))
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.kind == "extra" and self.location_id is None:
            raise ValueError("an extra session needs a location_id")
        return self


class ExceptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    practitioner_id: uuid.UUID
    location_id: uuid.UUID | None
    kind: str
    starts_at: datetime
    ends_at: datetime
    slot_minutes: int
    reason: str


class HolidayCreate(WriteModel):
    day: date
    name: str = Field(min_length=2, max_length=200)
    location_id: uuid.UUID | None = Field(None, description="Only this location; empty: the whole organisation")


class HolidayRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    day: date
    name: str
    location_id: uuid.UUID | None


class CalendarTokenRead(BaseModel):
    """Shown once: only a hash of the token is stored."""

    practitioner_id: uuid.UUID
    url: str
