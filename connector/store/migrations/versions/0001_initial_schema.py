"""Initial schema: administrations, contacts, invoices, sync cursors and runs, quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "administrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ledger_reference", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_administrations")),
        sa.UniqueConstraint("name", name=op.f("uq_administrations_name")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("company_name", sa.Text(), nullable=True),
        sa.Column("person_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("zipcode", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("kvk_number", sa.Text(), nullable=True),
        sa.Column("vat_number", sa.Text(), nullable=True),
        sa.Column("customer_number", sa.Text(), nullable=True),
        sa.Column("is_business", sa.Boolean(), nullable=False),
        sa.Column("ledger_version", sa.Text(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_contacts_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("administration_id", "ledger_id", name=op.f("uq_contacts_administration_id_ledger_id")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("number", sa.Text(), nullable=True),
        sa.Column("contact_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("invoice_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("total", connector.store.types.Amount(length=40), nullable=False),
        sa.Column("open_amount", connector.store.types.Amount(length=40), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("ledger_state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ledger_version", sa.Text(), nullable=True),
        sa.Column("ledger_reminders_paused", sa.Boolean(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", connector.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_invoices_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("administration_id", "ledger_id", name=op.f("uq_invoices_administration_id_ledger_id")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_admin_contact", ["administration_id", "contact_ledger_id"], unique=False)
        batch_op.create_index("ix_invoices_admin_status_due", ["administration_id", "status", "due_date"], unique=False)

    op.create_table(
        "quarantined_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("ledger_version", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", connector.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_quarantined_records_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_records")),
        sa.UniqueConstraint(
            "administration_id",
            "entity",
            "ledger_id",
            name=op.f("uq_quarantined_records_administration_id_entity_ledger_id"),
        ),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_sync_cursors_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("administration_id", "entity", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("started_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("progress_at", connector.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", connector.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rate_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("invoices_upserted", sa.Integer(), nullable=False),
        sa.Column("invoices_closed", sa.Integer(), nullable=False),
        sa.Column("contacts_upserted", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("api_calls_by_endpoint", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_sync_runs_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index("ix_sync_runs_admin_started", ["administration_id", "started_at"], unique=False)
        batch_op.create_index("ix_sync_runs_rate_key_progress", ["rate_key", "progress_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_runs_rate_key_progress")
        batch_op.drop_index("ix_sync_runs_admin_started")

    op.drop_table("sync_runs")
    op.drop_table("sync_cursors")
    op.drop_table("quarantined_records")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_admin_status_due")
        batch_op.drop_index("ix_invoices_admin_contact")

    op.drop_table("invoices")
    op.drop_table("contacts")
    op.drop_table("administrations")
