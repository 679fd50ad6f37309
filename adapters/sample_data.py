"""Made-up Dutch names and places for the simulators' generated data (shared by every ledger's simulator)."""

from __future__ import annotations

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
