"""Directory schemas, named by intent: profiles and services (tenant staff), search and public profiles."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carebase.core.schemas import WriteModel

Mode = Literal["in_person", "video"]
Payment = Literal["at_desk", "online"]
SearchSort = Literal["next_available", "price", "distance"]

# ISO 639-1 two-letter language codes.
ISO_639_1 = frozenset(
    "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en"
    " eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja"
    " jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb"
    " nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq"
    " sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu".split()
)


def check_languages(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for value in values:
        if value not in ISO_639_1:
            raise ValueError("use ISO 639-1 language codes in lower case, e.g. en, hi, kn")
        if value not in out:
            out.append(value)
    if not out:
        raise ValueError("give at least one language")
    return out


def _https_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "/")):
        raise ValueError("use an https:// URL or a path on this site")
    return value


# --- practitioner profiles ------------------------------------------------------------------------


class PractitionerCreate(WriteModel):
    membership_id: uuid.UUID = Field(description="The doctor's staff membership in this organisation")
    display_name: str = Field(min_length=2, max_length=200)
    qualifications: str = Field("", max_length=300)
    bio: str = Field("", max_length=5000)
    languages: list[str] = Field(["en"], max_length=20)
    photo_url: str | None = Field(None, max_length=500)
    approves_bookings: bool = False
    is_published: bool = True
    specialties: list[str] = Field(default_factory=list, max_length=10, description="Specialty codes")

    _langs = field_validator("languages")(check_languages)
    _photo = field_validator("photo_url")(_https_url)


class PractitionerUpdate(WriteModel):
    display_name: str | None = Field(None, min_length=2, max_length=200)
    qualifications: str | None = Field(None, max_length=300)
    bio: str | None = Field(None, max_length=5000)
    languages: list[str] | None = Field(None, max_length=20)
    photo_url: str | None = Field(None, max_length=500)
    approves_bookings: bool | None = None
    is_published: bool | None = None
    is_active: bool | None = None

    _langs = field_validator("languages")(check_languages)
    _photo = field_validator("photo_url")(_https_url)


class SpecialtiesSet(WriteModel):
    codes: list[str] = Field(max_length=10, description="Specialty codes from GET /directory/specialties")


class ServicesSet(WriteModel):
    service_ids: list[uuid.UUID] = Field(max_length=50)


class SpecialtyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str


class PractitionerRead(BaseModel):
    id: uuid.UUID
    membership_id: uuid.UUID
    display_name: str
    qualifications: str
    bio: str
    languages: list[str]
    photo_url: str | None
    approves_bookings: bool
    is_published: bool
    is_active: bool
    specialties: list[SpecialtyRead]
    service_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime


# --- services -------------------------------------------------------------------------------------


class ServiceCreate(WriteModel):
    name: str = Field(min_length=2, max_length=200)
    specialty: str | None = Field(None, max_length=60, description="A specialty code, optional")
    duration_minutes: int = Field(ge=5, le=480)
    price_minor: int = Field(ge=0, le=100_000_000, description="Price in minor units (paise, pence)")
    currency: str = Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    mode: Mode = "in_person"
    payment: Payment = "at_desk"


class ServiceUpdate(WriteModel):
    name: str | None = Field(None, min_length=2, max_length=200)
    specialty: str | None = Field(None, max_length=60)
    duration_minutes: int | None = Field(None, ge=5, le=480)
    price_minor: int | None = Field(None, ge=0, le=100_000_000)
    currency: str | None = Field(None, min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    mode: Mode | None = None
    payment: Payment | None = None
    is_active: bool | None = None


class ServiceRead(BaseModel):
    id: uuid.UUID
    name: str
    specialty: str | None
    duration_minutes: int
    price_minor: int
    currency: str
    mode: str
    payment: str
    is_active: bool


# --- public: search and profiles ------------------------------------------------------------------


class SearchFilters(BaseModel):
    """What the public search accepts (query parameters); checked again together in the service."""

    model_config = ConfigDict(frozen=True)

    specialty: str | None = None
    q: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    city: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None
    language: str | None = None
    mode: Mode | None = None
    available_before: date | None = None
    sort: str = "next_available"
    limit: int = 20
    cursor: str | None = None


class ListingLocation(BaseModel):
    id: uuid.UUID
    name: str
    city: str
    latitude: float | None
    longitude: float | None
    timezone: str


class SearchResult(BaseModel):
    practitioner_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_name: str
    name: str
    qualifications: str
    photo_url: str | None
    specialties: list[SpecialtyRead]
    languages: list[str]
    modes: list[str]
    min_price_minor: int | None
    max_price_minor: int | None
    currency: str
    location: ListingLocation
    distance_km: float | None = None
    next_free_at: datetime | None


class SearchPage(BaseModel):
    items: list[SearchResult]
    next_cursor: str | None = None


class PublicService(BaseModel):
    id: uuid.UUID
    name: str
    duration_minutes: int
    price_minor: int
    currency: str
    mode: str
    payment: str


class PublicProfile(BaseModel):
    practitioner_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_name: str
    name: str
    qualifications: str
    bio: str
    photo_url: str | None
    languages: list[str]
    approves_bookings: bool
    specialties: list[SpecialtyRead]
    services: list[PublicService]
    locations: list[ListingLocation]
    next_free_at: datetime | None
