"""The `[mobile]` section of `environments.toml`: the apps, their stores and the train's rules.

Pure configuration (pydantic), validated where the plane's file is read; the stores' base URLs
are process settings (`RELEASECTL_PLAY_URL`, …) so only they differ between the local stack and
Google Cloud.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A Play staged-rollout step: Play accepts 0 < userFraction < 1 (1.0 means "complete").
Fraction = Annotated[float, Field(gt=0, le=1)]
DEFAULT_FRACTIONS = (0.1, 0.2, 0.5, 1.0)
PackageName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
]
ManagedName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,255}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AndroidApp(_Strict):
    package_name: PackageName
    # Play's tracks for the seed's flow: internal test, closed test, production
    internal_track: str = "internal"
    closed_track: str = "closed"
    fractions: tuple[Fraction, ...] = DEFAULT_FRACTIONS
    # the Firebase app id Crashlytics alerts name (`appid`), e.g. 1:123:android:abc
    firebase_app_id: str | None = None
    # a service account JSON key with access to the Play Console (Secret Manager)
    service_account_name: ManagedName = "play-service-account"

    @model_validator(mode="after")
    def _steps(self) -> Self:
        f = self.fractions
        if not f or list(f) != sorted(set(f)) or f[-1] != 1.0:
            raise ValueError("fractions: increasing steps in (0, 1], the last one 1.0")
        return self


class IosApp(_Strict):
    app_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
    # the TestFlight beta group staging builds go to
    internal_group: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    issuer_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    key_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,20}$")]
    firebase_app_id: str | None = None  # the Firebase app id Crashlytics alerts name
    # the App Store Connect API key (.p8, PEM) in Secret Manager
    signing_key_name: ManagedName = "app-store-connect-key"


class CrashRules(_Strict):
    """When a build's crash numbers are a confirmed breach."""

    crash_free_users: float = Field(0.99, gt=0, le=1)
    consecutive_windows: int = Field(2, ge=1, le=60)
    min_sessions: int = Field(200, ge=0)


class MobileConfig(_Strict):
    # the environment whose approvals a store production step needs, whose flags are the
    # kill switches and whose project holds the app's secrets
    env: str = "production"
    # the environment whose live release puts its builds on internal testing / TestFlight
    testing_env: str = "staging"
    # a production step's bake before Play's fraction is raised
    step_bake_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    android: AndroidApp | None = None
    ios: IosApp | None = None
    crash: CrashRules = CrashRules()


class StoreUrls(BaseSettings):
    """Where the stores are: Google's and Apple's hosts, or the local simulators."""

    model_config = SettingsConfigDict(env_prefix="RELEASECTL_", extra="ignore")

    play_url: str = "https://androidpublisher.googleapis.com/"
    play_reporting_url: str = "https://playdeveloperreporting.googleapis.com/"
    app_store_connect_url: str = "https://api.appstoreconnect.apple.com/"
    store_timeout_s: float = Field(20.0, gt=0, le=300)
