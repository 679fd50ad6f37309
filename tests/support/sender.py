"""The business the test reminders come from, with what the law wants every business letter to name."""

from __future__ import annotations

from typing import Any

from connector.administration import Company

SENDER: dict[str, Any] = {
    "name": "Bakkerij De Vries",
    "legal_name": "Bakkerij De Vries B.V.",
    "kvk": "12345678",
    "address": "Bakkersstraat 1, 3511 AB Utrecht",
    "statutory_seat": "Utrecht",
    "iban": "NL91ABNA0417164300",
}
COMPANY = Company(**SENDER)
# The same, as an inline table for a config.toml.
SENDER_TOML = "company = { " + ", ".join(f'{key} = "{value}"' for key, value in SENDER.items()) + " }"
