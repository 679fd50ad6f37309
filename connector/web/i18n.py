"""The cockpit's words in Dutch and English, and amounts and times as a Dutch (or English) reader expects them.

Pages are written in English inside `_()`; `TEXTS` gives the Dutch for each. Times are shown in the business time
zone (Europe/Amsterdam), never as UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

LANGUAGES = ("nl", "en")
LOCALES = {"nl": "nl_NL", "en": "en_GB"}

TEXTS: dict[str, str] = {
    # frame
    "Credit management": "Debiteurenbeheer",
    "Skip to content": "Naar de inhoud",
    "Overview": "Overzicht",
    "Main": "Hoofdmenu",
    "Sign in": "Inloggen",
    "Sign out": "Uitloggen",
    "Signed in as": "Ingelogd als",
    "Username": "Gebruikersnaam",
    "Password": "Wachtwoord",
    "Nederlands": "Nederlands",
    "English": "English",
    "Language": "Taal",
    "The name or the password is not right.": "De gebruikersnaam of het wachtwoord klopt niet.",
    "Too many failed attempts. Try again after {time}.": "Te veel mislukte pogingen. Probeer het na {time} opnieuw.",
    "This connection is not secure: the session cookie only goes over HTTPS, so signing in will not last.": (
        "Deze verbinding is niet beveiligd: de sessiecookie gaat alleen over HTTPS, dus inloggen blijft niet bewaard."
    ),
    "You do not have the rights for this.": "U hebt hiervoor geen rechten.",
    "Your role ({role}) may look but not change; ask an admin for the role {needed}.": (
        "Uw rol ({role}) mag kijken maar niets wijzigen; vraag een beheerder om de rol {needed}."
    ),
    "Not found": "Niet gevonden",
    "viewer": "kijker",
    "controller": "credit controller",
    "admin": "beheerder",
    # overview
    "Administrations": "Administraties",
    "Administration": "Administratie",
    "Ledger": "Boekhoudpakket",
    "Open": "Openstaand",
    "Overdue": "Vervallen",
    "Open invoices": "Openstaande facturen",
    "DSO": "DSO",
    "days": "dagen",
    "Days sales outstanding: open receivables over the invoiced amount of the last 90 days, times 90.": (
        "Days sales outstanding: openstaande vorderingen gedeeld door het gefactureerde bedrag van de laatste "
        "90 dagen, maal 90."
    ),
    "Actions due": "Acties klaar",
    "Attention": "Aandacht",
    "Status": "Status",
    "Total": "Totaal",
    "ready": "gereed",
    "not ready": "niet gereed",
    "parked": "geparkeerd",
    "awaiting approval": "wacht op goedkeuring",
    "Search": "Zoeken",
    "Name contains": "Naam bevat",
    "Filter": "Filteren",
    "Only those needing attention": "Alleen die aandacht nodig hebben",
    "All ledgers": "Alle pakketten",
    "Show": "Tonen",
    "Page {page} of {pages}": "Pagina {page} van {pages}",
    "Previous": "Vorige",
    "Next": "Volgende",
    "{shown} of {total} administrations": "{shown} van {total} administraties",
    "No administration matches.": "Geen administratie voldoet.",
    "Sort by {column}": "Sorteer op {column}",
    "ascending": "oplopend",
    "descending": "aflopend",
    "Business date {day}": "Werkdag {day}",
    # an administration
    "Breadcrumb": "Kruimelpad",
    "last synced {when}": "laatst bijgewerkt {when}",
    "Approved. What is due goes out on the next dispatch, inside the send window.": (
        "Goedgekeurd. Wat klaarstaat gaat bij de volgende verzending uit, binnen het verzendvenster."
    ),
    "It was already approved under this policy.": "Dit was al goedgekeurd onder dit beleid.",
    "Going live": "Live gaan",
    "Nothing is sent for this administration until a person approves policy {policy} for it.": (
        "Voor deze administratie wordt niets verstuurd tot iemand beleid {policy} ervoor goedkeurt."
    ),
    "Due today when approved:": "Klaar voor vandaag na goedkeuring:",
    "Nothing would be sent today.": "Vandaag zou er niets verstuurd worden.",
    "Note for the audit log (optional)": "Notitie voor het logboek (niet verplicht)",
    "Approve going live": "Live gaan goedkeuren",
    "An admin approves going live.": "Een beheerder keurt het live gaan goed.",
    "Figures": "Cijfers",
    "Ageing": "Ouderdom",
    "Open amount per period past the due date": "Openstaand bedrag per periode na de vervaldatum",
    "Period": "Periode",
    "Invoices": "Facturen",
    "Amount": "Bedrag",
    "not yet due": "nog niet vervallen",
    "1-30 days": "1-30 dagen",
    "31-60 days": "31-60 dagen",
    "61-90 days": "61-90 dagen",
    "90+ days": "90+ dagen",
    "DSO over time": "DSO in de tijd",
    "Days sales outstanding per day, from {first} to {last}": "Days sales outstanding per dag, van {first} tot {last}",
    "DSO is drawn from the end of each business day; there is not enough history yet.": (
        "De DSO wordt aan het eind van elke werkdag vastgelegd; er is nog te weinig geschiedenis."
    ),
    "Today: {dso} days.": "Vandaag: {dso} dagen.",
}


def translator(language: str) -> Callable[..., str]:
    """`_("Text", name=value)`: the text in the language, with its {placeholders} filled in."""
    dutch = language == "nl"

    def translate(text: str, **values: object) -> str:
        words = TEXTS.get(text, text) if dutch else text
        return words.format(**values) if values else words

    return translate


def money(amount: Decimal | str | None, currency: str = "EUR", language: str = "nl") -> str:
    if amount is None:
        return ""
    return format_currency(Decimal(amount), currency, locale=LOCALES[language])


def number(value: Decimal | float | int | None, language: str = "nl", digits: int = 0) -> str:
    if value is None:
        return "\N{EN DASH}"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=LOCALES[language])


def moment(value: datetime | None, zone: ZoneInfo, language: str = "nl") -> str:
    """An instant as a clock on the wall in the business time zone shows it."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(zone), "d MMM y HH:mm", locale=LOCALES[language])


def day(value: date | None, language: str = "nl") -> str:
    if value is None:
        return ""
    return format_date(value, "d MMM y", locale=LOCALES[language])
