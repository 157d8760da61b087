"""Contract tests: each port's cases run against its fake and against its real adapter (the
Firestore one on the emulator). Where they disagree the adapter is right and the fake is fixed;
a case the adapter itself gets wrong is an `xfail(strict=True)` with the reason."""

from __future__ import annotations

import pytest

# The real adapter's cases need the emulators: `firestore_db` starts them (once per session),
# requested only by those cases, so they carry the `emulators` mark themselves (the root
# conftest marks tests whose fixtures name the emulators; these ask for them at run time).
BACKENDS = [
    pytest.param("fake", id="fake"),
    pytest.param("firestore", id="firestore", marks=pytest.mark.emulators),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name
