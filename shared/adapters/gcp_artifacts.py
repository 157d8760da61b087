"""The artifact references the Google Cloud deploy target records, and the API shapes behind them.

A rollback restores exactly what was recorded, so the keys are a contract between a deploy
(`environments/{env}.current.artifacts`) and a later restore of that release:

- `run:<region>/<service>` → the Cloud Run revision id serving 100% of that service (each
  2nd-gen function is a Cloud Run service; every deploy creates a new immutable revision);
- `hosting:<site>` → `sites/<site>/versions/<id>`, the version of the site's live release;
- `rules:cloud.firestore` → `projects/<p>/rulesets/<id>`, the ruleset of that rules release;
- `indexes` → `sha256:<hex>` of `firestore.indexes.json`, `indexes:file` → its path in the
  release's source, and `indexes:json` → its content (indexes have no version to point back
  to, so the file itself is kept; left out when larger than `INLINE_INDEXES_MAX_CHARS`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.gcp_rest import ApiModel

RUN_PREFIX = "run:"
HOSTING_PREFIX = "hosting:"
RULES_FIRESTORE = "rules:cloud.firestore"
INDEXES = "indexes"
INDEXES_FILE = "indexes:file"
INDEXES_JSON = "indexes:json"
# Two copies (current and previous) live in one environment document (1 MiB at most).
INLINE_INDEXES_MAX_CHARS = 200_000

# `goog-managed-by` values that mark a Cloud Run service as the runtime of a 2nd-gen function
# (Cloud Functions sets the first; the Firebase CLI recognises the other two as well).
FUNCTION_MANAGERS = frozenset({"cloudfunctions", "cloud-functions", "firebase-functions"})

_SERVICE_NAME = re.compile(r"^projects/[^/]+/locations/(?P<region>[^/]+)/services/(?P<svc>[^/]+)$")
_RUN_KEY = re.compile(r"^run:(?P<region>[a-z0-9-]+)/(?P<svc>[a-z0-9-]+)$")
_SITE_NAME = re.compile(r"^projects/[^/]+/sites/(?P<site>[^/]+)$")


class BadArtifact(ValueError):
    """A recorded reference that does not have the shape this adapter writes."""


# --- Cloud Run -------------------------------------------------------------------------------


def run_key(service_name: str) -> str:
    """`projects/p/locations/r/services/s` → `run:r/s`."""
    match = _SERVICE_NAME.match(service_name)
    if match is None:
        raise BadArtifact(f"expected a Cloud Run service name, found {service_name!r}")
    return f"{RUN_PREFIX}{match['region']}/{match['svc']}"


def run_service_name(key: str, project: str) -> str:
    """`run:r/s` → the service's resource name in `project`."""
    match = _RUN_KEY.match(key)
    if match is None:
        raise BadArtifact(f"expected run:<region>/<service>, found {key!r}")
    return f"projects/{project}/locations/{match['region']}/services/{match['svc']}"


def short_revision(name: str) -> str:
    """Revision ids appear both bare and as full resource names; traffic targets want bare."""
    return name.rsplit("/", 1)[-1]


def is_function_service(service: Any) -> bool:
    return service.labels.get("goog-managed-by", "") in FUNCTION_MANAGERS


def serving_revision(service: Any) -> str | None:
    """The revision that takes 100% of the traffic, or None while traffic is split."""
    for status in service.traffic_statuses:
        if status.percent == 100:
            # A LATEST target may report no revision; then it is the latest ready one.
            return short_revision(status.revision or service.latest_ready_revision) or None
    return None


# --- Firebase Hosting (REST v1beta1) ---------------------------------------------------------


class VersionRef(ApiModel):
    name: str


class HostingRelease(ApiModel):
    name: str = ""
    version: VersionRef | None = None


class Channel(ApiModel):
    name: str
    release: HostingRelease | None = None


class Site(ApiModel):
    name: str

    @property
    def site_id(self) -> str:
        match = _SITE_NAME.match(self.name)
        if match is None:
            raise BadArtifact(f"expected projects/<p>/sites/<site>, found {self.name!r}")
        return match["site"]


class SiteList(ApiModel):
    sites: list[Site] = Field(default_factory=list)
    next_page_token: str = ""


# --- Firebase Security Rules (REST v1) -------------------------------------------------------


class RulesRelease(ApiModel):
    name: str
    ruleset_name: str


# --- Firestore indexes -----------------------------------------------------------------------


class IndexSpec(BaseModel):
    """One composite index of `firestore.indexes.json`; every field but the collection group
    is passed to the Firestore Admin API as it is (its Index resource has the same names)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    collection_group: str = Field(alias="collectionGroup", min_length=1)
    query_scope: str = Field("COLLECTION", alias="queryScope")
    fields: list[dict[str, Any]] = Field(min_length=1)

    def admin_body(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude={"collection_group"})


class IndexFile(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    indexes: list[IndexSpec] = Field(default_factory=list)
    field_overrides: list[dict[str, Any]] = Field(default_factory=list, alias="fieldOverrides")


def sha256_ref(content: str) -> str:
    return "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()


def index_artifacts(path: str, content: str) -> dict[str, str]:
    IndexFile.model_validate_json(content)  # refuse to record a file restore could not apply
    recorded = {INDEXES: sha256_ref(content), INDEXES_FILE: path}
    if len(content) <= INLINE_INDEXES_MAX_CHARS:
        recorded[INDEXES_JSON] = content
    return recorded
