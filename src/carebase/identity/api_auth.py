"""Sign-in API: password, MFA step, patient one-time codes, refresh, sign-out, password links."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from carebase.core.context import client_ip_var, user_agent_var
from carebase.core.ratelimit import enforce
from carebase.identity import login, otp, sessions
from carebase.identity.deps import AuthAllowMfaPending, DbSession, Limiter
from carebase.identity.login import LoginOutcome
from carebase.identity.schemas import (
    ForgotPassword,
    MfaLogin,
    OtpRequest,
    OtpVerify,
    PasswordLogin,
    PendingLogin,
    RefreshRequest,
    ResetPassword,
    SwitchTenant,
    TokenResponse,
)
from carebase.identity.sessions import TokenPair
from carebase.settings import get_settings

router = APIRouter(prefix="/auth", tags=["sign-in"])

PENDING_DETAIL = {
    "mfa_required": "Enter the 6-digit code from your authenticator app (or a recovery code).",
    "device_pending": "This device needs an administrator's approval. Try again once it is approved.",
}


def token_response(tokens: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=tokens.access_token, expires_in=tokens.expires_in, refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at, role=tokens.role, tenant_id=tokens.tenant_id,
        mfa_enrolment_required=tokens.mfa_pending,
    )  # fmt: skip


def outcome_response(outcome: LoginOutcome) -> TokenResponse | JSONResponse:
    if outcome.tokens is not None:
        return token_response(outcome.tokens)
    body = PendingLogin(
        status=outcome.status,  # type: ignore[arg-type]
        mfa_token=outcome.mfa_token,
        device_id=outcome.device_id,
        device_token=outcome.device_token,
        detail=PENDING_DETAIL[outcome.status],
    )
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=202)


LOGIN_RESPONSES: dict[int | str, dict[str, object]] = {202: {"model": PendingLogin}}


@router.post("/login", response_model=TokenResponse, responses=LOGIN_RESPONSES)
async def password_login(body: PasswordLogin, session: DbSession, limiter: Limiter) -> TokenResponse | JSONResponse:
    outcome = await login.password_login(
        session, limiter, email=str(body.email), password=body.password, tenant_id=body.tenant_id,
        device_token=body.device_token, ip=client_ip_var.get(), user_agent=user_agent_var.get(),
    )  # fmt: skip
    return outcome_response(outcome)


@router.post("/mfa", response_model=TokenResponse, responses=LOGIN_RESPONSES)
async def mfa_login(body: MfaLogin, session: DbSession, limiter: Limiter) -> TokenResponse | JSONResponse:
    outcome = await login.mfa_login(
        session, limiter, mfa_token=body.mfa_token, code=body.code, user_agent=user_agent_var.get()
    )
    return outcome_response(outcome)


@router.post("/otp/request", status_code=202)
async def request_code(body: OtpRequest, session: DbSession, limiter: Limiter) -> dict[str, str]:
    await otp.request_login_code(session, limiter, destination=body.destination, ip=client_ip_var.get())
    return {"detail": "If this phone number or email is registered, a code is on its way."}


@router.post("/otp/verify", response_model=TokenResponse, responses=LOGIN_RESPONSES)
async def verify_code(body: OtpVerify, session: DbSession, limiter: Limiter) -> TokenResponse | JSONResponse:
    outcome = await otp.verify_login_code(
        session, limiter, destination=body.destination, code=body.code, tenant_id=body.tenant_id,
        ip=client_ip_var.get(), user_agent=user_agent_var.get(),
    )  # fmt: skip
    return outcome_response(outcome)


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, session: DbSession, limiter: Limiter) -> TokenResponse:
    await enforce(limiter, f"refresh:ip:{client_ip_var.get()}", get_settings().rate_limits.refresh_per_ip)
    return token_response(await sessions.refresh(session, body.refresh_token))


@router.post("/logout", status_code=204)
async def logout(ctx: AuthAllowMfaPending) -> Response:
    await sessions.revoke_session(ctx.session, ctx.principal, ctx.principal.session_id, reason="logout")
    return Response(status_code=204)


@router.post("/switch", response_model=TokenResponse)
async def switch(body: SwitchTenant, ctx: AuthAllowMfaPending) -> TokenResponse:
    return token_response(await login.switch_membership(ctx.session, ctx.principal, body.membership_id))


@router.post("/password/forgot", status_code=202)
async def forgot(body: ForgotPassword, session: DbSession, limiter: Limiter) -> dict[str, str]:
    await otp.forgot_password(session, limiter, email=str(body.email), ip=client_ip_var.get())
    return {"detail": "If this email is registered, a link to choose a new password is on its way."}


@router.post("/password/reset", status_code=204)
async def reset(body: ResetPassword, session: DbSession) -> Response:
    await otp.reset_password(session, token=body.token, new_password=body.new_password)
    return Response(status_code=204)
