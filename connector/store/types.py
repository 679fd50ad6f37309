"""Column types that keep money exact and instants in UTC on every database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class Amount(TypeDecorator[Decimal]):
    """Decimal money: NUMERIC on PostgreSQL, text on SQLite (whose NUMERIC would round through a float)."""

    impl = sa.String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(20, 6, asdecimal=True))
        return dialect.type_descriptor(sa.String(40))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"amounts must be Decimal, not {type(value).__name__}")
        return value if dialect.name == "postgresql" else format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else stored_amount(value)


def stored_amount(value: Any) -> Decimal:
    """An amount as the database gives it back. PostgreSQL pads to the column's scale; give back the shortest
    exact form, without an exponent."""
    return Decimal(format(Decimal(str(value)).normalize(), "f"))


class DecimalSum:
    """A SQLite aggregate, `connector_decimal_sum` on every connection (connector/store/db.py): the exact sum
    of amounts stored as text, where SQLite's own SUM would add them up as floats."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total += stored_amount(value)

    def finalize(self) -> str:
        return str(self.total)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC instants in, timezone-aware UTC instants out (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass a timezone-aware instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Raw ledger payloads are an archive, never queried inside: plain JSON (validated, stored verbatim) is
# several times cheaper to write than JSONB.
JSONDocument = sa.JSON()
