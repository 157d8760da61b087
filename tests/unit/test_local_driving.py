"""Driving the local stack: `wait_for`, the demo acts' one way to wait for the stack, and
the ports its parts are started on."""

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


def test_free_port_never_hands_out_a_port_it_picked_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.local import emulators

    given = iter([41001, 41001, 41002])  # the kernel offers a released port again

    class Socket:
        def __enter__(self) -> Socket:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def bind(self, address: object) -> None:
            self.port = next(given)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(emulators, "_PICKED", set())
    monkeypatch.setattr(emulators.socket, "socket", Socket)
    assert [emulators.free_port(), emulators.free_port()] == [41001, 41002]
