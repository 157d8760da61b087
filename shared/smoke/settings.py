"""Declarative smoke checks per environment (`[[environments.<env>.smoke.checks]]`)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmokeCheck(_Strict):
    name: str = Field(min_length=1, max_length=80)
    path: str = Field(pattern=r"^/")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    status: int = Field(200, ge=100, le=599)
    body_contains: str | None = None
    latency_ms: float = Field(1000.0, gt=0)
    required: bool = True


class SmokeSettings(_Strict):
    checks: tuple[SmokeCheck, ...] = ()
    attempts: int = Field(3, ge=1, le=10)
    backoff_seconds: float = Field(0.5, ge=0, le=30)  # first wait; doubles up to backoff_max
    backoff_max_seconds: float = Field(5.0, ge=0, le=120)
    timeout_seconds: float = Field(5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [c.name for c in self.checks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"checks: duplicate name(s) {', '.join(dupes)}")
        return self
