"""Reminder workflow: the outbox (actions), per-invoice progress, holds, contact overrides, audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.store.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column("payment_url", sa.Text(), nullable=True))
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("legal_letter", sa.Boolean(), nullable=False),
        sa.Column("contact_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("planned", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", connector.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("executed_at", connector.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_actions_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("administration_id", "key", name=op.f("uq_actions_administration_id_key")),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index("ix_actions_status_next", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "contact_overrides",
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("contact_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("policy", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("debtor_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("updated_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_contact_overrides_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("administration_id", "contact_ledger_id", name=op.f("pk_contact_overrides")),
    )
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("invoice_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", connector.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_holds_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_index("ix_holds_admin_invoice", ["administration_id", "invoice_ledger_id"], unique=False)

    op.create_table(
        "action_invoices",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("invoice_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_action_invoices_action_id_actions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_action_invoices_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("action_id", "invoice_ledger_id", name=op.f("pk_action_invoices")),
    )
    with op.batch_alter_table("action_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_action_invoices_admin_invoice", ["administration_id", "invoice_ledger_id"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("invoice_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("contact_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_audit_log_action_id_actions"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_audit_log_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_admin_invoice", ["administration_id", "invoice_ledger_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("payment_url")
        batch_op.drop_column("language")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_admin_invoice")

    op.drop_table("audit_log")
    with op.batch_alter_table("action_invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_action_invoices_admin_invoice")

    op.drop_table("action_invoices")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index("ix_holds_admin_invoice")

    op.drop_table("holds")
    op.drop_table("contact_overrides")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index("ix_actions_status_next")

    op.drop_table("actions")
