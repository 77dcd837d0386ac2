"""Patient register schemas."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from carebase.core.errors import ValidationFailed
from carebase.core.schemas import WriteModel

Sex = Literal["female", "male", "other", "unknown"]


def check_phone(value: str | None, region: str = "IN") -> str | None:
    """A phone number as entered (national numbers read in ``region``), checked with ``phonenumbers``; E.164."""
    if value is None:
        return None
    from carebase.identity.otp import normalise_destination

    try:
        kind, normalised = normalise_destination(value, region)
    except ValidationFailed as exc:
        # Reported by pydantic under this field's name, not under the helper's "destination".
        raise ValueError("enter a valid phone number") from exc
    if kind != "phone":
        raise ValueError("enter a phone number")
    return normalised


class PatientCreate(WriteModel):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: date | None = None
    sex: Sex = "unknown"
    phone: str | None = Field(None, max_length=20)
    email: EmailStr | None = None

    @field_validator("phone")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        return check_phone(value)

    @field_validator("birth_date")
    @classmethod
    def _not_future(cls, value: date | None) -> date | None:
        if value is not None and (value > date.today() or value.year < 1900):  # noqa: DTZ011
            raise ValueError("birth date must be between 1900 and today")
        return value


class PatientUpdate(PatientCreate):
    given_name: str | None = Field(None, min_length=1, max_length=100)  # type: ignore[assignment]
    family_name: str | None = Field(None, min_length=1, max_length=100)  # type: ignore[assignment]
    sex: Sex | None = None  # type: ignore[assignment]


class PatientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    birth_date: date | None
    sex: str
    phone: str | None
    email: str | None
    is_active: bool
    created_at: datetime
