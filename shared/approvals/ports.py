"""What the approval check needs from outside: a verifier of Firebase ID tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shared.approvals.tokens import Approver


class TokenVerifier(Protocol):
    def verify(self, id_token: str) -> Approver: ...
