"""Liveness (issue 15): a running segment beats, the watchdog hands a step whose worker stopped to another
under its task id and fails it after N tries with a reason, sends again what the broker lost, leaves live
analyses and live workers alone; a stuck analysis never blocks retention; a storage outage is retried by
Celery up to a limit; ML jobs are watched the same way. (The real-worker versions: tests/integration.)"""
from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from analysis import media, services, tasks
from analysis.models import Analysis, AnalysisSegment, FaceObservation, Footage
from ml.models import TrainingRun
from tests.factories import AnalysisFactory, FootageFactory, TrainingRunFactory

from .conftest import clip, upload
from .test_jobs import sent  # noqa: F401 - the fixture: what is handed to the broker

REASON_TAIL = ("The worker may have run out of memory or crashed on this input: an administrator can read why in "
               "the worker's log.")


@pytest.fixture
def broker(monkeypatch):
    """What the broker holds, as the test says (None: a broker that cannot be read)."""
    holds = {"ids": set()}
    monkeypatch.setattr("analysis.services.watchdog.broker_tasks_in_flight", lambda queues: holds["ids"])
    return holds


@pytest.fixture
def watchdog(sent, broker, django_capture_on_commit_callbacks):
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return services.watchdog_run()
    return run


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def running_analysis(*, kind: str = "upload", started_s_ago: float = 600, states=("done", "running", "pending"),
                     **segment_fields) -> Analysis:
    """A running analysis of three 1 s segments in `states`; the running one silent for 10 minutes."""
    analysis = AnalysisFactory(status="running", kind=kind, started_at=ago(started_s_ago), segment_count=3)
    for i, state in enumerate(states):
        fields = dict(started_at=ago(600), heartbeat_at=ago(600), attempts=1) if state == "running" else {}
        if state == "done":
            fields = dict(finished_at=ago(600), attempts=1)
        AnalysisSegment.objects.create(analysis=analysis, index=i, t_start=i, t_end=i + 1, status=state,
                                       **{**fields, **(segment_fields if state == "running" else {})})
    return analysis


def segment_task(analysis, index):
    return ("analysis.tasks.analyse_segment", [analysis.pk, index], f"analysis:{analysis.pk}:segment:{index}")


def test_a_segment_whose_worker_stopped_goes_to_a_worker_again_under_its_id(db, watchdog, broker, sent):
    analysis = running_analysis()
    broker["ids"] = {f"analysis:{analysis.pk}:segment:2"}  # the pending one is waiting in the queue

    report = watchdog()

    assert sent == [segment_task(analysis, 1)]
    assert report.restarted == [f"analysis:{analysis.pk}:segment:1"] and report.resent == report.failed == []
    assert AnalysisSegment.objects.get(analysis=analysis, index=1).status == "pending"
    broker["ids"].add(f"analysis:{analysis.pk}:segment:1")  # now it waits in the queue like the other
    watchdog()
    assert len(sent) == 1


def test_after_the_last_try_the_analysis_fails_with_a_reason_a_person_understands(db, watchdog, sent):
    analysis = running_analysis(attempts=3)
    report = watchdog()

    analysis.refresh_from_db()
    reason = f"A worker stopped while analysing 0:01–0:02; tried 3 times. {REASON_TAIL}"
    assert (analysis.status, analysis.error) == ("failed", reason)
    assert AnalysisSegment.objects.get(analysis=analysis, index=1).status == "failed"
    assert report.failed == [f"analysis:{analysis.pk}"] and sent == []


def test_live_workers_and_live_analyses_are_left_alone(db, watchdog, sent):
    running_analysis(states=("done", "running", "done"), heartbeat_at=ago(2))  # beating
    running_analysis(kind="live")  # the live worker owns its segments
    assert watchdog().as_dict() == {"broker_inspected": True, "restarted": [], "resent": [], "failed": []}
    assert sent == []


def test_messages_the_broker_lost_are_sent_again(db, watchdog, broker, sent):
    analysis = running_analysis(states=("pending", "done", "pending"))
    broker["ids"] = {f"analysis:{analysis.pk}:segment:0"}
    assert watchdog().resent == [f"analysis:{analysis.pk}:segment:2"]
    assert sent == [segment_task(analysis, 2)]

    broker["ids"] = None  # a broker that cannot be read: nothing is taken for lost
    assert watchdog().resent == [] and len(sent) == 1
    Analysis.objects.filter(pk=analysis.pk).update(status="succeeded")
    AnalysisFactory(status="running", started_at=ago(5), segment_count=1).segments.create(index=0, t_start=0, t_end=1)
    broker["ids"] = set()
    assert watchdog().resent == []  # one just planned is given time to reach the queue


