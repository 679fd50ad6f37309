"""The local store: SQLModel tables, Alembic migrations, and the operations the rest of the connector uses."""

from connector.store.repository import BatchResult, InvoiceView, Store

__all__ = ["BatchResult", "InvoiceView", "Store"]
