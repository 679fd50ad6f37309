"""The templates in the cockpit: shown with a preview on a real message, checked before saving, saved as the
override file by file, and in the audit log with who saved them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.daemon import Daemon
from connector.dispatch.messages import PARTS
from connector.store.models import AuditEntry
from tests.conftest import FAST_RETRIES, moneybird_settings
from tests.support.approvals import approve
from tests.support.web import csrf_of, sign_in, web_client


@pytest.fixture
def own_templates(
    database_url: str, clock: ManualClock, simulator: MoneybirdSimulator, tmp_path: Path
) -> Iterator[tuple[Daemon, Path]]:
    folder = tmp_path / "templates"
    settings = moneybird_settings(simulator, database_url, "t-0123456789", templates_dir=str(folder))
    daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    approve(daemon.store, settings.enabled_administrations, settings.policies)
    daemon.cycle("shop")  # the first reminders are planned: a real message to show a template on
    yield daemon, folder
    daemon.close()


def parts(page: str) -> dict[str, str]:
    import html
    import re

    return {
        name: html.unescape(text)
        for name, text in re.findall(r'<textarea id="part-\d" name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S)
    }


def test_an_admin_changes_a_template_checked_on_a_real_message_and_it_is_logged(
    own_templates: tuple[Daemon, Path],
) -> None:
    daemon, folder = own_templates
    with web_client(daemon) as client:
        sign_in(client, daemon, "vera", "viewer")
        assert "herinnering" in client.get("/templates").text
        page = client.get("/templates/nl/reminder").text
        texts = parts(page)
        assert set(texts) == set(PARTS) and "readonly" in page and "Voorbeeld op een echt bericht" in page
        assert client.post("/templates/nl/reminder", data={"csrf": csrf_of(page), **texts}).status_code == 403

        sign_in(client, daemon, "anna", "admin")
        page = client.get("/templates/nl/reminder").text
        broken = client.post(
            "/templates/nl/reminder",
            data={"csrf": csrf_of(page), **texts, "subject.txt": "Herinnering {% if %}", "do": "save"},
        )
        assert broken.status_code == 400 and "nl/reminder.subject.txt (line 1)" in broken.text
        unknown = client.post(
            "/templates/nl/reminder",
            data={"csrf": csrf_of(page), **texts, "subject.txt": "Herinnering {{ klant.naam }}", "do": "save"},
        )
        assert unknown.status_code == 400 and "UndefinedError" in unknown.text
        assert not folder.exists()  # nothing written while anything is wrong

        subject = "Vriendelijke herinnering van {{ c.company_name }}"
        tried = client.post(
            "/templates/nl/reminder", data={"csrf": csrf_of(page), **texts, "subject.txt": subject, "do": "preview"}
        )
        assert tried.status_code == 200, re.findall(r"<li>(.*?)</li>", tried.text)
        assert "Vriendelijke herinnering van" in tried.text and not folder.exists()
        saved = client.post(
            "/templates/nl/reminder", data={"csrf": csrf_of(page), **texts, "subject.txt": subject, "do": "save"}
        )
        assert saved.status_code == 200 and "Opgeslagen." in saved.text and "eigen" in saved.text
    assert (folder / "nl" / "reminder.subject.txt").read_text() == subject
    assert (folder / "nl" / "reminder.html").read_text() == texts["html"]
    with daemon.store.session() as session:
        (entry,) = session.exec(select(AuditEntry).where(AuditEntry.event == "template_saved"))
    assert entry.administration_id is None and entry.detail["by"] == "Anna (anna)"
    assert entry.detail["template"] == "nl/reminder" and len(entry.detail["sha256"]) == 4


def test_without_a_template_folder_nothing_is_saved_and_it_says_why(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "anna", "admin")
    page = client.get("/templates/en/reminder").text
    answer = client.post("/templates/en/reminder", data={"csrf": csrf_of(page), **parts(page), "do": "save"})
    assert answer.status_code == 400 and "templates_dir" in answer.text
    assert client.get("/templates/de/reminder").status_code == 404
