"""Every text on a cockpit page has its Dutch: the pages are Dutch first."""

from __future__ import annotations

import re
from pathlib import Path

from connector.reports import BUCKETS
from connector.store.users import ROLES
from connector.web import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"
STATES = ("ready", "not ready", "parked", "awaiting approval")  # a row's state, shown through _()
# Texts the pages name by joining words: a timeline entry's kind, what was just done on a customer's page.
JOINED = [f"kind_{kind}" for kind in ("sent", "planned", "person", "ledger", "problem")] + [
    f"done_{done}"
    for done in ("paused", "already_paused", "resumed", "excluded", "included", "kind", "postponed", "unchanged")
]
JOINED += ["refused_address_unchanged", "refused_nothing_undelivered"]
JOINED += [f"part_{part}" for part in ("subject.txt", "txt", "html", "note.txt")]
JOINED += [f"state_{state}" for state in ("open", "closed", "all")]
JOINED += [f"verb_{verb}" for verb in ("approve", "reject", "retry", "sent", "not_sent")]
JOINED += [
    f"attention_done_{verb}" for verb in ("approve", "reject", "retry", "sent", "not_sent", "undelivered", "unparked")
]


def test_every_text_in_the_templates_and_every_shown_value_has_its_dutch() -> None:
    written = {
        text
        for template in TEMPLATES.glob("*.html")
        if template.name != "status.html"  # the English operations page, for whoever runs the daemon
        for text in re.findall(r"""_\(\s*"([^"]+)"\s*[,)]|_\(\s*'([^']+)'\s*[,)]""", template.read_text())
        for text in text
        if text
    }
    assert len(written) > 40
    missing = sorted((written | set(BUCKETS) | set(ROLES) | set(STATES) | set(JOINED)) - set(i18n.TEXTS))
    assert missing == []


def test_placeholders_survive_the_translation() -> None:
    for key, dutch in i18n.TEXTS.items():
        english = i18n.ENGLISH.get(key, key)
        assert sorted(re.findall(r"\{(\w+)\}", english)) == sorted(re.findall(r"\{(\w+)\}", dutch)), key
    assert [key for key in JOINED if key not in i18n.ENGLISH] == []  # a key is never shown as itself
    _ = i18n.translator("nl")
    assert _("Page {page} of {pages}", page=2, pages=5) == "Pagina 2 van 5"
    assert i18n.translator("en")("Page {page} of {pages}", page=2, pages=5) == "Page 2 of 5"
