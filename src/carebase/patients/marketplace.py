"""A patient at any clinic of the marketplace.

One user (the login) may belong to several clinics: in each it has its own patient membership and its own
patient record, made in that clinic, at the patient's request, from what the patient confirmed. Nothing is
shared across tenants: a record of clinic Y is read (audited in Y) to prefill the form, and a new record is
written in clinic X (audited in X).

- ``join_clinic``: a signed-in patient registers at another clinic X and the session moves there.
- ``request_registration_code`` / ``register_new_patient``: someone with no account picks a doctor of X in
  the directory, proves a phone number or email with a one-time code, and becomes X's patient, signed in.

Only an active organisation that publishes to the marketplace (a practitioner in ``directory_listings``, the
public read model) can be joined this way; others answer 404, as if they did not exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.crypto import keyed_hash
from carebase.core.db import set_context
from carebase.core.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from carebase.core.ratelimit import RateLimiter, enforce
from carebase.directory.models import Listing
from carebase.identity import messages, otp
from carebase.identity.login import active_memberships, finish_login, switch_membership
from carebase.identity.models import Membership, User
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.identity.sessions import TokenPair
from carebase.notifications import outbound
from carebase.patients import service as patients
from carebase.patients.models import Patient
from carebase.patients.schemas import PatientCreate
from carebase.patients.schemas_marketplace import NewPatientRegistration
from carebase.settings import get_settings
from carebase.tenancy.models import Organization

NOT_LISTED = "No such clinic on the marketplace."


@dataclass(frozen=True, slots=True)
class Joined:
    clinic: Organization
    membership: Membership
    patient: Patient
    created: bool  # a membership or a record was made (False: both existed, nothing changed)
    tokens: TokenPair


# --- the clinic and the patient's place in it -----------------------------------------------------------------


async def listed_clinic(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID | None) -> Organization:
    """The organisation, if it is active and publishes to the marketplace; the transaction's context
    moves to it. The public listing is read first: no tenant is entered for an unlisted id."""
    listed = await session.scalar(select(exists().where(Listing.tenant_id == organization_id)))
    if not listed:
        raise NotFound(NOT_LISTED)
    await set_context(session, tenant_id=organization_id, user_id=user_id)
    clinic = await session.get(Organization, organization_id)
    if clinic is None or clinic.status != "active" or clinic.kind == "platform":
        raise NotFound(NOT_LISTED)
    return clinic


async def _patient_membership(
    session: AsyncSession, clinic: Organization, user_id: uuid.UUID
) -> tuple[Membership, bool]:
    """The user's patient membership in ``clinic`` (context set to it), made if missing. A transaction
    lock per (clinic, user) makes two simultaneous joins reuse one membership and one record."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('join:' || :t || ':' || :u))"),
        {"t": str(clinic.id), "u": str(user_id)},
    )
    membership = await session.scalar(
        select(Membership).where(Membership.tenant_id == clinic.id, Membership.user_id == user_id)
    )
    if membership is None:
        membership = Membership(tenant_id=clinic.id, user_id=user_id, role=Role.PATIENT.value)
        session.add(membership)
        await session.flush()
        return membership, True
    if membership.role != Role.PATIENT:
        raise PermissionDenied(f"You work at {clinic.name}: sign in there as staff. Its front desk can register you.")
    if membership.status != "active":
        raise PermissionDenied(f"Your registration with {clinic.name} was closed. Please contact the clinic.")
    return membership, False


async def _own_record(
    session: AsyncSession, principal: Principal, details: PatientCreate | None
) -> tuple[Patient, bool]:
    """The principal's own record in its tenant, registered from ``details`` if there is none yet."""
    found = await session.scalar(
        select(Patient).where(Patient.user_id == principal.user_id).order_by(Patient.created_at).limit(1)
    )
    if found is not None:
        return found, False
    if details is None:
        raise ValidationFailed(
            "Tell the clinic who you are: we have no registration of yours to copy.",
            errors=[{"loc": ["body", "details"], "msg": "Enter your name and date of birth.", "type": "missing"}],
        )  # fmt: skip
    patient = await patients.register(session, principal, details)
    patient.user_id = principal.user_id
    await session.flush()
    return patient, True


def _principal(tokens: TokenPair, membership: Membership, full_name: str) -> Principal:
    """The principal of a session this command has just opened (what authentication would build)."""
    return Principal(
        user_id=membership.user_id, tenant_id=tokens.tenant_id, membership_id=membership.id,
        session_id=tokens.session_id, role=tokens.role, full_name=full_name,
    )  # fmt: skip


async def _audit(session: AsyncSession, principal: Principal, action: str, patient: Patient, *,
                 membership_created: bool, record_created: bool, copied: bool = False) -> None:  # fmt: skip
    await audit.record(
        session, principal.tenant_id, action, actor=audit.Actor(principal.user_id, principal.role),
        target_type="patient", target_id=patient.id, patient_id=patient.id,
        details={"membership": "created" if membership_created else "reused",
                 "record": "created" if record_created else "reused", "copied": copied},
    )  # fmt: skip


# --- a signed-in patient joins another clinic ----------------------------------------------------------------


