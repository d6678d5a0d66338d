"""`resana-sync serve`: the scheduled service.

A nightly run, a run on the eve of each meeting of the configured calendar, and a
catch-up run at start when the last success is more than a day old (APScheduler's
memory job store forgets runs missed while the service was down). Runs take the same
file lock as manual runs, so they never overlap across processes.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
from collections.abc import Callable
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from .config import Settings
from .errors import ResanaError, SyncAlreadyRunning

log = logging.getLogger(__name__)

# A night missed by a few hours (machine asleep, restart) still runs; older ones coalesce.
MISFIRE_GRACE = 6 * 3600
# Set on every job rather than as scheduler defaults, so they hold before start() too.
JOB_OPTIONS = {"misfire_grace_time": MISFIRE_GRACE, "coalesce": True, "max_instances": 1}
MEETING_EVE_TIME = dt.time(12, 0)
CATCH_UP_AFTER = dt.timedelta(hours=24)


def nightly_trigger(at: str, zone: ZoneInfo) -> CronTrigger:
    hour, minute = (int(part) for part in at.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=zone)


def meeting_eves(meetings: tuple[str, ...], zone: ZoneInfo, now: dt.datetime) -> list[dt.datetime]:
    """The runs before meetings still to come: noon on the eve, in the cell's time zone."""
    eves = []
    for day in sorted(dt.date.fromisoformat(m) for m in meetings):
        eve = dt.datetime.combine(day - dt.timedelta(days=1), MEETING_EVE_TIME, tzinfo=zone)
        if eve > now:
            eves.append(eve)
    return eves


def needs_catch_up(last_success: dt.datetime | None, now: dt.datetime) -> bool:
    return last_success is None or now - last_success > CATCH_UP_AFTER


def logged_run(job: Callable[[str], object], trigger: str) -> Callable[[], None]:
    """A scheduled run must never kill the service: errors are logged, the next run comes."""

    def run() -> None:
        try:
            job(trigger)
        except SyncAlreadyRunning as exc:
            log.info("synchronisation %s sautée : %s", trigger, exc.message)
        except ResanaError as exc:
            log.error("synchronisation %s en échec : %s", trigger, exc.message)

    return run


def build_scheduler(settings: Settings, job: Callable[[str], object], now: dt.datetime) -> BlockingScheduler:
    zone = ZoneInfo(settings.timezone)
    scheduler = BlockingScheduler(timezone=zone)
    scheduler.add_job(logged_run(job, "nuit"), nightly_trigger(settings.nightly, zone), id="nightly",
                      name="synchronisation de nuit", **JOB_OPTIONS)
    for eve in meeting_eves(settings.meetings, zone, now):
        scheduler.add_job(logged_run(job, "veille de réunion"), DateTrigger(eve, timezone=zone),
                          id=f"meeting-{eve:%Y%m%d}", name="synchronisation avant réunion", **JOB_OPTIONS)
    scheduler.add_listener(_log_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _log_event(event: JobEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("synchronisation %s manquée (service arrêté trop longtemps)", event.job_id)
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("synchronisation %s sautée : la précédente n'est pas terminée", event.job_id)
    else:
        log.error("erreur inattendue pendant la synchronisation %s", event.job_id)


def serve(settings: Settings, job: Callable[[str], object], last_success: dt.datetime | None) -> None:
    """Block until SIGTERM/SIGINT. A run under way is finished before the process exits."""
    now = dt.datetime.now(ZoneInfo(settings.timezone))
    scheduler = build_scheduler(settings, job, now)
    if needs_catch_up(last_success, now):
        scheduler.add_job(logged_run(job, "rattrapage"), id="catch-up", name="rattrapage au démarrage", **JOB_OPTIONS)

    def stop(signum: int, _frame: object) -> None:
        log.info("arrêt demandé (signal %d)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("service démarré : %d tâche(s) planifiée(s)", len(scheduler.get_jobs()))
    scheduler.start()
