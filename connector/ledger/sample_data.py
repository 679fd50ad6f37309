"""What every ledger's simulator shares for its data: made-up Dutch names and places, and reading seed amounts."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

STREETS = (
    "Hoofdstraat", "Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Schoolstraat", "Julianastraat",
    "Wilhelminastraat", "Beatrixlaan", "Industrieweg", "Nieuwstraat", "Parallelweg", "Lindelaan", "Eikenlaan",
)  # fmt: skip
CITIES = (
    ("Amsterdam", 10), ("Rotterdam", 30), ("Utrecht", 35), ("Den Haag", 25), ("Eindhoven", 56),
    ("Groningen", 97), ("Tilburg", 50), ("Almere", 13), ("Breda", 48), ("Nijmegen", 65), ("Apeldoorn", 73),
    ("Haarlem", 20), ("Arnhem", 68), ("Zwolle", 80), ("Leeuwarden", 89), ("Maastricht", 62),
)  # fmt: skip
SERVICES = ("Advieswerkzaamheden", "Installatie", "Onderhoud", "Levering materialen", "Licentie", "Projecturen")


def parse_amount(value: object) -> Decimal | None:
    """A seed amount given as a number or a string (`"12.50"`, `"12,50"`); None when it does not parse."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, float):
            amount = Decimal(repr(value))
        elif isinstance(value, int | Decimal):
            amount = Decimal(value)
        elif isinstance(value, str):
            amount = Decimal(value.strip().replace(",", "."))
        else:
            return None
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
