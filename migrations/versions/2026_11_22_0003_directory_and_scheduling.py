"""directory and scheduling: specialties (seeded), practitioners, services, public listings,
schedule templates and exceptions, holidays, appointments with the no-double-booking exclusion
constraint, waitlist, dependents; RLS and grants.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 22:46:01.930843
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from carebase.core import rls

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "specialties",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("keywords", sa.Text(), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_specialties")),
        sa.UniqueConstraint("code", name=op.f("uq_specialties_code")),
    )
    op.create_table(
        "directory_listings",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_name", sa.String(length=200), nullable=False),
        sa.Column("practitioner_name", sa.String(length=200), nullable=False),
        sa.Column("qualifications", sa.String(length=300), server_default="", nullable=False),
        sa.Column("photo_url", sa.String(length=500), nullable=True),
        sa.Column("specialty_codes", sa.ARRAY(sa.String(length=60)), nullable=False),
        sa.Column("specialty_names", sa.ARRAY(sa.String(length=120)), nullable=False),
        sa.Column("languages", sa.ARRAY(sa.String(length=8)), nullable=False),
        sa.Column("modes", sa.ARRAY(sa.String(length=10)), nullable=False),
        sa.Column("min_price_minor", sa.Integer(), nullable=True),
        sa.Column("max_price_minor", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("location_name", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("next_free_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("search", postgresql.TSVECTOR(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["organizations.id"],
            name=op.f("fk_directory_listings_tenant_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("practitioner_id", "location_id", name=op.f("pk_directory_listings")),
    )
    op.create_index("ix_directory_listings_geo", "directory_listings", ["latitude", "longitude"], unique=False)
    op.create_index(
        "ix_directory_listings_name_trgm",
        "directory_listings",
        ["practitioner_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"practitioner_name": "gin_trgm_ops"},
    )
    op.create_index("ix_directory_listings_next_free", "directory_listings", ["next_free_at"], unique=False)
    op.create_index(
        "ix_directory_listings_search", "directory_listings", ["search"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_directory_listings_specialties",
        "directory_listings",
        ["specialty_codes"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(op.f("ix_directory_listings_tenant_id"), "directory_listings", ["tenant_id"], unique=False)
    op.create_table(
        "services",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("specialty_id", sa.Uuid(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("payment", sa.String(length=10), server_default="at_desk", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("mode IN ('in_person', 'video')", name=op.f("ck_services_mode")),
        sa.CheckConstraint("payment IN ('at_desk', 'online')", name=op.f("ck_services_payment")),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 480", name=op.f("ck_services_duration")),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_services_price")),
        sa.ForeignKeyConstraint(
            ["specialty_id"], ["specialties.id"], name=op.f("fk_services_specialty_id_specialties")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["organizations.id"], name=op.f("fk_services_tenant_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    op.create_index(op.f("ix_services_tenant_id"), "services", ["tenant_id"], unique=False)
    op.create_table(
        "dependents",
        sa.Column("guardian_user_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("relationship", sa.String(length=10), nullable=False),
        sa.Column("consent_note", sa.Text(), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "relationship IN ('child', 'parent', 'spouse', 'other')", name=op.f("ck_dependents_relationship")
        ),
        sa.ForeignKeyConstraint(["guardian_user_id"], ["users.id"], name=op.f("fk_dependents_guardian_user_id_users")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_dependents_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_dependents_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dependents")),
    )
    op.create_index(op.f("ix_dependents_guardian_user_id"), "dependents", ["guardian_user_id"], unique=False)
    op.create_index(op.f("ix_dependents_tenant_id"), "dependents", ["tenant_id"], unique=False)
    op.create_index("uq_dependents_pair", "dependents", ["tenant_id", "guardian_user_id", "patient_id"], unique=True)
    op.create_table(
        "holidays",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_holidays_location_id_locations")),
        sa.ForeignKeyConstraint(["tenant_id"], ["organizations.id"], name=op.f("fk_holidays_tenant_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holidays")),
    )
    op.create_index(op.f("ix_holidays_tenant_id"), "holidays", ["tenant_id"], unique=False)
    op.create_index("uq_holidays_day", "holidays", ["tenant_id", "day", "location_id"], unique=True)
    op.create_table(
        "practitioners",
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("qualifications", sa.String(length=300), server_default="", nullable=False),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column("languages", sa.ARRAY(sa.String(length=8)), server_default=sa.text("'{en}'"), nullable=False),
        sa.Column("photo_url", sa.String(length=500), nullable=True),
        sa.Column("approves_bookings", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_published", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("calendar_token", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["memberships.id"], name=op.f("fk_practitioners_membership_id_memberships")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_practitioners_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioners")),
        sa.UniqueConstraint("calendar_token", name=op.f("uq_practitioners_calendar_token")),
    )
    op.create_index(op.f("ix_practitioners_tenant_id"), "practitioners", ["tenant_id"], unique=False)
    op.create_index("uq_practitioners_membership", "practitioners", ["tenant_id", "membership_id"], unique=True)
    op.create_table(
        "appointments",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("booked_by_user_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("cancelled_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("rescheduled_to_id", sa.Uuid(), nullable=True),
        sa.Column("rescheduled_from_id", sa.Uuid(), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("practitioner_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at)"), "&&"),
            where=sa.text("status IN ('held', 'requested', 'confirmed', 'checked_in', 'in_consultation')"),
            using="gist",
            name="no_double_booking",
        ),
        sa.CheckConstraint(
            "payment_status IN ('at_desk', 'pending', 'paid', 'not_required')", name=op.f("ck_appointments_payment")
        ),
        sa.CheckConstraint(
            "source IN ('patient', 'front_desk', 'phone', 'walk_in', 'waitlist')", name=op.f("ck_appointments_source")
        ),
        sa.CheckConstraint(
            "status IN ('held', 'requested', 'confirmed', 'checked_in', 'in_consultation', 'completed', 'cancelled', 'no_show', 'expired', 'rescheduled')",
            name=op.f("ck_appointments_status"),
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_appointments_times")),
        sa.ForeignKeyConstraint(
            ["booked_by_user_id"], ["users.id"], name=op.f("fk_appointments_booked_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_appointments_location_id_locations")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_appointments_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_appointments_practitioner_id_practitioners")
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_appointments_service_id_services")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_appointments_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index(
        "ix_appointments_holds",
        "appointments",
        ["booked_by_user_id"],
        unique=False,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_index(
        "ix_appointments_location_day", "appointments", ["tenant_id", "location_id", "starts_at"], unique=False
    )
    op.create_index("ix_appointments_patient", "appointments", ["tenant_id", "patient_id", "starts_at"], unique=False)
    op.create_index("ix_appointments_practitioner_time", "appointments", ["practitioner_id", "starts_at"], unique=False)
    op.create_index(op.f("ix_appointments_tenant_id"), "appointments", ["tenant_id"], unique=False)
    op.create_table(
        "practitioner_services",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_practitioner_services_practitioner_id_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_practitioner_services_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_practitioner_services_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("practitioner_id", "service_id", name=op.f("pk_practitioner_services")),
    )
    op.create_index(op.f("ix_practitioner_services_tenant_id"), "practitioner_services", ["tenant_id"], unique=False)
    op.create_table(
        "practitioner_specialties",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("specialty_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_practitioner_specialties_practitioner_id_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"], ["specialties.id"], name=op.f("fk_practitioner_specialties_specialty_id_specialties")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_practitioner_specialties_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("practitioner_id", "specialty_id", name=op.f("pk_practitioner_specialties")),
    )
    op.create_index(
        op.f("ix_practitioner_specialties_tenant_id"), "practitioner_specialties", ["tenant_id"], unique=False
    )
    op.create_table(
        "schedule_exceptions",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_minutes", sa.SmallInteger(), server_default="15", nullable=False),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('time_off', 'extra')", name=op.f("ck_schedule_exceptions_kind")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_schedule_exceptions_times")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_schedule_exceptions_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_schedule_exceptions_practitioner_id_practitioners")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_schedule_exceptions_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_exceptions")),
    )
    op.create_index(
        "ix_schedule_exceptions_lookup", "schedule_exceptions", ["practitioner_id", "starts_at"], unique=False
    )
    op.create_index(op.f("ix_schedule_exceptions_tenant_id"), "schedule_exceptions", ["tenant_id"], unique=False)
    op.create_table(
        "schedule_templates",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("slot_minutes", sa.SmallInteger(), server_default="15", nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("practitioner_id"), "="),
            (sa.column("weekday"), "="),
            (
                sa.text(
                    "int4range((extract(epoch FROM start_time) / 60)::int, (extract(epoch FROM end_time) / 60)::int)"
                ),
                "&&",
            ),
            (sa.text("daterange(valid_from, valid_until, '[]')"), "&&"),
            where=sa.text("is_active"),
            using="gist",
            name="no_overlap",
        ),
        sa.CheckConstraint("end_time > start_time", name=op.f("ck_schedule_templates_times")),
        sa.CheckConstraint("slot_minutes BETWEEN 5 AND 240", name=op.f("ck_schedule_templates_slot")),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from", name=op.f("ck_schedule_templates_dates")
        ),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_schedule_templates_weekday")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_schedule_templates_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_schedule_templates_practitioner_id_practitioners")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_schedule_templates_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_templates")),
    )
    op.create_index(
        op.f("ix_schedule_templates_practitioner_id"), "schedule_templates", ["practitioner_id"], unique=False
    )
    op.create_index(op.f("ix_schedule_templates_tenant_id"), "schedule_templates", ["tenant_id"], unique=False)
    op.create_table(
        "waitlist_entries",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=False),
        sa.Column("earliest_date", sa.Date(), nullable=False),
        sa.Column("latest_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="waiting", nullable=False),
        sa.Column("offered_appointment_id", sa.Uuid(), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('waiting', 'offered', 'booked', 'expired', 'cancelled')",
            name=op.f("ck_waitlist_entries_status"),
        ),
        sa.CheckConstraint("latest_date >= earliest_date", name=op.f("ck_waitlist_entries_dates")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_waitlist_entries_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_waitlist_entries_practitioner_id_practitioners")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"], ["users.id"], name=op.f("fk_waitlist_entries_requested_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_waitlist_entries_service_id_services")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_waitlist_entries_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    op.create_index(op.f("ix_waitlist_entries_tenant_id"), "waitlist_entries", ["tenant_id"], unique=False)
    op.create_index("ix_waitlist_queue", "waitlist_entries", ["practitioner_id", "status", "created_at"], unique=False)
    _security()
    _seed_specialties()


TENANT_TABLES = [
    "practitioners",
    "practitioner_specialties",
    "services",
    "practitioner_services",
    "schedule_templates",
    "schedule_exceptions",
    "holidays",
    "appointments",
    "waitlist_entries",
    "dependents",
]

# The platform-wide list of specialties: reference data every install shares.
SPECIALTIES = [
    ("general-medicine", "General medicine", "fever cold cough flu diabetes blood pressure check-up"),
    ("cardiology", "Cardiology", "heart chest pain palpitations hypertension cholesterol ecg"),
    ("dermatology", "Dermatology", "skin acne eczema psoriasis rash hair loss mole"),
    ("paediatrics", "Paediatrics", "child baby children fever vaccination growth"),
    ("obstetrics-gynaecology", "Obstetrics and gynaecology", "pregnancy women period pcos fertility"),
    ("orthopaedics", "Orthopaedics", "bone joint knee back pain fracture sports injury"),
    ("ent", "Ear, nose and throat", "ear nose throat sinus hearing tonsils"),
    ("ophthalmology", "Ophthalmology", "eye vision cataract glasses glaucoma"),
    ("psychiatry", "Psychiatry", "mental health anxiety depression sleep stress"),
    ("neurology", "Neurology", "headache migraine seizure stroke numbness"),
    ("gastroenterology", "Gastroenterology", "stomach acidity liver digestion ibs"),
    ("endocrinology", "Endocrinology", "diabetes thyroid hormones obesity"),
    ("pulmonology", "Pulmonology", "lung asthma breathing copd"),
    ("nephrology", "Nephrology", "kidney dialysis urine"),
    ("urology", "Urology", "urine bladder prostate kidney stone"),
    ("oncology", "Oncology", "cancer tumour chemotherapy"),
    ("dentistry", "Dentistry", "teeth tooth dental gum braces"),
    ("physiotherapy", "Physiotherapy", "rehabilitation exercise back pain mobility"),
    ("nutrition", "Nutrition and dietetics", "diet weight loss nutrition meal plan"),
    ("family-medicine", "Family medicine", "gp family doctor general check-up"),
]


def _security() -> None:
    for table in TENANT_TABLES:
        rls.enable_tenant_rls(table)
        rls.grant(table)
    # Public by design: what tenants publish to the marketplace, and the specialty list.
    rls.grant("directory_listings")
    rls.grant("specialties", "SELECT")


def _seed_specialties() -> None:
    table = sa.table(
        "specialties",
        sa.column("id", sa.Uuid()),
        sa.column("code", sa.String()),
        sa.column("name", sa.String()),
        sa.column("keywords", sa.Text()),
    )
    import uuid

    op.bulk_insert(
        table,
        [
            {"id": uuid.uuid5(uuid.NAMESPACE_URL, f"carebase:specialty:{c}"), "code": c, "name": n, "keywords": k}
            for c, n, k in SPECIALTIES
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_waitlist_queue", table_name="waitlist_entries")
    op.drop_index(op.f("ix_waitlist_entries_tenant_id"), table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
    op.drop_index(op.f("ix_schedule_templates_tenant_id"), table_name="schedule_templates")
    op.drop_index(op.f("ix_schedule_templates_practitioner_id"), table_name="schedule_templates")
    op.drop_table("schedule_templates")
    op.drop_index(op.f("ix_schedule_exceptions_tenant_id"), table_name="schedule_exceptions")
    op.drop_index("ix_schedule_exceptions_lookup", table_name="schedule_exceptions")
    op.drop_table("schedule_exceptions")
    op.drop_index(op.f("ix_practitioner_specialties_tenant_id"), table_name="practitioner_specialties")
    op.drop_table("practitioner_specialties")
    op.drop_index(op.f("ix_practitioner_services_tenant_id"), table_name="practitioner_services")
    op.drop_table("practitioner_services")
    op.drop_index(op.f("ix_appointments_tenant_id"), table_name="appointments")
    op.drop_index("ix_appointments_practitioner_time", table_name="appointments")
    op.drop_index("ix_appointments_patient", table_name="appointments")
    op.drop_index("ix_appointments_location_day", table_name="appointments")
    op.drop_index("ix_appointments_holds", table_name="appointments", postgresql_where=sa.text("status = 'held'"))
    op.drop_table("appointments")
    op.drop_index("uq_practitioners_membership", table_name="practitioners")
    op.drop_index(op.f("ix_practitioners_tenant_id"), table_name="practitioners")
    op.drop_table("practitioners")
    op.drop_index("uq_holidays_day", table_name="holidays")
    op.drop_index(op.f("ix_holidays_tenant_id"), table_name="holidays")
    op.drop_table("holidays")
    op.drop_index("uq_dependents_pair", table_name="dependents")
    op.drop_index(op.f("ix_dependents_tenant_id"), table_name="dependents")
    op.drop_index(op.f("ix_dependents_guardian_user_id"), table_name="dependents")
    op.drop_table("dependents")
    op.drop_index(op.f("ix_services_tenant_id"), table_name="services")
    op.drop_table("services")
    op.drop_index(op.f("ix_directory_listings_tenant_id"), table_name="directory_listings")
    op.drop_index("ix_directory_listings_specialties", table_name="directory_listings", postgresql_using="gin")
    op.drop_index("ix_directory_listings_search", table_name="directory_listings", postgresql_using="gin")
    op.drop_index("ix_directory_listings_next_free", table_name="directory_listings")
    op.drop_index(
        "ix_directory_listings_name_trgm",
        table_name="directory_listings",
        postgresql_using="gin",
        postgresql_ops={"practitioner_name": "gin_trgm_ops"},
    )
    op.drop_index("ix_directory_listings_geo", table_name="directory_listings")
    op.drop_table("directory_listings")
    op.drop_table("specialties")
