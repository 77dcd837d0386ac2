"""Booking schemas."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from carebase.core.schemas import WriteModel


class SlotRead(BaseModel):
    starts_at: datetime
    ends_at: datetime
    location_id: uuid.UUID
    local_start: str = Field(description="Wall-clock start in the location's zone, ISO 8601 with offset")


class AvailabilityRead(BaseModel):
    practitioner_id: uuid.UUID
    service_id: uuid.UUID
    duration_minutes: int
    price_minor: int
    currency: str
    mode: str
    first_day: date
    last_day: date
    timezones: dict[str, str]
    slots: list[SlotRead]


class HoldCreate(WriteModel):
    practitioner_id: uuid.UUID
    service_id: uuid.UUID
    patient_id: uuid.UUID
    starts_at: AwareDatetime
    location_id: uuid.UUID | None = None
    source: Literal["patient", "front_desk", "phone", "walk_in"] = "patient"
    reason: str = Field("", max_length=500)


class CancelRequest(WriteModel):
    reason: str = Field(min_length=2, max_length=500)


class RescheduleRequest(WriteModel):
    starts_at: AwareDatetime
    location_id: uuid.UUID | None = None


class WaitlistCreate(WriteModel):
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    service_id: uuid.UUID
    earliest_date: date
    latest_date: date


class WaitlistRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    service_id: uuid.UUID
    earliest_date: date
    latest_date: date
    status: str
    offered_appointment_id: uuid.UUID | None
    offer_expires_at: datetime | None
    created_at: datetime


class AppointmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    practitioner_id: uuid.UUID
    patient_id: uuid.UUID
    service_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    hold_expires_at: datetime | None
    source: str
    mode: str
    price_minor: int
    currency: str
    payment_status: str
    reason: str
    cancel_reason: str | None
    rescheduled_from_id: uuid.UUID | None
    rescheduled_to_id: uuid.UUID | None
    checked_in_at: datetime | None
    version: int
    created_at: datetime
