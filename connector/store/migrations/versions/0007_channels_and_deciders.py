"""Channel health: failures in a row per administration and channel, so a channel that keeps failing is seen;
who paused an invoice, lifted the pause, or decided about a customer; and a person's per-invoice start stage.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.store.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = connector.store.types.UTCDateTime(timezone=True)
    op.create_table(
        "channel_health",
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", utc, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_failure_at", utc, nullable=True),
        sa.Column("last_success_at", utc, nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_channel_health_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("administration_id", "channel", name=op.f("pk_channel_health")),
    )

    op.create_table(
        "invoice_starts",
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("invoice_ledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.Column("decided_at", utc, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_invoice_starts_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("administration_id", "invoice_ledger_id", name=op.f("pk_invoice_starts")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("released_by", sa.Text(), nullable=True))
    with op.batch_alter_table("contact_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_by", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_overrides", schema=None) as batch_op:
        batch_op.drop_column("updated_by")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_column("released_by")
        batch_op.drop_column("created_by")
    op.drop_table("invoice_starts")
    op.drop_table("channel_health")