def test_a_lost_or_dead_plan_and_a_lost_finalize_are_sent_again(db, watchdog, broker, sent):
    lost_plan = AnalysisFactory(status="queued")
    dead_plan = AnalysisFactory(status="queued", heartbeat_at=ago(600))
    Analysis.objects.filter(pk__in=[lost_plan.pk, dead_plan.pk]).update(created_at=ago(600))
    unfinalized = running_analysis(states=("done", "done", "done"))

    report = watchdog()

    assert report.resent == [f"analysis:{lost_plan.pk}:plan", f"analysis:{unfinalized.pk}:finalize"]
    assert report.restarted == [f"analysis:{dead_plan.pk}:plan"]
    assert Analysis.objects.get(pk=dead_plan.pk).restarts == 1
    assert ("analysis.tasks.finalize_analysis", [unfinalized.pk], f"analysis:{unfinalized.pk}:finalize") in sent
    broker["ids"] = None
    assert watchdog().resent == []  # the finalize it handed over counts as started


def test_a_training_run_whose_worker_died_is_queued_again_then_failed(db, watchdog, sent, settings):
    run = TrainingRunFactory(status="running", started_at=ago(7200), heartbeat_at=ago(7200),
                             history=[{"epoch": 1}, {"epoch": 2}])
    assert watchdog().restarted == [f"ml:training:{run.pk}:resume:2"]  # it resumes after its last epoch
    run.refresh_from_db()
    assert (run.status, run.restarts) == ("queued", 1) and "its worker stopped" in run.log
    assert sent == [("ml.tasks.run_training", [run.pk], f"ml:training:{run.pk}:resume:2")]

    settings.EMO7ION_WATCHDOG_MAX_ATTEMPTS = 2
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=ago(7200))
    assert watchdog().failed == [f"ml:training:{run.pk}"]
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", f"A worker stopped while training; tried 2 times. {REASON_TAIL}")


def test_the_command_prints_the_pass_as_json(db, sent, broker):
    out = StringIO()
    call_command("watchdog", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"broker_inspected": True, "restarted": [], "resent": [], "failed": []}


