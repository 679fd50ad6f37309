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
    "Your role ({role}) may not do this; it takes the role {needed}.": (
        "Uw rol ({role}) mag dit niet; hiervoor is de rol {needed} nodig."
    ),
    "Not found": "Niet gevonden",
    "Something went wrong": "Er ging iets mis",
    "The page could not be made ({error}). Nothing was changed. Try again in a moment; if it stays, the log of "
    "`connector run` says why.": (
        "De pagina kon niet worden gemaakt ({error}). Er is niets gewijzigd. Probeer het zo opnieuw; blijft het, "
        "dan staat in het log van `connector run` waarom."
    ),
    "viewer": "alleen lezen",
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
    "Business date {day}": "Stand per {day}",
    # an administration
    "Breadcrumb": "Kruimelpad",
    "This administration": "Deze administratie",
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
    # customers
    "Customers": "Klanten",
    "Customer": "Klant",
    "Name, e-mail or number": "Naam, e-mail of nummer",
    "Customers found: {count}": "Gevonden klanten: {count}",
    "Customers with open invoices: {count}": "Klanten met openstaande facturen: {count}",
    "E-mail": "E-mail",
    "Oldest due date": "Oudste vervaldatum",
    "excluded": "uitgesloten",
    "{count} paused": "{count} gepauzeerd",
    "no e-mail address": "geen e-mailadres",
    "number in the ledger": "nummer in het pakket",
    "consumer": "consument",
    "business": "zakelijk",
    "Invoice": "Factuur",
    "Due date": "Vervaldatum",
    "Actions": "Acties",
    "open": "open",
    "paid": "betaald",
    "uncollectible": "oninbaar",
    "draft": "concept",
    "cancelled": "gecrediteerd",
    "deleted": "verwijderd",
    "paused": "gepauzeerd",
    "dispute": "geschil",
    "arrangement": "betalingsregeling",
    "hold": "aangehouden",
    "Resume": "Hervatten",
    "Pause": "Pauzeren",
    "Reason": "Reden",
    "Until (optional)": "Tot (niet verplicht)",
    "Note": "Notitie",
    "Pause invoice {number}": "Factuur {number} pauzeren",
    "Include in reminders again": "Weer meenemen in herinneringen",
    "Exclude from reminders": "Uitsluiten van herinneringen",
    "Treat as": "Behandelen als",
    "as the ledger says": "zoals het pakket zegt",
    "Save": "Opslaan",
    "Timeline": "Tijdlijn",
    "What is planned first, then what happened, newest first.": (
        "Eerst wat gepland is, dan wat er gebeurde, nieuwste eerst."
    ),
    "until {day}": "tot {day}",
    "call": "beltaak",
    "reminder": "herinnering",
    "aanmaning": "aanmaning",
    "ingebrekestelling": "ingebrekestelling (14-dagenbrief)",
    "final_notice": "laatste aanmaning",
    "handover": "overdracht aan incassobureau",
    "Nothing yet.": "Nog niets.",
    "by {who}": "door {who}",
    "kind_sent": "Verstuurd",
    "kind_planned": "Gepland",
    "kind_person": "Besluit",
    "kind_ledger": "Pakket",
    "kind_problem": "Probleem",
    "done_paused": "Gepauzeerd. Er gaat niets meer uit voor deze factuur tot hij weer hervat is.",
    "done_resumed": "Hervat. De herinneringen gaan verder waar ze gebleven waren.",
    "done_excluded": "Uitgesloten. Deze klant krijgt geen herinneringen meer.",
    "done_included": "Weer meegenomen in de herinneringen.",
    "done_kind": "Opgeslagen.",
    "done_already_paused": "Deze factuur was al gepauzeerd; er is niets gewijzigd.",
    "done_unchanged": "Niet uitgesteld: de actie was intussen al verstuurd of gewijzigd.",
    "refused_address_unchanged": (
        "Het pakket heeft nog het adres dat niet aankwam: pas het daar eerst aan (de volgende synchronisatie neemt "
        "het over), of vink aan dat het adres toch klopte."
    ),
    "refused_nothing_undelivered": "Voor deze klant staat niets meer open dat niet aankwam.",
    "invoice_seen": "factuur binnengekomen",
    "invoice_paid": "factuur betaald",
    "invoice_cancelled": "factuur gecrediteerd",
    "invoice_uncollectible": "factuur oninbaar",
    "invoice_draft": "factuur terug naar concept",
    "invoice_deleted": "factuur verwijderd",
    "resumed": "hervat",
    "contact_override": "klantinstelling gewijzigd",
    "approved": "goedgekeurd",
    "rejected": "afgewezen",
    "retry_requested": "opnieuw geprobeerd",
    "resolved_as_sent": "vastgesteld als verstuurd",
    "resolved_as_not_sent": "vastgesteld als niet verstuurd",
    "postponed": "uitgesteld",
    "delivery_problem_resolved": "bezorgprobleem opgelost",
    "start_at": "beginstap bepaald",
    "sent": "verstuurd",
    "done": "afgerond",
    "pending": "klaar om te versturen",
    "executing": "wordt verstuurd",
    "sending": "wordt verstuurd",
    "awaiting_approval": "wacht op goedkeuring",
    "forecast": "verwacht",
    "undelivered": "niet bezorgd",
    "failed": "mislukt",
    "review": "na te gaan",
    "dropped": "niet meer nodig",
    # a message, an invoice
    "For {customer}, about {invoices}.": "Voor {customer}, over {invoices}.",
    "Reference {reference}": "Kenmerk {reference}",
    "planned on {day}": "gepland op {day}",
    "went out {when}": "verstuurd {when}",
    "Postpone": "Uitstellen",
    "Not before": "Niet vóór",
    "Handed over {when}": "Overgedragen {when}",
    "To": "Aan",
    "Channel": "Kanaal",
    "Server's answer": "Antwoord van de server",
    "Subject": "Onderwerp",
    "From": "Van",
    "The e-mail as it was sent": "De e-mail zoals hij is verstuurd",
    "Nothing of this has gone out yet.": "Hiervan is nog niets verstuurd.",
    "done_postponed": "Uitgesteld: het gaat niet eerder uit dan op de gekozen dag, als het dan nog nodig is.",
    "Invoice date": "Factuurdatum",
    "In the ledger": "In het pakket",
    "Steps": "Stappen",
    "History": "Geschiedenis",
    "When": "Wanneer",
    "What": "Wat",
    "Who": "Wie",
    "Details": "Details",
    "created": "gepland",
    "As it would go out today": "Zoals het vandaag zou uitgaan",
    "Made from the mirror as it stands; at sending it is made again from the ledger, re-read then.": (
        "Gemaakt uit de gegevens zoals ze nu zijn; bij verzenden wordt het opnieuw gemaakt, na het pakket opnieuw te "
        "hebben gelezen."
    ),
    "The letter as PDF": "De brief als PDF",
    "The e-mail as it would go out": "De e-mail zoals hij zou uitgaan",
    # invoices
    "Number or customer": "Nummer of klant",
    "state_open": "openstaand",
    "state_closed": "afgesloten",
    "state_all": "alle",
    "Only overdue": "Alleen vervallen",
    "Only paused": "Alleen gepauzeerd",
    "Invoices found: {count}": "Gevonden facturen: {count}",
    "(the first {shown}, oldest due first)": "(de eerste {shown}, oudste vervaldatum eerst)",
    "{days} days late": "{days} dagen te laat",
    # templates
    "Templates": "Sjablonen",
    "Your own templates are saved in {folder} and override the built-in ones file by file.": (
        "Uw eigen sjablonen worden bewaard in {folder} en vervangen de ingebouwde bestand voor bestand."
    ),
    "The built-in templates are in use. To change them here, set templates_dir in [connector].": (
        "De ingebouwde sjablonen zijn in gebruik. Zet templates_dir in [connector] om ze hier te wijzigen."
    ),
    "Saved. The next message of this step uses it.": "Opgeslagen. Het volgende bericht van deze stap gebruikt het.",
    "Not saved:": "Niet opgeslagen:",
    "Text": "Tekst",
    "part_subject.txt": "Onderwerp",
    "part_txt": "Tekst (platte e-mail)",
    "part_html": "HTML (e-mail en brief)",
    "part_note.txt": "Notitie in het pakket",
    "your own": "eigen",
    "In the text: c (the message: c.contact_name, c.company_name, c.principal, c.deadline and the rest), invoices "
    "(each with number, due_date, open_amount), consumer (true for a consumer), paper (true in the printed letter). "
    "Amounts with |money, dates with |day.": (
        "In de tekst: c (het bericht: c.contact_name, c.company_name, c.principal, c.deadline en de rest), invoices "
        "(elk met number, due_date, open_amount), consumer (waar voor een consument), paper (waar in de gedrukte "
        "brief). Bedragen met |money, datums met |day."
    ),
    "Show the preview": "Voorbeeld tonen",
    "Check and save": "Controleren en opslaan",
    "Preview on a real message": "Voorbeeld op een echt bericht",
    "No message of this step yet to show it on.": "Er is nog geen bericht van deze stap om het op te tonen.",
    # attention
    "Select": "Selecteren",
    "Step": "Stap",
    "Planned on": "Gepland op",
    "Why": "Waarom",
    "Nothing waits for a person.": "Er is niets te doen.",
    "Parked": "Geparkeerd",
    "Try again (the credentials are fixed)": "Opnieuw proberen (de inloggegevens zijn hersteld)",
    "Awaiting approval": "Wacht op goedkeuring",
    "Failed": "Mislukt",
    "To check: did it go out?": "Na te gaan: is het verstuurd?",
    "verb_approve": "Goedkeuren",
    "verb_reject": "Afwijzen",
    "verb_retry": "Opnieuw proberen",
    "verb_sent": "Het is verstuurd",
    "verb_not_sent": "Het is niet verstuurd: versturen",
    "attention_done_approve": "Goedgekeurd: {count}. Gaat uit bij de volgende verzending, binnen het verzendvenster.",
    "attention_done_reject": "Afgewezen: {count}. Gaat nooit uit.",
    "attention_done_retry": "Opnieuw te proberen bij de volgende verzending: {count}.",
    "attention_done_sent": "Vastgesteld als verstuurd: {count}.",
    "attention_done_not_sent": "Gaat alsnog uit bij de volgende verzending: {count}.",
    "attention_done_undelivered": (
        "Opgelost: de herinneringen gaan verder, het bericht gaat opnieuw naar het nieuwe adres."
    ),
    "attention_done_unparked": "De administratie wordt weer bijgewerkt.",
    "Did not arrive": "Niet aangekomen",
    "to": "naar",
    "the address was right after all": "het adres klopte toch",
    "Address fixed: send again": "Adres hersteld: opnieuw versturen",
    "Disputes": "Geschillen",
    "since {when}": "sinds {when}",
    "Nearing limitation": "Bijna verjaard",
    "A claim is barred five years after its due date unless interrupted (art. 3:307 and 3:317 BW).": (
        "Een vordering verjaart vijf jaar na de vervaldatum, tenzij de verjaring is gestuit (art. 3:307 en 3:317 BW)."
    ),
    "due {day}": "vervallen {day}",
    "Missing or wrong data": "Ontbrekende of foute gegevens",
    "A record from the ledger could not be taken in": "Een gegeven uit het pakket kon niet worden overgenomen",
    "no e-mail address in the ledger": "geen e-mailadres in het pakket",
}


