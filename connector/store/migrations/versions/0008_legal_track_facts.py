"""Facts the legal track needs.

e-Boekhouden credit notes, mirrored until now as cancelled items without their amount, are open again with it:
a credit of the customer, set off against their invoices before costs.

Whether an invoice is a periodic claim (`invoices.recurring`: made by a Moneybird subscription or recurring
invoice; `contact_overrides.recurring`: a person's say per customer), for the cap on its collection costs. An
invoice whose due date the connector assumed from the configured default term (`invoices.due_date_assumed`;
e-Boekhouden when the ledger names none); e-Boekhouden invoices mirrored before are marked from their stored
term source. And a customer is a business only on evidence: the ledger's own business/private flag is kept
(`contacts.kind_in_ledger`), and every mirrored customer is judged again by the rule (a KvK or VAT number, the
ledger's flag, a legal entity's form in the name; a company name alone no longer makes a business).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op

from connector.domain import Contact
from connector.store.types import Amount

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEDGER_FLAG = {"B": "business", "P": "consumer"}  # e-Boekhouden's relation type
_CONTACTS = sa.text(
    "SELECT c.id, c.name, c.company_name, c.kvk_number, c.vat_number, c.raw, a.platform "
    "FROM contacts c JOIN administrations a ON a.id = c.administration_id"
)
_INVOICES = sa.text(
    "SELECT i.id, i.raw, i.status, a.platform FROM invoices i JOIN administrations a ON a.id = i.administration_id"
)
# An e-Boekhouden credit note was mirrored as cancelled without its amount: it is an open credit of the customer.
_REOPEN_CREDIT = sa.text(
    "UPDATE invoices SET status = 'open', open_amount = :amount, closed_at = NULL WHERE id = :id"
).bindparams(sa.bindparam("amount", type_=Amount()))
_MARK = {
    "recurring": sa.text("UPDATE invoices SET recurring = true WHERE id = :id"),
    "due_date_assumed": sa.text("UPDATE invoices SET due_date_assumed = true WHERE id = :id"),
}


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind_in_ledger", sa.String(length=16), nullable=True))
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_date_assumed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("recurring", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("contact_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recurring", sa.Boolean(), nullable=True))
    bind = op.get_bind()
    for row, raw in _with_raw(bind, _CONTACTS):
        flag = _LEDGER_FLAG.get(str(raw.get("type") or "")) if row.platform == "eboekhouden" else None
        contact = Contact(
            ledger_id=str(row.id),
            name=row.name,
            company_name=row.company_name,
            kvk_number=row.kvk_number,
            vat_number=row.vat_number,
            kind_in_ledger=flag,
        )
        bind.execute(
            sa.text("UPDATE contacts SET kind_in_ledger = :flag, is_business = :business WHERE id = :id"),
            {"flag": flag, "business": contact.is_business, "id": row.id},
        )
    for row, raw in _with_raw(bind, _INVOICES):
        if row.platform == "moneybird":
            column = "recurring" if raw.get("recurring_sales_invoice_id") or raw.get("subscription_id") else None
        else:  # e-Boekhouden keeps where the term came from, and the open item as the ledger sent it
            column = "due_date_assumed" if raw.get("termSource") in ("default", "unknown") else None
            outstanding = _decimal((raw.get("outstanding") or {}).get("outstandingAmount"))
            if row.status == "cancelled" and outstanding is not None and outstanding < 0:
                bind.execute(_REOPEN_CREDIT, {"id": row.id, "amount": outstanding})
        if column is not None:
            bind.execute(_MARK[column], {"id": row.id})


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _with_raw(bind: sa.Connection, select: sa.TextClause) -> list[tuple[sa.Row[Any], dict[str, Any]]]:
    """The rows of `select`, each with its raw JSON read (a dict on PostgreSQL, text on SQLite)."""
    rows = bind.execute(select).all()
    return [(row, row.raw if isinstance(row.raw, dict) else json.loads(row.raw or "{}")) for row in rows]


def downgrade() -> None:
    with op.batch_alter_table("contact_overrides", schema=None) as batch_op:
        batch_op.drop_column("recurring")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("recurring")
        batch_op.drop_column("due_date_assumed")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("kind_in_ledger")
