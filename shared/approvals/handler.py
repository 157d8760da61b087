"""The `ApprovalCheck` port's adapter: an approval or rejection is signed by its approver.

The command's `id_token` is verified (`TokenVerifier`: firebase-admin, or its emulator mode
locally) and must name the command's `approver`. With `[control] signed_approvals = false` an
unsigned decision is taken at its word (the approver is whoever the command says); a token
sent anyway is still verified.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.approvals.ports import TokenVerifier
from shared.approvals.tokens import check_approver
from shared.domain.commands import ApproveRelease, RejectRelease
from shared.errors import Refused


class SignedApprovals:
    def __init__(self, verifier: Callable[[], TokenVerifier], *, required: bool) -> None:
        # the verifier is built on first use: most messages are not approvals
        self._make = verifier
        self._verifier: TokenVerifier | None = None
        self.required = required

    def check(self, cmd: ApproveRelease | RejectRelease) -> None:
        if cmd.id_token is None:
            if self.required:
                raise Refused(
                    f"{cmd.type} of {cmd.release} in {cmd.env} by {cmd.approver} is not signed: "
                    "decisions must carry the approver's Firebase ID token (id_token); sign in "
                    "with `releasectl auth login` (docs/GATES.md)"
                )
            return
        if self._verifier is None:
            self._verifier = self._make()
        check_approver(cmd.approver, self._verifier.verify(cmd.id_token))
