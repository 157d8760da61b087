"""The executor: checks decide create / update / skip, captures feed later arguments,
the first failure stops everything."""

from __future__ import annotations

import pytest

from shared.deploy.executor import Result, StepFailed, execute
from shared.deploy.render import script
from shared.deploy.steps import Argv, Capture, Plan, Step


class Cloud:
    """A fake runner: `exists` holds what describe finds; records every call."""

    def __init__(self, exists: set[str], outputs: dict[str, str] | None = None) -> None:
        self.exists, self.outputs, self.calls = exists, outputs or {}, []  # type: ignore[var-annotated]

    def __call__(self, argv: Argv) -> Result:
        self.calls.append(argv)
        if argv[0] == "describe":
            return Result(0 if argv[1] in self.exists else 1)
        if argv[0] == "fail":
            return Result(3, "", "boom\n")
        if argv[0] == "lookup":
            return Result(0, self.outputs.get(argv[1], ""))
        if argv[0] == "create":
            self.exists.add(argv[1])
        return Result(0)


def topic(name: str) -> Step:
    return Step(f"topic {name}", check=("describe", name), run=("create", name))


def job(name: str) -> Step:
    return Step(
        f"job {name}", check=("describe", name), update=("update", name), run=("create", name)
    )


def test_describe_or_create_creates_only_what_is_missing() -> None:
    cloud = Cloud({"a"})
    outcomes: list[str] = []
    execute(Plan("t", (topic("a"), topic("b"))), cloud, lambda n, t, s, o: outcomes.append(o))
    assert cloud.calls == [("describe", "a"), ("describe", "b"), ("create", "b")]
    assert outcomes == ["start", "exists", "start", "done"]


def test_a_second_run_creates_nothing() -> None:
    cloud = Cloud(set())
    plan = Plan("t", (topic("a"), topic("b")))
    execute(plan, cloud)
    cloud.calls.clear()
    execute(plan, cloud)
    assert [c[0] for c in cloud.calls] == ["describe", "describe"]


def test_an_existing_resource_is_updated_in_place() -> None:
    cloud = Cloud({"tick"})
    execute(Plan("t", (job("tick"),)), cloud)
    assert cloud.calls == [("describe", "tick"), ("update", "tick")]
    cloud = Cloud(set())
    execute(Plan("t", (job("tick"),)), cloud)
    assert cloud.calls == [("describe", "tick"), ("create", "tick")]


def test_captures_are_substituted_in_later_arguments() -> None:
    cloud = Cloud(set(), {"trigger": "projects/p/triggers/t\n", "projects/p/triggers/t": "sub-1"})
    step = Step(
        "wire",
        captures=(
            Capture("TRIGGER", ("lookup", "trigger")),
            Capture("SUB", ("lookup", "{TRIGGER}")),
        ),
        run=("update", "{SUB}", "--x=a-{SUB}-b"),
    )
    execute(Plan("t", (step,)), cloud)
    assert cloud.calls[-1] == ("update", "sub-1", "--x=a-sub-1-b")


def test_an_empty_capture_fails_the_step() -> None:
    step = Step("wire", captures=(Capture("SUB", ("lookup", "none")),), run=("update", "{SUB}"))
    with pytest.raises(StepFailed, match="printed nothing, so SUB is unknown"):
        execute(Plan("t", (step,)), Cloud(set()))


def test_the_first_failure_stops_the_plan() -> None:
    cloud = Cloud(set())
    plan = Plan("t", (topic("a"), Step("broken", ("fail", "x")), topic("c")))
    with pytest.raises(StepFailed) as err:
        execute(plan, cloud)
    assert "step 2/3 failed: broken" in str(err.value)
    assert "exit code 3" in str(err.value) and "boom" in str(err.value)
    assert ("describe", "c") not in cloud.calls


def test_the_script_spells_out_each_idempotence_pattern() -> None:
    step = Step(
        "wire",
        captures=(Capture("SUB", ("lookup", "x y")),),
        run=("update", "{SUB}", "--member=sa:{SUB}@x", "path/{flag}"),
    )
    text = script(Plan("demo", (topic("a"), job("j"), step)))
    assert "describe a >/dev/null 2>&1 \\\n  || create a" in text
    assert "if describe j >/dev/null 2>&1; then\n  update j\nelse\n  create j\nfi" in text
    assert "SUB=$(lookup 'x y')" in text
    assert 'update "${SUB}" "--member=sa:${SUB}@x" \'path/{flag}\'' in text
