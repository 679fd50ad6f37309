"""Policies that cannot be right are refused with every problem at once, each under its own key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connector.workflow.policy import Policy, PolicyProblems, Stage, default_policy, stage_problems


@pytest.mark.parametrize("action", ["task", "ledger_reminder", "handover"])
def test_only_a_message_we_write_can_be_the_legal_letter(action: str) -> None:
    """A call task or the ledger's own reminder marked as the legal letter once let a consumer be charged costs,
    and handed over, after nothing but a call."""
    stages = (
        Stage(name="reminder", days=3, action="email"),
        Stage(name="letter", days=10, action=action, legal_letter=True),  # type: ignore[arg-type]
    )
    assert stage_problems(stages) == [
        (
            "stages[1].legal_letter",
            f'a {action} stage cannot be the legal letter: only a message we write (action = "email" or "post") '
            "can state the 14-day term and the collection costs",
        )
    ]
    with pytest.raises(ValidationError, match=f"a {action} stage cannot be the legal letter"):
        Policy(stages=stages)


def test_every_problem_is_named_not_only_the_first() -> None:
    stages = (
        Stage(name="reminder", days=3, action="email"),
        Stage(name="reminder", days=3, action="email"),
        Stage(name="letter", days=20, action="email", legal_letter=True, audience="business"),
        Stage(name="again", days=30, action="email", legal_letter=True),
    )
    with pytest.raises(ValidationError) as raised:
        Policy(stages=stages, start_stage="nope")
    (error,) = raised.value.errors()
    problem = error["ctx"]["error"]
    assert isinstance(problem, PolicyProblems)
    assert [key for key, _ in problem.problems] == [
        "stages[1].name",
        "stages[1].days",
        "stages[3].legal_letter",
        "stages[2].audience",
        "start_stage",
    ]


def test_positions_name_the_stages_as_configured_when_some_were_left_out() -> None:
    """check-config checks the rules across stages on those valid by themselves, under their own numbers."""
    stages = (Stage(name="a", days=5, action="email"), Stage(name="b", days=4, action="email"))
    assert stage_problems(stages, positions=[0, 3])[0][0] == "stages[3].days"


def test_the_default_policy_has_no_problems() -> None:
    policy = default_policy()
    assert stage_problems(policy.stages, start_stage=policy.start_stage) == []
