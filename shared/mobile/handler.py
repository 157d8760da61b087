"""The trains on the release bus: one handler per mobile message, run in the bus's transaction,
and `TrainStores`, which carries a train's store call out to Play or App Store Connect.

A command stages the train with its store call pending, one history line and the call as an
outbox effect; the store's answer (`StoreAnswered`) is handled the same way and is the only
thing that moves what the train says the store holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.domain.commands import (
    MobileCommand,
    MobileComplete,
    MobileHalt,
    MobilePromote,
    MobileRelease,
    MobileResume,
    MobileSubmit,
)
from shared.domain.effects import Alert, BreachAlert, KillSwitches, MobileStoreCall
from shared.errors import ConfigError, NotFound, Refused
from shared.flags.releases import parse_requirements
from shared.mobile import train as rules
from shared.mobile.messages import CrashBreach, StoreAnswered, StoreObserved, TrainDue
from shared.mobile.model import (
    KILL_SWITCHES,
    PLATFORMS,
    Platform,
    StoreCall,
    StoreView,
    TrackLock,
    Train,
    Verb,
    mobile_builds,
    new_train,
)
from shared.mobile.ports import AppStore, PlayStore, StoreRejected
from shared.mobile.settings import MobileConfig

if TYPE_CHECKING:
    from shared.config import EnvConfig
    from shared.service.handlers import Context

_VERBS: dict[type, Verb] = {
    MobilePromote: "promote",
    MobileSubmit: "submit",
    MobileRelease: "release",
    MobileHalt: "halt",
    MobileResume: "resume",
    MobileComplete: "complete",
}
# Tracks where a build reaches real users: one release at a time per app (the track lock).
_LOCKED = {"production", "appstore"}
# A holder that is in one of these no longer blocks the track (fix forward over a halt).
_SETTLED = {rules.COMPLETED, rules.COMPLETE, rules.HALTED, rules.PAUSED}


def mobile_config(ctx: Context, platform: Platform | None = None) -> MobileConfig:
    cfg = ctx.plane.mobile
    if cfg is None:
        raise Refused("no mobile apps are configured ([mobile] in environments.toml)")
    if platform is not None and getattr(cfg, platform) is None:
        raise Refused(f"no {platform} app is configured ([mobile.{platform}])")
    return cfg


def load_train(ctx: Context, version: str, platform: Platform) -> Train:
    """The release's train on `platform`, new if it has none yet."""
    train = ctx.tx.train(version, platform)
    if train is not None:
        return train
    release = ctx.tx.release(version)
    if release is None:
        raise NotFound(f"unknown release {version!r}")
    build = mobile_builds(release.artifacts).get(platform)
    if build is None:
        artifact = "android=versionCode:N" if platform == "android" else "ios=build:N"
        raise Refused(f"release {version} carries no {platform} build (artifact {artifact})")
    return new_train(version, platform, build, ctx.now)


def approved(ctx: Context, version: str, cfg: MobileConfig) -> bool:
    """Did the release pass the mobile env's approval (the same approvals as the backend)?"""
    env = ctx.env_config(cfg.env)
    if not env.approval_required:
        return True
    rollout = ctx.tx.rollout(version, cfg.env)
    step = rollout.steps.get("approval") if rollout is not None else None
    return step is not None and step.status == "approved"


def on_command(cmd: MobileCommand, ctx: Context) -> None:
    cfg = mobile_config(ctx, cmd.platform)
    verb = _VERBS[type(cmd)]
    track = cmd.track if isinstance(cmd, MobilePromote) else None
    ask(ctx, cfg, cmd.release, cmd.platform, verb, cmd.actor, cmd.reason, track=track)


