"""Letters by post through a print-and-mail service's API (a real HTTP server on loopback): the legal letter goes
as PDF with the address, its term runs from the day the service reports it posted, and a letter posted later
than its stated term assumed, or returned, waits for a person."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from connector.dispatch.deliveries import DeliveryTracker
from connector.dispatch.post import HttpsPost, PostError, PostLetter
from connector.store.evidence import EvidenceStore
from connector.store.models import Action
from connector.workflow.legal import after_grace, letter_term, posting_day
from connector.workflow.policy import Policy, default_policy
from tests.conftest import SIM_TODAY
from tests.connector.dispatch.test_dispatcher import World
from tests.support.print_service import PrintService, print_service


def legal_letter_by_post() -> Policy:
    stages = tuple(s.model_copy(update={"action": "post"}) if s.legal_letter else s for s in default_policy().stages)
    return default_policy().model_copy(update={"stages": stages})


def posted_letters(world: World) -> list[Action]:
    return [a for a in world.actions() if a.action == "post" and a.status == "done"]


def until_letters(world: World) -> date:
    for offset in range(60):
        day = SIM_TODAY + timedelta(days=offset)
        world.day(day)
        if posted_letters(world):
            return day
    raise AssertionError("no letter went by post")


@pytest.fixture
def service(world: World) -> Iterator[PrintService]:
    """The world's legal letter goes by post, through a print service on loopback."""
    with print_service() as running:
        world.dispatcher.post = HttpsPost(running.url, running.token)
        world.use_policies({"default": legal_letter_by_post()})
        yield running


@pytest.mark.world(invoices=30, contacts=10)
def test_a_legal_letter_by_post_runs_its_term_from_the_day_the_service_posted_it(
    world: World, service: PrintService
) -> None:
    handed_over = until_letters(world)
    letters = posted_letters(world)
    assert len(service.letters) == len(letters) == service.posts  # one letter each, handed over once
    letter = letters[0]
    sent = service.letters[letter.outcome["letter_id"]]
    text = " ".join(PdfReader(io.BytesIO(sent["pdf"])).pages[0].extract_text().split())
    assert sent["reference"] == letter.key[:12] and letter.key[:12] in text
    # The letter states its term from the day the service promises to post it: the next working day.
    promised = posting_day(handed_over, 1)
    assert letter.outcome["deadline"] == letter_term(promised, "post").last_day.isoformat()
    assert sent["address"] and sent["address"][0] in text

    # Not in the post yet: its term has not begun, so nothing follows it, however long it takes.
    tracker = DeliveryTracker(world.store, world.clock, post=world.dispatcher.post)
    quiet_until = handed_over + timedelta(days=30)
    for offset in range(1, 31):
        world.day(handed_over + timedelta(days=offset))
    assert not [a for a in world.actions() if a.contact_ledger_id == letter.contact_ledger_id and a.id > letter.id]

    # The service posts it on the promised day; from then on the usual term and grace apply.
    for other in letters:
        service.post(other.outcome["letter_id"], on=promised.isoformat())
    outcome = tracker.poll_post()
    assert sorted(outcome.posted) == sorted(a.key for a in letters)
    assert tracker.poll_post().posted == []  # reported once
    refreshed = {a.key: a for a in world.actions()}[letter.key]
    assert refreshed.outcome["posted_on"] == promised.isoformat()
    assert EvidenceStore(world.store).sent_with_key(letter.key).status == "posted"  # type: ignore[union-attr]
    world.day(quiet_until + timedelta(days=1))
    following = [a for a in world.actions() if a.contact_ledger_id == letter.contact_ledger_id and a.id > letter.id]
    assert following and following[0].stage == "final_notice"
    earliest = after_grace(letter_term(promised, "post").last_day, default_policy().grace_days)
    assert following[0].planned_on >= earliest


@pytest.mark.world(invoices=30, contacts=10)
def test_a_letter_posted_late_or_returned_waits_for_a_person(world: World, service: PrintService) -> None:
    handed_over = until_letters(world)
    late, returned, *_ = posted_letters(world)
    service.post(late.outcome["letter_id"], on=(posting_day(handed_over, 1) + timedelta(days=3)).isoformat())
    service.post(returned.outcome["letter_id"], on=handed_over.isoformat(), status="returned")
    DeliveryTracker(world.store, world.clock, post=world.dispatcher.post).poll_post()
    by_key = {a.key: a for a in world.actions()}
    assert by_key[late.key].status == by_key[returned.key].status == "undelivered"
    problems = {p.contact_ledger_id: p.reason for p in EvidenceStore(world.store).problems()}
    assert "its term may be too short" in problems[late.contact_ledger_id]
    assert "returned" in problems[returned.contact_ledger_id]


def test_the_service_sees_a_repeat_as_the_same_letter_and_refusals_are_named() -> None:
    with print_service() as service:
        provider = HttpsPost(service.url, service.token)
        letter = PostLetter(
            "k" * 32, "acme", "kkkkkkkkkkkk", ["Jan", "Dorpsstraat 1", "1234 AB Ergens"], b"%PDF-1.7", "x.pdf"
        )
        first, again = provider.submit(letter), provider.submit(letter)  # an answer lost, the try repeated
        assert first.external_id == again.external_id and len(service.letters) == 1
        with pytest.raises(PostError, match="refused: 422"):
            provider.submit(PostLetter("j" * 32, "acme", "j", ["Jan"], b"%PDF-1.7", "y.pdf"))
        with pytest.raises(PostError, match="refused: 401"):
            HttpsPost(service.url, "wrong-token").submit(letter)
    with pytest.raises(PostError, match="not reachable") as down:
        provider.submit(letter)
    assert down.value.down
    with pytest.raises(ValueError, match="not HTTPS"):
        HttpsPost("http://print.example/v1", "t")
