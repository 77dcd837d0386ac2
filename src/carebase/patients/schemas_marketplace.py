"""Schemas for belonging to several clinics of the marketplace: joining another clinic as a signed-in
patient, and registering as a new patient with a one-time code."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field, ValidationError, field_validator

from carebase.core.schemas import WriteModel
from carebase.identity.schemas import TokenResponse
from carebase.patients.schemas import PatientCreate, PatientRead, Sex


class JoinClinic(WriteModel):
    organization_id: uuid.UUID = Field(description="A clinic that publishes doctors to the marketplace")
    details: PatientCreate | None = Field(
        None,
        description="Your details as you confirmed them for the new clinic; left out, they are copied from your "
        "registration where you are signed in now",
    )


class RegistrationCodeRequest(WriteModel):
    organization_id: uuid.UUID
    destination: str = Field(min_length=3, max_length=254, description="A phone number or email address")


class NewPatientRegistration(WriteModel):
    organization_id: uuid.UUID
    destination: str = Field(min_length=3, max_length=254, description="Where the code was sent")
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: date
    sex: Sex = "unknown"

    @field_validator("birth_date")
    @classmethod
    def _born(cls, value: date) -> date:
        # The register's own rule, so the two entry points cannot drift apart.
        try:
            PatientCreate(given_name="-", family_name="-", birth_date=value)
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["ctx"]["error"])) from None
        return value


class ClinicJoined(BaseModel):
    organization_id: uuid.UUID
    organization_name: str
    membership_id: uuid.UUID
    patient: PatientRead
    created: bool = Field(description="False when you were already registered there (nothing new was made)")
    tokens: TokenResponse = Field(description="A session in the clinic you joined; the previous one has ended")
