"""Approvals: an administration sends nothing until a person approves it under the policy in force.

An administration that already acted before this version keeps going: it gets a standing approval ("*") that
the dispatcher turns into an approval of the policy it finds in force, recorded in the audit log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = connector.store.types.UTCDateTime(timezone=True)
    with op.batch_alter_table("actions", schema=None) as batch_op:  # room for "awaiting_approval"
        batch_op.alter_column(
            "status",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
            type_=sqlmodel.sql.sqltypes.AutoString(length=24),
            existing_nullable=False,
        )
    approvals = op.create_table(
        "administration_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("policy", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.Column("approved_at", utc, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_administration_approvals_administration_id_administrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_administration_approvals")),
    )
    with op.batch_alter_table("administration_approvals", schema=None) as batch_op:
        batch_op.create_index("ix_administration_approvals_admin", ["administration_id", "approved_at"], unique=False)
    # Approved as of its first action: when it went live.
    live = (
        op.get_bind()
        .execute(
            sa.select(sa.column("administration_id"), sa.func.min(sa.column("created_at", utc)))
            .select_from(sa.table("actions"))
            .group_by(sa.column("administration_id"))
        )
        .all()
    )
    if live:
        op.bulk_insert(
            approvals,
            [
                {
                    "administration_id": administration_id,
                    "policy": "*",
                    "fingerprint": "*",
                    "approved_by": "store upgrade (the administration was live before approvals)",
                    "approved_at": first_action_at,
                    "note": None,
                }
                for administration_id, first_action_at in live
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("administration_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_administration_approvals_admin")
    op.drop_table("administration_approvals")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=24),
            type_=sqlmodel.sql.sqltypes.AutoString(length=16),
            existing_nullable=False,
        )
