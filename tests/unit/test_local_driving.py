"""`wait_for`: the demo acts' one way to wait for the stack to get somewhere."""

from __future__ import annotations

import pytest

from shared.local.driving import wait_for


class Stuck(Exception):
    pass


def test_wait_for_returns_the_first_answer_that_is_not_empty() -> None:
    answers = iter([None, "", "there", "later"])
    assert wait_for("somewhere", lambda: next(answers), Stuck, timeout=5, interval=0) == "there"


def test_wait_for_raises_the_given_failure_naming_what_it_waited_for() -> None:
    with pytest.raises(Stuck, match=r"^release 1\.0\.0 created: not after 0s$"):
        wait_for("release 1.0.0 created", lambda: None, Stuck, timeout=0.05, interval=0.01)
