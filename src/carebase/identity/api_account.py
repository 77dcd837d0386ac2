"""Account API: me, password, MFA enrolment, sessions, own devices."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from carebase.identity import account, devices, mfa, otp, sessions
from carebase.identity.deps import Auth, AuthAllowMfaPending
from carebase.identity.schemas import (
    ChangePassword,
    DeviceRead,
    MeRead,
    MfaCode,
    MfaEnrolmentRead,
    RecoveryCodesRead,
    SessionRead,
)

router = APIRouter(prefix="/me", tags=["account"])


def device_read(device: object, user: object) -> DeviceRead:
    return DeviceRead(
        id=device.id, user_id=device.user_id, user_name=user.full_name, label=device.label,  # type: ignore[attr-defined]
        status=device.status, created_at=device.created_at, last_seen_at=device.last_seen_at,  # type: ignore[attr-defined]
        ip=device.ip,  # type: ignore[attr-defined]
    )


@router.get("", response_model=MeRead)
async def read_me(ctx: AuthAllowMfaPending) -> MeRead:
    return await account.me(ctx.session, ctx.principal)


@router.put("/password", status_code=204)
async def change_password(body: ChangePassword, ctx: Auth) -> Response:
    await otp.change_password(
        ctx.session, ctx.principal, current_password=body.current_password, new_password=body.new_password
    )
    return Response(status_code=204)


@router.post("/mfa/enrolment", response_model=MfaEnrolmentRead)
async def start_mfa(ctx: AuthAllowMfaPending) -> MfaEnrolmentRead:
    e = await mfa.begin_enrolment(ctx.session, ctx.principal)
    return MfaEnrolmentRead(secret=e.secret, otpauth_uri=e.otpauth_uri, qr_svg=e.qr_svg)


@router.post("/mfa/enrolment/confirm", response_model=RecoveryCodesRead)
async def confirm_mfa(body: MfaCode, ctx: AuthAllowMfaPending) -> RecoveryCodesRead:
    return RecoveryCodesRead(recovery_codes=await mfa.confirm_enrolment(ctx.session, ctx.principal, body.code))


@router.post("/mfa/disable", status_code=204)
async def disable_mfa(body: MfaCode, ctx: Auth) -> Response:
    await mfa.disable(ctx.session, ctx.principal, body.code)
    return Response(status_code=204)


@router.get("/sessions", response_model=list[SessionRead])
async def my_sessions(ctx: AuthAllowMfaPending) -> list[SessionRead]:
    rows = await sessions.list_sessions(ctx.session, ctx.principal)
    return [
        SessionRead.model_validate(s).model_copy(update={"current": s.id == ctx.principal.session_id}) for s in rows
    ]


@router.delete("/sessions/{session_id}", status_code=204)
async def revoke_my_session(session_id: uuid.UUID, ctx: AuthAllowMfaPending) -> Response:
    await sessions.revoke_session(ctx.session, ctx.principal, session_id)
    return Response(status_code=204)


@router.get("/devices", response_model=list[DeviceRead])
async def my_devices(ctx: Auth) -> list[DeviceRead]:
    return [device_read(d, u) for d, u in await devices.list_devices(ctx.session, ctx.principal, mine=True)]
