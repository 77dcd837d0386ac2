"""Identity schemas, named by intent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from carebase.core.schemas import WriteModel
from carebase.identity.roles import Role

StaffRole = Literal["hospital_admin", "doctor", "nurse", "pharmacist", "lab_staff", "receptionist"]


class PasswordLogin(WriteModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    tenant_id: uuid.UUID | None = None
    device_token: str | None = Field(None, min_length=16, max_length=128)


class MfaLogin(WriteModel):
    mfa_token: str = Field(min_length=10, max_length=4096)
    code: str = Field(min_length=6, max_length=20)


class OtpRequest(WriteModel):
    destination: str = Field(min_length=3, max_length=254, description="A phone number or email address")


class OtpVerify(WriteModel):
    destination: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")
    tenant_id: uuid.UUID | None = None


class RefreshRequest(WriteModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class SwitchTenant(WriteModel):
    membership_id: uuid.UUID


class ForgotPassword(WriteModel):
    email: EmailStr


class ResetPassword(WriteModel):
    token: str = Field(min_length=20, max_length=200)
    new_password: str = Field(max_length=1024)


class ChangePassword(WriteModel):
    current_password: str | None = Field(None, max_length=1024)
    new_password: str = Field(max_length=1024)


class MfaCode(WriteModel):
    code: str = Field(min_length=6, max_length=20)


class TokenResponse(BaseModel):
    status: Literal["ok"] = "ok"
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    role: Role
    tenant_id: uuid.UUID
    mfa_enrolment_required: bool


class PendingLogin(BaseModel):
    status: Literal["mfa_required", "device_pending"]
    mfa_token: str | None = None
    device_id: uuid.UUID | None = None
    device_token: str | None = None
    detail: str


class MembershipRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_name: str
    role: Role
    status: str


class MeRead(BaseModel):
    id: uuid.UUID
    full_name: str
    email: str | None
    phone: str | None
    role: Role
    tenant_id: uuid.UUID
    tenant_name: str
    membership_id: uuid.UUID
    mfa_enabled: bool
    mfa_enrolment_required: bool
    permissions: list[str]
    memberships: list[MembershipRead]


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    via: str
    current: bool = False


class MfaEnrolmentRead(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodesRead(BaseModel):
    recovery_codes: list[str]


class DeviceRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    user_name: str
    label: str
    status: str
    created_at: datetime
    last_seen_at: datetime | None
    ip: str | None


class StaffInvite(WriteModel):
    email: EmailStr
    full_name: str = Field(min_length=2, max_length=200)
    role: StaffRole
    title: str | None = Field(None, max_length=120)
    department_id: uuid.UUID | None = None


class StaffUpdate(WriteModel):
    role: StaffRole | None = None
    status: Literal["active", "deactivated"] | None = None
    title: str | None = Field(None, max_length=120)
    department_id: uuid.UUID | None = None


class StaffRead(BaseModel):
    membership_id: uuid.UUID
    user_id: uuid.UUID
    full_name: str
    email: str | None
    role: Role
    status: str
    title: str | None
    department_id: uuid.UUID | None
    mfa_enabled: bool
    created_at: datetime