def test_a_stuck_analysis_never_blocks_retention(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    footage = FootageFactory(project__organisation__footage_retention_days=30)
    footage.file.save("old.mp4", ContentFile(b"raw footage"), save=True)
    Footage.objects.filter(pk=footage.pk).update(created_at=ago(40 * 86400))
    stuck = running_analysis()
    Analysis.objects.filter(pk=stuck.pk).update(footage=footage, created_at=ago(3600))

    assert services.footage_apply_retention() == [footage.pk]
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "retention period" in stuck.error


def test_beat_runs_the_watchdog_and_ml_jobs_have_their_own_queue(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["watchdog"]
    assert (schedule["task"], schedule["schedule"]) == ("analysis.tasks.watchdog", settings.EMO7ION_WATCHDOG_INTERVAL_S)
    assert settings.CELERY_TASK_ROUTES["ml.tasks.*"] == {"queue": "training"}
    from ml import tasks as ml_tasks
    assert tasks.analyse_segment.acks_late
    assert not ml_tasks.run_training.acks_late  # a run of hours never waits on the broker
    if django_settings.CELERY_BROKER_URL.startswith("redis"):
        timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        assert services.SEGMENT_SOFT_LIMIT_S < timeout < settings.EMO7ION_TRAINING_TIME_LIMIT


# --- A real segment: heartbeats, claims, storage retries --------------------------------------------------

@pytest.fixture
def planned(project_a, alice, model_version, settings):
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    settings.EMO7ION_DETECTION_SCHEDULE = "full"  # the detector sees every sampled frame
    analysis = services.analysis_create(footage=upload(project_a, clip("07_*"), alice), created_by=alice,
                                        detector="haar", sample_fps=10, enqueue=False)
    services.analysis_plan(analysis_id=analysis.pk)
    return analysis


def slow_detector(monkeypatch, on_frame):
    from ml import runtime
    real = runtime.get_detector("haar")

    class Detector:
        name, frames = real.name, 0

        def detect(self, frame):
            self.frames += 1
            on_frame(self.frames)
            return real.detect(frame)

    monkeypatch.setattr(runtime, "get_detector", lambda name=None, **kw: Detector())


def test_a_running_segment_beats_while_it_works(planned, monkeypatch, settings):
    import time

    from ml.engine import pipeline
    settings.EMO7ION_WATCHDOG_STALE_AFTER_S = 0.4  # a beat every 0.1 s at most
    monkeypatch.setattr(pipeline, "CANCEL_CHECK_FRAMES", 2)  # the engine reports every 2 frames...
    monkeypatch.setattr(pipeline, "PROGRESS_INTERVAL_S", 0.05)  # ...not every 16 frames, once a second
    seen = []

    def look(frame):
        time.sleep(0.06)
        seen.append(AnalysisSegment.objects.get(analysis=planned, index=0).heartbeat_at)

    slow_detector(monkeypatch, look)
    tasks.analyse_segment(planned.pk, 0)
    assert None not in seen and len(set(seen)) >= 3  # the heartbeat moved while the segment ran
    assert seen == sorted(seen)


def test_a_delivery_leaves_a_segment_another_worker_analyses_right_now(planned):
    AnalysisSegment.objects.filter(analysis=planned, index=0).update(status="running", attempts=1,
                                                                     heartbeat_at=timezone.now())
    assert services.analysis_segment_execute(analysis_id=planned.pk, index=0) is False
    assert AnalysisSegment.objects.get(analysis=planned, index=0).attempts == 1  # untouched


def test_a_try_that_finds_a_newer_one_in_its_place_stops_without_writing(planned, monkeypatch):
    def taken_over(frame):
        if frame == 3:  # the watchdog took this try's silence for death and another worker claimed it
            AnalysisSegment.objects.filter(analysis=planned, index=0).update(attempts=2)

    slow_detector(monkeypatch, taken_over)
    assert services.analysis_segment_execute(analysis_id=planned.pk, index=0) is False
    assert not FaceObservation.objects.filter(analysis=planned).exists()
    planned.refresh_from_db()
    assert planned.status == "running" and planned.segments_done == 0


def test_a_storage_outage_is_retried_by_celery_then_fails_saying_so(planned, monkeypatch, settings):
    settings.EMO7ION_STORAGE_READ_TRIES = 3
    real, tries = media.local_path_for, []

    def flaky(footage, outage=2):
        tries.append(1)
        if len(tries) == 1:  # S3 timed out: botocore's timeouts are OSErrors, which media calls "cannot open"
            raise media.StoredFileMissing("The stored file cannot be opened") from ReadTimeoutError(endpoint_url="x")
        if len(tries) <= outage:
            raise EndpointConnectionError(endpoint_url="http://s3.example")
        return real(footage)

    monkeypatch.setattr(media, "local_path_for", flaky)
    tasks.analyse_segment.apply(args=[planned.pk, 0])  # eager: each retry runs at once
    assert len(tries) == 3 and AnalysisSegment.objects.get(analysis=planned, index=0).status == "done"

    monkeypatch.setattr(media, "local_path_for", lambda footage: flaky(footage, outage=99))
    tasks.analyse_segment.apply(args=[planned.pk, 1])
    planned.refresh_from_db()
    assert planned.status == "failed" and len(tries) == 6
    assert planned.error.startswith("Analysing segment 2 of 3 (1–2 s): The footage could not be read from storage "
                                    "(EndpointConnectionError")
    assert planned.error.endswith("; tried 3 times")


def test_a_missing_file_is_not_retried(planned, monkeypatch):
    calls = []

    def missing(footage):
        calls.append(footage.pk)
        raise media.StoredFileMissing("The footage file is no longer stored")

    monkeypatch.setattr(media, "local_path_for", missing)
    tasks.analyse_segment.apply(args=[planned.pk, 0])
    planned.refresh_from_db()
    assert planned.status == "failed" and len(calls) == 1


def test_the_broker_says_which_tasks_it_holds(settings):
    """On Redis: a waiting message is seen by its task id (and its queue declared again)."""
    from tests.conftest import require_services
    require_services()
    from emo7ion_site.celery import app, broker_tasks_in_flight

    queue = "watchdog-probe"
    app.send_task("analysis.tasks.finalize_analysis", args=[0], task_id="probe:1", queue=queue)
    try:
        assert "probe:1" in broker_tasks_in_flight([queue])
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete(queue)
