"""Parked administrations: an auth failure stops an administration until a person acts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("administrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parked_at", connector.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("parked_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("parked_credential", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("administrations", schema=None) as batch_op:
        batch_op.drop_column("parked_credential")
        batch_op.drop_column("parked_reason")
        batch_op.drop_column("parked_at")
