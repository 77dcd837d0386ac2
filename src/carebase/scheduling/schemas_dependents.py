"""Dependents schemas: family members a patient user books for."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from carebase.patients.schemas import PatientCreate

Relationship = Literal["child", "parent", "spouse", "other"]


class DependentCreate(PatientCreate):
    """The family member's registration details, how they are related, and the consent given."""

    relationship: Relationship
    consent_note: str = Field(min_length=1, max_length=2000)


class DependentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    patient_id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    birth_date: date | None
    sex: str
    relationship: str
    consent_note: str
    linked_at: datetime