async def details_to_copy(session: AsyncSession, principal: Principal) -> PatientCreate | None:
    """The patient's own demographics where they are signed in (an audited read), to prefill a new clinic's
    form; None when that clinic has not linked a record to them."""
    own = await patients.own_records(session, principal)
    if not own:
        return None
    p = own[0]
    # Stored values were checked when they were entered; they are copied, not parsed again.
    return PatientCreate.model_construct(
        given_name=p.given_name, family_name=p.family_name, birth_date=p.birth_date, sex=p.sex, phone=p.phone,
        email=p.email,
    )  # fmt: skip


async def join_clinic(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, details: PatientCreate | None
) -> Joined:
    """Register the signed-in patient at another clinic of the marketplace and move the session there.
    ``details`` are the demographics as the patient confirmed them; None copies those of their record
    here. Joining again reuses the membership and the record and changes nothing but the session."""
    if principal.role is not Role.PATIENT:
        raise PermissionDenied("Only patients can register themselves with a clinic.")
    copied = details is None
    source = details or await details_to_copy(session, principal)
    clinic = await listed_clinic(session, organization_id, principal.user_id)
    membership, membership_created = await _patient_membership(session, clinic, principal.user_id)
    tokens = await switch_membership(session, principal, membership.id)
    there = _principal(tokens, membership, principal.full_name)
    # With nothing to copy and nothing there yet, this raises: the whole command rolls back.
    patient, record_created = await _own_record(session, there, source)
    await _audit(session, there, "patients.clinic.joined", patient, membership_created=membership_created,
                 record_created=record_created, copied=copied and record_created)  # fmt: skip
    return Joined(clinic, membership, patient, membership_created or record_created, tokens)


# --- someone new registers with a clinic ---------------------------------------------------------------------


async def request_registration_code(
    session: AsyncSession, limiter: RateLimiter, *, organization_id: uuid.UUID, destination: str, ip: str | None
) -> None:
    """Send a one-time code to prove the phone or email a new patient registers with. The sign-in codes'
    limits and rules apply (same keys: asking here and at sign-in counts together; a new code voids older
    ones; 10 minutes, 5 tries). Unlike sign-in, the code is always sent: the destination is not known yet,
    and the answer is the same whether an account has it or not."""
    _, value = otp.normalise_destination(destination)
    dest_hash = await otp.limit_code_requests(limiter, value, ip)
    await listed_clinic(session, organization_id, None)
    code, minutes = await otp.issue_code(session, dest_hash, None)
    outbound.queue(session, messages.login_code(value, code, minutes))


async def _consume_code(session: AsyncSession, dest_hash: str, code: str) -> None:
    """Check and use up the newest live code of a destination (sign-in's rules: 5 tries, then void).
    Failures keep the counted try (``keep_changes``)."""
    row, matches = await otp.check_code(session, dest_hash, code)
    if not matches:
        raise NotAuthenticated(otp.CODE_INVALID, keep_changes=True)
    row.consumed_at = utcnow()


async def _user_for(session: AsyncSession, kind: str, value: str, data: NewPatientRegistration) -> User:
    """The account of a proven destination, or a new one. An existing account may register only if it
    is a patient's (an account that is staff only signs in with its password, not with codes)."""
    column = func.lower(User.email) if kind == "email" else User.phone
    user = await session.scalar(select(User).where(column == value))
    if user is None:
        user = User(email=value if kind == "email" else None, phone=value if kind == "phone" else None,
                    full_name=f"{data.given_name} {data.family_name}"[:200])  # fmt: skip
        session.add(user)
        await session.flush()
        return user
    if not user.is_active:
        raise PermissionDenied("This account is closed. Please contact the clinic.")
    await set_context(session, tenant_id=None, user_id=user.id)
    roles = {m.role for m, _ in await active_memberships(session, user.id)}
    if roles - {Role.PATIENT.value} and Role.PATIENT.value not in roles:
        raise Conflict("This contact belongs to a staff account. Use another phone number or email, or ask the "
                       "clinic's front desk to register you.")  # fmt: skip
    return user


async def register_new_patient(
    session: AsyncSession, limiter: RateLimiter, data: NewPatientRegistration, *, ip: str | None,
    user_agent: str | None,
) -> Joined:  # fmt: skip
    """Make the account (if the destination has none), the membership and the record at the clinic, and sign
    in there. A destination that already belongs to a patient joins the clinic with that account."""
    kind, value = otp.normalise_destination(data.destination)
    await enforce(limiter, f"otp-verify:ip:{ip}", get_settings().rate_limits.otp_per_ip)
    clinic = await listed_clinic(session, data.organization_id, None)
    await _consume_code(session, keyed_hash("destination", value), data.code)
    user = await _user_for(session, kind, value, data)
    await set_context(session, tenant_id=clinic.id, user_id=user.id)
    membership, membership_created = await _patient_membership(session, clinic, user.id)
    outcome = await finish_login(session, user, membership, via="otp", mfa_verified=False, device_token=None,
                                 user_agent=user_agent)  # fmt: skip
    assert outcome.tokens is not None  # patients never wait for a device approval
    there = _principal(outcome.tokens, membership, user.full_name)
    details = PatientCreate(
        given_name=data.given_name, family_name=data.family_name, birth_date=data.birth_date, sex=data.sex,
        email=value if kind == "email" else None, phone=value if kind == "phone" else None,
    )  # fmt: skip
    patient, record_created = await _own_record(session, there, details)
    await _audit(session, there, "patients.clinic.registered", patient, membership_created=membership_created,
                 record_created=record_created)  # fmt: skip
    return Joined(clinic, membership, patient, membership_created or record_created, outcome.tokens)
