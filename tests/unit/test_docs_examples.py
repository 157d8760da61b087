"""Code shown in the docs runs: the example migration of docs/MIGRATIONS.md is a valid
migration file whose transforms work, and the docs cite nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from google.cloud import firestore

from shared.migrations.files import load

REPO = Path(__file__).resolve().parents[2]


def example_migration() -> str:
    text = (REPO / "docs" / "MIGRATIONS.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)[:1]
    return block


class Snap:
    def get(self, field: str) -> Any:
        return {"name": "Ada Lovelace"}[field]


class Ctx:
    def __init__(self) -> None:
        self.passes: list[tuple[str, Any]] = []

    def migrate(self, collection: str, transform: Any) -> None:
        self.passes.append((collection, transform))


def test_the_example_migration_loads_and_its_transforms_run(tmp_path: Path) -> None:
    (tmp_path / "003_split_display_names.py").write_text(example_migration(), encoding="utf-8")
    (migration,) = load(tmp_path)
    assert migration.info.version == "1.2.0" and migration.down is not None
    up, down = Ctx(), Ctx()
    migration.up(up)
    migration.down(down)
    assert [(c, t(Snap())) for c, t in up.passes] == [("users", {"firstName": "Ada"})]
    assert [(c, t(Snap())) for c, t in down.passes] == [
        ("users", {"firstName": firestore.DELETE_FIELD})
    ]


def test_docs_and_code_cite_only_the_repository() -> None:
    """The design notes the project started from are not shipped: nothing may point there."""
    outside = re.compile(r"\.\./shared/|shared/reference/|DESIGN\.md")
    files = [
        REPO / "README.md",
        *(REPO / "docs").glob("*.md"),
        *(REPO / "shared").rglob("*.py"),
        *(REPO / "functions").rglob("*.py"),
        *(REPO / "cloudbuild").glob("*.yaml"),
        *(REPO / "benchmarks").glob("*.py"),
        *(REPO / "tests").rglob("*.py"),
    ]
    cited = [
        f"{path.relative_to(REPO)}:{n}"
        for path in files
        if path.name != "test_docs_examples.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert cited == []
