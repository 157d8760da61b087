"""Messages the release bus handles for the trains besides the commands (follow-ups)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.mobile.model import Platform, StoreView


class StoreAnswered(BaseModel):
    """A store's answer to one train call: what it now holds (`view`) or why it refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release: str
    platform: Platform
    call_id: str
    view: StoreView | None = None
    error: str | None = None
