"""Tenancy schemas, named by intent."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from carebase.core.schemas import WriteModel

Slug = Field(min_length=2, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def check_timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError("unknown IANA timezone, e.g. Asia/Kolkata or Europe/London")
    ZoneInfo(value)
    return value


class TenantCreate(WriteModel):
    name: str = Field(min_length=2, max_length=200)
    slug: str = Slug
    kind: Literal["hospital", "clinic"]
    country: str = Field("IN", min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")
    currency: str = Field("INR", min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    timezone: str = "Asia/Kolkata"
    admin_email: EmailStr
    admin_name: str = Field(min_length=2, max_length=200)

    _tz = field_validator("timezone")(check_timezone)


class TenantUpdate(WriteModel):
    name: str | None = Field(None, min_length=2, max_length=200)
    status: Literal["active", "suspended"] | None = None


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    kind: str
    status: str
    country: str
    currency: str
    timezone: str
    created_at: datetime


class PolicyUpdate(WriteModel):
    device_approval_required: bool | None = None
    cancellation_cutoff_hours: int | None = Field(None, ge=0, le=168)
    # How far ahead bookings open, in days (holds, reschedules, the free slots offered).
    booking_horizon_days: int | None = Field(None, ge=1, le=730)
    marketplace: bool | None = None
    # Quiet hours in the organisation's timezone: routine messages wait until they end.
    quiet_hours_enabled: bool | None = None
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None

    @field_validator("quiet_hours_end")
    @classmethod
    def _end_differs(cls, end: time | None, info: ValidationInfo) -> time | None:
        if end is not None and end == info.data.get("quiet_hours_start"):
            raise ValueError("The end must differ from the start.")
        return end


class PolicyRead(BaseModel):
    device_approval_required: bool
    cancellation_cutoff_hours: int
    booking_horizon_days: int
    marketplace: bool = False
    quiet_hours_enabled: bool = False
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)


class LocationCreate(WriteModel):
    name: str = Field(min_length=2, max_length=200)
    address_line: str = Field("", max_length=300)
    city: str = Field("", max_length=120)
    postal_code: str = Field("", max_length=20)
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")
    timezone: str
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    phone: str | None = Field(None, max_length=20)

    _tz = field_validator("timezone")(check_timezone)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        from carebase.patients.schemas import check_phone

        return check_phone(value, info.data.get("country") or "IN")


class LocationUpdate(WriteModel):
    name: str | None = Field(None, min_length=2, max_length=200)
    address_line: str | None = Field(None, max_length=300)
    city: str | None = Field(None, max_length=120)
    postal_code: str | None = Field(None, max_length=20)
    timezone: str | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    phone: str | None = Field(None, max_length=20)
    is_active: bool | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        from carebase.patients.schemas import check_phone

        return check_phone(value)  # national numbers as Indian ones; others with their +country code

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class LocationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    address_line: str
    city: str
    postal_code: str
    country: str
    timezone: str
    latitude: float | None
    longitude: float | None
    phone: str | None
    is_active: bool


class DepartmentCreate(WriteModel):
    name: str = Field(min_length=2, max_length=200)
    location_id: uuid.UUID | None = None


class DepartmentUpdate(WriteModel):
    name: str | None = Field(None, min_length=2, max_length=200)
    location_id: uuid.UUID | None = None
    is_active: bool | None = None


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    location_id: uuid.UUID | None
    is_active: bool
