"""The dispatch tables are complete: every effect a transition may ask for has a runner."""

from __future__ import annotations

from typing import get_args

from shared.domain.effects import Effect
from shared.service.outbox import RUNNERS


def effect_types() -> set[type]:
    union, *_ = get_args(Effect)  # Annotated[Union[...], Field(discriminator="kind")]
    return set(get_args(union))


def test_every_effect_type_has_a_runner() -> None:
    assert len(effect_types()) >= 8
    assert effect_types() == set(RUNNERS)