# The English of what pages name by a key rather than by its words: statuses, events, stages, joined keys.
ENGLISH: dict[str, str] = {
    "kind_sent": "Sent",
    "kind_planned": "Planned",
    "kind_person": "Decision",
    "kind_ledger": "Ledger",
    "kind_problem": "Problem",
    "done_paused": "Paused. Nothing goes out for this invoice until it is resumed.",
    "done_resumed": "Resumed. The reminders go on where they stopped.",
    "done_excluded": "Excluded. This customer gets no more reminders.",
    "done_included": "Included in the reminders again.",
    "done_kind": "Saved.",
    "done_already_paused": "This invoice was already paused; nothing changed.",
    "done_unchanged": "Not postponed: the action had gone out or changed meanwhile.",
    "refused_address_unchanged": (
        "The ledger still has the address that did not work: fix it there first (the next sync brings it), or tick "
        "that the address was right after all."
    ),
    "refused_nothing_undelivered": "Nothing undelivered is open for this customer any more.",
    "done_postponed": "Postponed: it goes out no earlier than the day chosen, if it is still due then.",
    "state_open": "open",
    "state_closed": "closed",
    "state_all": "all",
    "part_subject.txt": "Subject",
    "part_txt": "Text (plain e-mail)",
    "part_html": "HTML (e-mail and letter)",
    "part_note.txt": "Note in the ledger",
    "verb_approve": "Approve",
    "verb_reject": "Reject",
    "verb_retry": "Try again",
    "verb_sent": "It went out",
    "verb_not_sent": "It did not go out: send it",
    "attention_done_approve": "{count} approved: goes out on the next dispatch, inside the send window.",
    "attention_done_reject": "{count} rejected: never goes out.",
    "attention_done_retry": "{count} will be tried again on the next dispatch.",
    "attention_done_sent": "{count} settled as sent.",
    "attention_done_not_sent": "{count} will go out on the next dispatch.",
    "attention_done_undelivered": "Resolved: the reminders go on, and the message goes again to the new address.",
    "attention_done_unparked": "The administration is synced again.",
    "invoice_seen": "invoice came in",
    "invoice_paid": "invoice paid",
    "invoice_cancelled": "invoice credited",
    "invoice_uncollectible": "invoice uncollectible",
    "invoice_draft": "invoice back to draft",
    "invoice_deleted": "invoice deleted",
    "contact_override": "customer settings changed",
    "retry_requested": "tried again",
    "resolved_as_sent": "settled as sent",
    "resolved_as_not_sent": "settled as not sent",
    "delivery_problem_resolved": "delivery problem resolved",
    "start_at": "first step decided",
    "final_notice": "final notice",
    "handover": "handover to a collection agency",
    "ingebrekestelling": "notice of default (14-day letter)",
    "call": "call task",
    "awaiting_approval": "awaiting approval",
    "pending": "ready to go",
    "forecast": "expected",
}


def translator(language: str) -> Callable[..., str]:
    """`_("Text", name=value)`: the text in the language, with its {placeholders} filled in."""
    catalog = TEXTS if language == "nl" else ENGLISH

    def translate(text: str, **values: object) -> str:
        if text not in TEXTS and text not in ENGLISH:
            return text  # not ours (a value from a request or the ledger): shown as it is, never formatted
        words = catalog.get(text, text)
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