def ask(
    ctx: Context,
    cfg: MobileConfig,
    version: str,
    platform: Platform,
    verb: Verb,
    actor: str,
    reason: str = "",
    *,
    track: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> None:
    """Plan `verb` on the train and, if it needs a store call, stage it (train, history,
    outbox). Halting what is halted, promoting to where it is: a note, no write."""
    train = load_train(ctx, version, platform)
    ctx.release = version
    wanted = rules.Ask(verb, ctx.event_id, ctx.now, track, approved(ctx, version, cfg))
    call = rules.plan(train, wanted, cfg)
    if call is None:
        ctx.note = f"{platform} build {train.build}: {verb} changes nothing ({_where(train)})"
        return
    _take_track(ctx, train, call)
    staged = train.model_copy(
        update={
            "pending": call,
            "actor": actor,
            "reason": reason or None,
            "updated_at": ctx.now,
            "seq": train.seq + 1,
            "evidence": evidence or train.evidence,
        }
    )
    ctx.tx.put_train(staged)
    line = rules.entry(
        train, ctx.event_id, verb, actor, "asked", ctx.now, call, reason or None, evidence
    )
    ctx.tx.add_train_history(version, platform, line)
    effect = MobileStoreCall(release=version, platform=platform, build=train.build, call=call)
    ctx.effects.append(effect)
    ctx.note = f"{platform} build {train.build}: {verb} asked of the store"
    ctx.wrote = True


def _where(train: Train) -> str:
    parts = [train.track or "no track", train.status or ""]
    if train.day is not None:
        parts.append(f"day {train.day}")
    if train.fraction is not None:
        parts.append(f"{train.fraction:.0%}")
    return " ".join(p for p in parts if p)


def _take_track(ctx: Context, train: Train, call: StoreCall) -> None:
    """One release at a time in front of real users on each app's production track."""
    target = call.track or ("appstore" if call.action == "release" else None)
    if target not in _LOCKED or call.verb not in ("promote", "release"):
        return
    lock = ctx.tx.track_lock(train.platform, target)
    if lock is not None and lock.release != train.release:
        holder = ctx.tx.train(lock.release, train.platform)
        busy = holder is not None and (holder.pending is not None or holder.status not in _SETTLED)
        if busy:
            raise Refused(
                f"{train.platform} {target} is held by release {lock.release} "
                "(halt or complete it first)"
            )
    ctx.tx.put_track_lock(
        TrackLock(platform=train.platform, track=target, release=train.release, since=ctx.now)
    )


def on_answer(msg: StoreAnswered, ctx: Context) -> None:
    ctx.release = msg.release
    train = ctx.tx.train(msg.release, msg.platform)
    if train is None:
        raise Refused(f"no {msg.platform} train for release {msg.release}")
    after, call = rules.confirm(train, msg.call_id, msg.view, msg.error, ctx.now)
    if call is None:
        ctx.note = f"a stale store answer ({msg.call_id}); the train waits for another"
        return
    outcome = "confirmed" if msg.error is None else "refused by store"
    line = rules.entry(train, ctx.event_id, call.verb, "store", outcome, ctx.now, reason=msg.error)
    line = line.model_copy(
        update={"track": after.track, "status": after.status, "fraction": after.fraction}
    )
    after = after.model_copy(update={"seq": line.seq})
    ctx.tx.put_train(after)
    ctx.tx.add_train_history(msg.release, msg.platform, line)
    ctx.note = f"{msg.platform} {call.verb} {outcome}" + (f": {msg.error}" if msg.error else "")
    ctx.wrote = True


def on_observed(msg: StoreObserved, ctx: Context) -> None:
    """The store moved on its own (a phased release's next day, its end): the train says so,
    with a history line. A reading older than the train's last change is left alone."""
    ctx.release = msg.release
    train = ctx.tx.train(msg.release, msg.platform)
    if train is None or train.seq != msg.seq:
        ctx.note = f"{msg.platform} train of {msg.release} moved since the store was read"
        return
    after = rules.observe(train, msg.view, ctx.now)
    if after is None:
        ctx.note = f"{msg.platform} build {train.build}: the store holds what the train says"
        return
    line = rules.entry(train, ctx.event_id, "progress", "store", "observed", ctx.now)
    line = line.model_copy(
        update={"track": after.track, "status": after.status, "fraction": after.fraction}
    )
    ctx.tx.put_train(after.model_copy(update={"seq": line.seq}))
    ctx.tx.add_train_history(msg.release, msg.platform, line)
    ctx.note = f"{msg.platform} build {train.build}: the store is at {_where(after)}"
    ctx.wrote = True


def _haltable(train: Train | None) -> bool:
    """In front of real users and still spreading (a halted or paused one stays as it is)."""
    if train is None or train.pending is not None:
        return False
    live = {"production": rules.IN_PROGRESS, "appstore": rules.ACTIVE}
    return train.track in live and train.status == live[train.track]


def on_breach(msg: CrashBreach, ctx: Context) -> None:
    """A confirmed crash breach: halt every train of the release that is spreading, turn its
    kill switches on, alert, with the evidence. Nothing spreading: a no-op."""
    cfg = mobile_config(ctx)
    halted = []
    for platform in PLATFORMS:
        if getattr(cfg, platform) is None or not _haltable(ctx.tx.train(msg.release, platform)):
            continue
        evidence = {
            **msg.evidence,
            "signal": msg.signal,
            "build": msg.build,
            "platform": msg.platform,
        }
        ask(ctx, cfg, msg.release, platform, "halt", "crash-watch", msg.reason, evidence=evidence)
        halted.append(platform)
    if not halted:
        ctx.note = f"{msg.release}: crash breach, but no train of it is spreading (nothing to halt)"
        return
    release = ctx.tx.release(msg.release)
    spec = release.artifacts.get(KILL_SWITCHES, "") if release else ""
    flags = tuple(req.flag for req in parse_requirements(spec)) if spec else ()
    if flags:
        ctx.effects.append(
            KillSwitches(release=msg.release, env=cfg.env, flags=flags, reason=msg.reason)
        )
    alert = BreachAlert(
        key=f"mobile/{msg.release}/{msg.platform}/{msg.build}/{ctx.event_id}",
        env=cfg.env,
        release=msg.release,
        metric=f"{msg.platform} crash-free users" if msg.signal != "crashlytics" else msg.signal,
        reason=f"{msg.reason}; halted {', '.join(halted)}"
        + (f"; kill switches on: {', '.join(flags)}" if flags else ""),
        at=ctx.now,
        evidence=msg.evidence,
    )
    ctx.effects.append(Alert(release=msg.release, env=cfg.env, attempt=0, alert=alert))
    ctx.note = f"{msg.release}: crash breach ({msg.signal}); halting {', '.join(halted)}"


def on_due(msg: TrainDue, ctx: Context) -> None:
    """The tick's nudge; a release with no build for the platform is simply not a train."""
    cfg = mobile_config(ctx)
    release = ctx.tx.release(msg.release)
    if getattr(cfg, msg.platform) is None or release is None:
        return
    if msg.platform not in mobile_builds(release.artifacts):
        ctx.note = f"release {msg.release} has no {msg.platform} build"
        return
    track = (
        ("internal" if msg.platform == "android" else "testflight")
        if msg.verb == "promote"
        else None
    )
    ask(ctx, cfg, msg.release, msg.platform, msg.verb, "control-plane", track=track)


def due(train: Train, cfg: MobileConfig, now: datetime) -> bool:
    """A Play production step whose bake has passed (no breach halted it meanwhile)."""
    bake = timedelta(minutes=cfg.step_bake_minutes)
    return (
        train.track == "production"
        and train.status == rules.IN_PROGRESS
        and train.pending is None
        and train.step_since is not None
        and now >= train.step_since + bake
    )


# Message type -> handler (merged into the bus's `HANDLERS`).
HANDLERS: dict[type, Any] = {
    **dict.fromkeys(_VERBS, on_command),
    StoreAnswered: on_answer,
    StoreObserved: on_observed,
    CrashBreach: on_breach,
    TrainDue: on_due,
}


class TrainStores:
    """Carries a train's store call out to the platform's store (`StoreCalls`).

    The stores come as factories, called once on first use: a function instance that never
    talks to a store never reads its credentials or builds its client."""

    def __init__(
        self,
        cfg: MobileConfig | None,
        play: Callable[[], PlayStore] | None,
        app_store: Callable[[], AppStore] | None,
    ) -> None:
        self.cfg = cfg
        self._play = cache(play) if play else None
        self._app_store = cache(app_store) if app_store else None

    def play(self) -> PlayStore:
        if self._play is None:
            raise StoreRejected("no Play app is configured ([mobile.android])")
        return self._play()

    def app_store(self) -> AppStore:
        if self._app_store is None:
            raise StoreRejected("no App Store Connect app is configured ([mobile.ios])")
        return self._app_store()

    def carry_out(self, effect: MobileStoreCall) -> StoreView:
        call = effect.call
        if effect.platform == "android":
            if not (call.track is not None and call.status is not None):
                raise ValueError("a store call without what it needs")
            return self.play().set_release(
                call.track, effect.build, call.status, call.fraction, effect.release
            )
        return self._ios(self.app_store(), effect, call)

    def progress(self, train: Train) -> StoreView | None:
        """Only the App Store moves a build on its own (a phased release's days)."""
        version = train.ids.get("version")
        if train.platform != "ios" or train.track != "appstore" or version is None:
            return None
        return self.app_store().phased_release(version)

    def _ios(self, store: AppStore, effect: MobileStoreCall, call: StoreCall) -> StoreView:
        if call.action == "testflight":
            if not (self.cfg is not None and self.cfg.ios is not None):
                raise ValueError("a store call without what it needs")
            return store.add_to_group(effect.build, self.cfg.ios.internal_group)
        if call.action == "submit":
            return store.submit(effect.build, effect.release)
        if call.action == "release":
            return store.release(effect.build)
        if not (call.status is not None):
            raise ValueError("a store call without what it needs")
        return store.set_phase(effect.build, call.status)


class NoKillSwitches:
    """Where no flag service is wired: a kill switch asked for is an error, never a silent
    success (the outbox keeps it, and it is carried out once one is wired)."""

    def kill(self, env: EnvConfig, flags: tuple[str, ...], actor: str) -> list[str]:
        raise ConfigError(f"no flag service is wired to turn off {', '.join(flags)}")
