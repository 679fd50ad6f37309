"""Reminder policies: named, ordered stages, configured under `[policies.NAME]`.

The default policy is the sequence Dutch small businesses know: a call the day after the due date, a
friendly reminder, an aanmaning, the ingebrekestelling (for consumers the legal 14-day letter announcing the
collection costs), a final notice, and the handover to a collection agency.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Action = Literal["task", "email", "post", "ledger_reminder", "handover"]
Audience = Literal["all", "consumer", "business"]
CatchUp = Literal["restart", "latest"]
DEFAULT_POLICY = "default"
# What reaches the customer as a message from us (a call task is for a person here; a handover goes to an agency).
CUSTOMER_FACING: frozenset[str] = frozenset({"email", "post", "ledger_reminder"})
# What we write ourselves, every word of it: the only kind of stage that can be the legal letter (the ledger's own
# reminder says what the ledger says, and a call or a handover is no letter at all).
WRITTEN: frozenset[str] = frozenset({"email", "post"})
# Stages that are a printed letter by default (a PDF attached to the e-mail, or sent by post): the legal letter and
# the final notice; a stage's `letter` says otherwise.
LETTER_TEMPLATES: frozenset[str] = frozenset({"final_notice"})


# Policy settings added after approvals existed (see `Policy.fingerprint`).
ADDED_LATER = ("grace_days", "min_amount_for_costs", "limitation_margin_days")
STAGE_ADDED_LATER = ("letter",)


class PolicyProblems(ValueError):
    """Everything wrong with a policy at once, each with its key under the policy (`stages[3].legal_letter`)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    days: int = Field(ge=-60, le=3650, description="days after the due date")
    action: Action
    template: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,40}$")
    legal_letter: bool = False  # the ingebrekestelling; for consumers the 14-day letter of art. 6:96 lid 6 BW
    min_open_amount: Decimal = Field(default=Decimal(0), ge=0)
    audience: Audience = "all"
    term_days: int | None = Field(default=None, ge=1, le=90, description="payment term stated in the message")
    options: dict[str, Any] = Field(default_factory=dict)
    # Also a printed letter: rendered as a PDF in the sender's house style and attached to the e-mail (a `post`
    # stage is always one). Default: the legal letter and the final notice.
    letter: bool | None = None

    @property
    def template_name(self) -> str:
        return self.template or self.name

    @property
    def is_letter(self) -> bool:
        if self.action == "post":
            return True
        if self.letter is not None:
            return self.letter and self.action in WRITTEN
        return self.action in WRITTEN and (self.legal_letter or self.template_name in LETTER_TEMPLATES)

    @property
    def customer_facing(self) -> bool:
        return self.action in CUSTOMER_FACING


