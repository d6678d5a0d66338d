"""The scheduled service: nightly in Europe/Paris across DST, meeting eves, catch-up, errors logged."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from resana_sync.config import RemoteSettings, Settings
from resana_sync.errors import SyncAlreadyRunning, TransientRemoteError
from resana_sync.service import build_scheduler, logged_run, meeting_eves, needs_catch_up, nightly_trigger

PARIS = ZoneInfo("Europe/Paris")


def fire_times(trigger, start: dt.datetime, count: int) -> list[dt.datetime]:
    times, previous, now = [], None, start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        times.append(nxt)
        previous, now = nxt, nxt + dt.timedelta(seconds=1)
    return times


@pytest.mark.parametrize("day", [dt.datetime(2026, 3, 28, tzinfo=PARIS), dt.datetime(2026, 10, 24, tzinfo=PARIS)])
def test_nightly_run_fires_once_a_night_at_local_time_across_dst(day: dt.datetime) -> None:
    times = fire_times(nightly_trigger("03:30", PARIS), day, 4)
    assert [t.astimezone(PARIS).strftime("%d %H:%M") for t in times] == [
        f"{(day + dt.timedelta(days=i)).day:02d} 03:30" for i in range(4)]


def test_meeting_eves_are_noon_the_day_before_and_only_future_ones() -> None:
    now = dt.datetime(2026, 1, 10, 9, 0, tzinfo=PARIS)
    eves = meeting_eves(("2026-03-12", "2026-01-08", "2026-01-15"), PARIS, now)
    assert eves == [dt.datetime(2026, 1, 14, 12, 0, tzinfo=PARIS), dt.datetime(2026, 3, 11, 12, 0, tzinfo=PARIS)]


def test_catch_up_when_last_success_is_older_than_a_day() -> None:
    now = dt.datetime(2026, 1, 10, 9, 0, tzinfo=PARIS)
    assert needs_catch_up(None, now)
    assert needs_catch_up(now - dt.timedelta(hours=30), now)
    assert not needs_catch_up(now - dt.timedelta(hours=5), now)


def test_scheduler_jobs_never_overlap_and_tolerate_late_starts(tmp_path) -> None:
    settings = Settings(remote=RemoteSettings(kind="local", path=tmp_path), meetings=("2026-01-15",))
    scheduler = build_scheduler(settings, lambda trigger: None, dt.datetime(2026, 1, 10, tzinfo=PARIS))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"nightly", "meeting-20260114"}
    for job in jobs.values():
        assert job.max_instances == 1 and job.coalesce and job.misfire_grace_time >= 3600
    assert str(scheduler.timezone) == "Europe/Paris"


def test_a_failing_run_is_logged_and_does_not_stop_the_service(caplog) -> None:
    def failing(trigger: str) -> None:
        raise TransientRemoteError("Le serveur ne répond pas.")

    def busy(trigger: str) -> None:
        raise SyncAlreadyRunning("Une synchronisation est déjà en cours.")

    with caplog.at_level(logging.INFO, logger="resana_sync"):
        logged_run(failing, "nuit")()
        logged_run(busy, "nuit")()
    assert "synchronisation nuit en échec : Le serveur ne répond pas." in caplog.messages
    assert "synchronisation nuit sautée : Une synchronisation est déjà en cours." in caplog.messages
