"""The production store adapters against the loopback simulators: the real protocols (Play's
discovery client with a service account token, App Store Connect with ES256 JWTs), including
the stores' 4xx, 5xx, 429 and timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from shared.local.store_keys import ASC_ISSUER, ASC_KEY_ID, ec_pair, rsa_pair
from shared.mobile.ports import StoreRejected, StoreUnavailable
from tests.integration.store_sims import APP_ID, GROUP, PACKAGE, Stores, running_stores


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with running_stores() as s:
        yield s


def _production(stores: Stores) -> dict[str, Any]:
    apps: dict[str, Any] = httpx.get(f"{stores.play_sim.url}_sim/state").json()["apps"]
    return dict(apps[PACKAGE]["production"])


def _fault(url: str, **spec: Any) -> None:
    httpx.post(f"{url}_sim/faults", json=spec).raise_for_status()


# -- Google Play ------------------------------------------------------------------------------


def test_play_stages_halts_and_completes_a_production_release_through_committed_edits(
    stores: Stores,
) -> None:
    play = stores.play()
    play.set_release("production", 4101, "completed", None, "4.1.0")
    view = play.set_release("production", 4102, "inProgress", 0.1, "4.2.0")
    assert (view.status, view.fraction) == ("inProgress", 0.1)
    releases = _production(stores)["releases"]
    assert releases[0] == {
        "name": "4.2.0",
        "versionCodes": ["4102"],
        "status": "inProgress",
        "userFraction": 0.1,
    }
    assert releases[1]["versionCodes"] == ["4101"]  # users keep the completed one meanwhile
    play.set_release("production", 4102, "halted", 0.1, "4.2.0")
    assert _production(stores)["releases"][0]["status"] == "halted"
    assert play.tracks()["production"][0]["status"] == "halted"
    play.set_release("production", 4102, "completed", None, "4.2.0")
    assert [r["versionCodes"] for r in _production(stores)["releases"]] == [["4102"]]
    assert httpx.get(f"{stores.play_sim.url}_sim/state").json()["openEdits"] == 0


def test_play_4xx_is_one_error_with_plays_message_and_commits_nothing(stores: Stores) -> None:
    before = _production(stores)
    with pytest.raises(StoreRejected, match="Version code 999 has not been uploaded"):
        stores.play().set_release("production", 999, "inProgress", 0.1, "9.9.9")
    assert _production(stores) == before


def test_play_5xx_and_429_are_retried(stores: Stores) -> None:
    _fault(stores.play_sim.url, match=r"POST .*:commit$", status=503, times=1)
    _fault(stores.play_sim.url, match=r"PUT .*/tracks/internal$", status=429, times=1)
    view = stores.play().set_release("internal", 4200, "completed", None, "4.3.0")
    assert view.status == "completed"
    assert httpx.get(f"{stores.play_sim.url}_sim/state").json()["apps"][PACKAGE]["internal"][
        "releases"
    ][0]["versionCodes"] == ["4200"]


def test_play_unavailable_after_the_retries_records_nothing(stores: Stores) -> None:
    before = _production(stores)
    _fault(stores.play_sim.url, match=r"POST .*:commit$", status=500, times=4)
    with pytest.raises(StoreUnavailable, match="after 4 attempts"):
        stores.play().set_release("production", 4200, "inProgress", 0.2, "4.3.0")
    assert _production(stores) == before


def test_play_timeouts_are_retried(stores: Stores) -> None:
    _fault(stores.play_sim.url, match=r"POST .*/edits$", status=0, delay_s=1.5, times=1)
    view = stores.play(timeout_s=0.5).set_release("closed", 4200, "completed", None, "4.3.0")
    assert view.track == "closed"


def test_play_refuses_a_key_it_does_not_know_and_calls_without_a_token(stores: Stores) -> None:
    with pytest.raises(StoreRejected, match="service account key"):
        stores.play(pair=rsa_pair()).tracks()
    url = f"{stores.play_sim.url}androidpublisher/v3/applications/{PACKAGE}/edits"
    assert httpx.post(url, json={}).status_code == 401


def test_play_reporting_crash_rate_rows_by_version_code(stores: Stores) -> None:
    from shared.adapters.play_store import google_service
    from shared.local.store_keys import service_account_info

    row = {
        "app": PACKAGE,
        "versionCode": 4102,
        "crashRate": 0.034,
        "distinctUsers": 5000,
        "startTime": "2026-11-28T10:00:00+00:00",
    }
    httpx.post(f"{stores.play_sim.url}_sim/vitals", json=row).raise_for_status()
    info = service_account_info(stores.rsa, f"{stores.play_sim.url}token", "demo-x")
    service = google_service(
        "playdeveloperreporting.v1beta1.json",
        info,
        stores.play_sim.url,
        5.0,
        "https://www.googleapis.com/auth/playdeveloperreporting",
    )
    body = {
        "timelineSpec": {
            "aggregationPeriod": "HOURLY",
            "startTime": {"year": 2026, "month": 11, "day": 28, "hours": 9},
            "endTime": {"year": 2026, "month": 11, "day": 28, "hours": 11},
        },
        "dimensions": ["versionCode"],
        "metrics": ["crashRate", "distinctUsers"],
    }
    crashrate = service.vitals().crashrate()
    rows = crashrate.query(name=f"apps/{PACKAGE}/crashRateMetricSet", body=body).execute()["rows"]
    assert rows[0]["dimensions"] == [{"dimension": "versionCode", "stringValue": "4102"}]
    assert rows[0]["metrics"][0] == {"metric": "crashRate", "decimalValue": {"value": "0.034"}}


# -- App Store Connect ------------------------------------------------------------------------


def test_ios_goes_testflight_review_phased_release_pause_and_complete(stores: Stores) -> None:
    asc = stores.asc()
    assert asc.add_to_group(4102, GROUP).track == "testflight"
    assert asc.submit(4102, "4.2.0").status == "WAITING_FOR_REVIEW"
    assert asc.submit(4102, "4.2.0").status == "WAITING_FOR_REVIEW"  # a repeat changes nothing
    with pytest.raises(StoreRejected, match="App Review has not approved it"):
        asc.release(4102)
    httpx.post(f"{stores.asc_sim.url}_sim/review", json={"build": 4102}).raise_for_status()
    view = asc.release(4102)
    assert (view.status, view.day) == ("ACTIVE", 1)
    assert asc.set_phase(4102, "PAUSED").status == "PAUSED"
    status = asc.status(4102)
    assert (status.status, status.detail["groups"]) == ("PAUSED", [GROUP])
    assert asc.set_phase(4102, "COMPLETE").status == "COMPLETE"
    with pytest.raises(StoreRejected, match="409"):
        asc.set_phase(4102, "ACTIVE")


def test_ios_unknown_build_is_one_clear_error(stores: Stores) -> None:
    with pytest.raises(StoreRejected, match="no build 777"):
        stores.asc().add_to_group(777, GROUP)


def test_ios_5xx_429_and_timeouts_are_retried(stores: Stores) -> None:
    url = stores.asc_sim.url
    _fault(url, match="GET /v1/builds$", status=500, times=1)
    _fault(url, match="POST /v1/betaGroups", status=429, times=1)
    _fault(url, match="GET /v1/betaGroups", status=0, delay_s=1.5, times=1)
    asc = stores.asc(timeout_s=0.5)
    asc.add_to_group(4200, GROUP)
    assert asc.status(4200).detail["groups"] == [GROUP]
    _fault(url, match="GET /v1/builds$", status=503, times=4)
    with pytest.raises(StoreUnavailable, match="after 4 attempts"):
        asc.add_to_group(4200, GROUP)


def _token(key: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ASC_ISSUER, "iat": now, "exp": now + 600, "aud": "appstoreconnect-v1", **claims}
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": ASC_KEY_ID})


@pytest.mark.parametrize(
    "case", ["unsigned", "expired", "audience", "foreign key", "too long", "no token"]
)
def test_app_store_connect_refuses_bad_tokens(stores: Stores, case: str) -> None:
    key = stores.ec.private_pem
    now = int(time.time())
    token = {
        "unsigned": jwt.encode(
            {"iss": ASC_ISSUER, "aud": "appstoreconnect-v1", "exp": now + 60, "iat": now},
            None,
            algorithm="none",
        ),
        "expired": _token(key, iat=now - 1200, exp=now - 60),
        "audience": _token(key, aud="someone-else"),
        "foreign key": _token(ec_pair().private_pem),
        "too long": _token(key, exp=now + 3600),
        "no token": "",
    }[case]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(f"{stores.asc_sim.url}v1/builds", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["code"] == "NOT_AUTHORIZED"


def test_the_adapters_tokens_are_es256_with_kid_and_at_most_20_minutes(stores: Stores) -> None:
    token = stores.asc().token()
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token, stores.ec.public_pem, algorithms=["ES256"], audience="appstoreconnect-v1"
    )
    assert (header["alg"], header["kid"], claims["iss"]) == ("ES256", ASC_KEY_ID, ASC_ISSUER)
    assert claims["exp"] - claims["iat"] <= 20 * 60
    assert APP_ID  # the app the adapter is bound to


def test_play_vitals_adapter_reads_hourly_crash_rate_windows_of_one_build(stores: Stores) -> None:
    from datetime import UTC, datetime

    from shared.adapters.play_store import PlayVitals
    from shared.local.store_keys import service_account_info

    for hour, rate in ((12, 0.004), (13, 0.031)):
        row = {
            "app": PACKAGE,
            "versionCode": 4200,
            "crashRate": rate,
            "distinctUsers": 8000,
            "startTime": f"2026-11-27T{hour}:00:00+00:00",
        }
        httpx.post(f"{stores.play_sim.url}_sim/vitals", json=row).raise_for_status()
    info = service_account_info(stores.rsa, f"{stores.play_sim.url}token", "demo-x")
    vitals = PlayVitals.connect(PACKAGE, info, stores.play_sim.url, 5.0)
    windows = vitals.crash_windows(
        4200, datetime(2026, 11, 27, 11, tzinfo=UTC), datetime(2026, 11, 27, 14, tzinfo=UTC)
    )
    assert [(w.start.hour, w.users, w.crashed_users) for w in windows] == [
        (12, 8000, 32),
        (13, 8000, 248),
    ]