class ApprovalRules(BaseModel):
    """Which actions wait for a person's `connector approve` before they go out, under `[policies.NAME.approval]`.

    By default the handover (sending a customer to a collection agency is a person's decision); optionally the
    legal letter or any other stage, the first action on an invoice that was already long overdue when the
    connector first saw it (it may be settled or disputed outside the ledger), and large amounts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: tuple[str, ...] | None = Field(
        default=None, description="stage names; default: every handover stage; [] for none"
    )
    overdue_at_first_sight_days: int | None = Field(default=None, ge=0, le=3650)
    amount_above: Decimal | None = Field(default=None, ge=0)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: tuple[Stage, ...] = Field(min_length=1)
    # How a legal letter is taken to reach the debtor: by post (HR 2016:2704 delivery rule) or e-mail.
    letter_channel: Literal["email", "post"] = "email"
    email_receipt_days: int = Field(default=1, ge=0, le=7)
    # Business days after the legal letter's term before costs are charged, or a final notice or handover goes:
    # a transfer made on the term's last day is credited a day or two later (art. 6:114 lid 2 BW).
    grace_days: int = Field(default=3, ge=0, le=15)
    # An invoice with less open than this gets no stage with collection costs (the legal letter and after): EUR 40
    # in costs on a residue of a cent is no claim a judge awards, nor one a customer understands.
    min_amount_for_costs: Decimal = Field(default=Decimal("25"), ge=0)
    # How long before a claim prescribes it stops being chased by itself and waits for a person.
    limitation_margin_days: int = Field(default=90, ge=0, le=730)
    group_per_contact: bool = True
    respect_ledger_pause: bool = True  # an invoice a person paused in the ledger gets nothing
    # An invoice first seen already past some stages: "restart" begins it at `start_stage` (default: the first
    # stage that reaches the customer) and goes through every later stage in order, spaced from what really
    # went out; "latest" (for offices moving from another tool that already sent the earlier ones) gives it
    # the latest stage that applies, as after an outage.
    catch_up: CatchUp = "restart"
    start_stage: str | None = None
    approval: ApprovalRules = Field(default_factory=ApprovalRules)

    @model_validator(mode="after")
    def _ordered(self) -> Policy:
        problems = stage_problems(self.stages, start_stage=self.start_stage, approval_stages=self.approval.stages)
        if problems:
            raise PolicyProblems(problems)
        return self

    def needs_approval(self, stage: Stage) -> bool:
        """Whether every action at this stage waits for a person."""
        if self.approval.stages is None:
            return stage.action == "handover"
        return stage.name in self.approval.stages

    def fingerprint(self) -> str:
        """What a person approves when they approve an administration: this policy, exactly. Any change to it
        (a stage, a term, the catch-up) gives another fingerprint, and the administration waits again. A setting
        added in a later release counts only once it differs from its default: an upgrade that makes the
        workflow more careful does not stop every administration until someone approves it again."""
        document = self.model_dump(mode="json")
        for key in ADDED_LATER:
            if getattr(self, key) == type(self).model_fields[key].default:
                del document[key]
        for stage, dumped in zip(self.stages, document["stages"], strict=True):
            for key in STAGE_ADDED_LATER:
                if getattr(stage, key) == Stage.model_fields[key].default:
                    del dumped[key]
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def minimum_at(self, index: int) -> Decimal:
        """The least an invoice must have open to get the stage at `index`: the stage's own minimum, and from
        the legal letter on (where costs are charged) at least `min_amount_for_costs`."""
        stage_minimum = self.stages[index].min_open_amount
        letter = self.letter_index
        if letter is not None and index >= letter:
            return max(stage_minimum, self.min_amount_for_costs)
        return stage_minimum

    def index(self, name: str | None) -> int:
        """Position of a stage by name; -1 for none (or a stage no longer in the policy)."""
        for position, stage in enumerate(self.stages):
            if stage.name == name:
                return position
        return -1

    @property
    def letter_index(self) -> int | None:
        return next((i for i, stage in enumerate(self.stages) if stage.legal_letter), None)

    def start_index(self, applies: Callable[[Stage], bool]) -> int | None:
        """Where "restart" begins an invoice first seen past it: `start_stage`, else the first stage that
        reaches the customer (of those that `applies` to this debtor)."""
        if self.start_stage is not None:
            return self.index(self.start_stage)
        return next((i for i, s in enumerate(self.stages) if s.customer_facing and applies(s)), None)


def stage_problems(
    stages: Sequence[Stage],
    *,
    start_stage: str | None = None,
    approval_stages: Sequence[str] | None = None,
    positions: Sequence[int] | None = None,
) -> list[tuple[str, str]]:
    """What makes a sequence of stages legally or logically wrong, every problem with its key. `positions` are
    the stages' places in the configuration when some were left out for errors of their own."""
    at = list(positions) if positions is not None else list(range(len(stages)))
    problems: list[tuple[str, str]] = []

    def key(index: int, field: str) -> str:
        return f"stages[{at[index]}].{field}"

    first_with: dict[str, int] = {}
    for index, stage in enumerate(stages):
        if stage.name in first_with:
            problems.append(
                (key(index, "name"), f"{stage.name!r} is also the name of stages[{at[first_with[stage.name]]}]")
            )
        first_with.setdefault(stage.name, index)
    for index in range(1, len(stages)):
        if stages[index].days <= stages[index - 1].days:
            problems.append(
                (
                    key(index, "days"),
                    f"{stages[index].days} is not after stages[{at[index - 1]}] ({stages[index - 1].days}): stages "
                    "go in order of strictly increasing days after the due date",
                )
            )
    letters = [index for index, stage in enumerate(stages) if stage.legal_letter]
    for index in letters[1:]:
        problems.append(
            (key(index, "legal_letter"), f"a second legal letter (stages[{at[letters[0]]}] is one): a policy has one")
        )
    for index in letters:
        stage = stages[index]
        if stage.action not in WRITTEN:
            problems.append(
                (
                    key(index, "legal_letter"),
                    f"a {stage.action} stage cannot be the legal letter: only a message we write (action = "
                    '"email" or "post") can state the 14-day term and the collection costs',
                )
            )
    letter = letters[0] if letters else None
    if letter is not None:
        stage = stages[letter]
        if stage.audience == "business":
            problems.append(
                (
                    key(letter, "audience"),
                    "the legal letter must reach consumers (audience all or consumer): it is their 14-day letter",
                )
            )
        if stage.days < 1:
            problems.append(
                (
                    key(letter, "days"),
                    "the legal letter can only be sent after the due date (once the debtor is in default)",
                )
            )
        if not any(earlier.customer_facing for earlier in stages[:letter]):
            problems.append(
                (
                    key(letter, "legal_letter"),
                    "the legal letter needs a reminder before it (an email, post or ledger_reminder stage): it is "
                    "never the first message a customer gets",
                )
            )
    for index, stage in enumerate(stages):
        if stage.action == "handover" and (letter is None or index < letter):
            problems.append((key(index, "action"), "a handover stage needs a legal letter stage before it"))
            break
    names = [stage.name for stage in stages]
    if start_stage is not None:
        start = names.index(start_stage) if start_stage in names else -1
        if start < 0:
            problems.append(("start_stage", f"no stage named {start_stage!r} (stages: {', '.join(names)})"))
        elif not stages[start].customer_facing:
            problems.append(("start_stage", f"{start_stage!r} does not reach the customer (email, post or reminder)"))
        elif letter is not None and start >= letter:
            problems.append(("start_stage", "must come before the legal letter, which is never the first message"))
    unknown = [name for name in approval_stages or () if name not in names]
    if unknown:
        problems.append(
            ("approval.stages", f"no stage named {', '.join(map(repr, unknown))} (stages: {', '.join(names)})")
        )
    return problems


def default_policy() -> Policy:
    return Policy(
        stages=(
            Stage(name="call", days=1, action="task"),
            Stage(name="reminder", days=3, action="email", term_days=7),
            Stage(name="aanmaning", days=16, action="email", term_days=7),
            Stage(name="ingebrekestelling", days=23, action="email", legal_letter=True),
            Stage(name="final_notice", days=30, action="email", term_days=5),
            Stage(name="handover", days=37, action="handover"),
        )
    )
