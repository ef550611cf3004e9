"""Nothing stuck, nothing lost (issue 15), on real workers over Redis and PostgreSQL:

- a worker SIGKILLed while a segment runs: a new worker and the watchdog (beat, its interval and staleness
  shortened) finish the analysis within 2 minutes, with results identical to a clean run;
- the broker's data flushed mid-analysis (a Redis restart without AOF): the watchdog sends the lost
  segments again and the analysis completes;
- a segment that kills its worker on every try: the analysis ends failed after N tries with the reason,
  and retention can then delete the footage;
- the S3 server (moto) stopped for 20 s as the analysis starts: the segments' storage reads are retried
  by Celery and the analysis completes.

The workers load `worker_hooks` (tests.integration.worker_settings) to pause or crash a segment."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.utils import timezone

from analysis import services
from analysis.models import Analysis, AnalysisSegment, Footage
from tests.conftest import require_services, wait_until

from .conftest import analysis_results, stored_webcam_clip

pytestmark = [pytest.mark.services, pytest.mark.slow]



@pytest.fixture
def webcam(transactional_db, model_version, settings):
    """The 2.4 s webcam clip, stored: three 1 s segments at 5 frames per second."""
    require_services()
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    return stored_webcam_clip()


def worker_env(**extra) -> dict:
    return {"DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings", "EMO7ION_SEGMENT_SECONDS": "1",
            **{key: str(value) for key, value in extra.items()}}


def analyse(footage: Footage, *, enqueue: bool = True) -> Analysis:
    return services.analysis_create(footage=footage, created_by=footage.uploaded_by, detector="haar", sample_fps=5,
                                    enqueue=enqueue)


def finished(analysis: Analysis) -> bool:
    return Analysis.objects.get(pk=analysis.pk).is_finished


def watchdog_pass() -> dict:
    out = StringIO()
    call_command("watchdog", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_a_worker_killed_mid_segment_is_replaced_and_the_results_match_a_clean_run(webcam, start_worker, start_beat):
    clean = services.analysis_run_inline(analysis=analyse(webcam, enqueue=False))
    assert clean.status == "succeeded", clean.error

    first = start_worker(worker_env(WORKER_HOOK_PAUSE_S=4))
    analysis = analyse(webcam)
    running = wait_until(lambda: AnalysisSegment.objects.filter(analysis=analysis, status="running").first(),
                         timeout=180, interval=0.2, what="a segment to start (see var/worker-*-0.log)")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    killed_at = time.monotonic()
    assert AnalysisSegment.objects.get(pk=running.pk).status == "running", "the kill came after the segment"

    start_worker(worker_env(EMO7ION_WATCHDOG_STALE_AFTER_S=8))
    start_beat({"EMO7ION_WATCHDOG_INTERVAL_S": "1"})
    wait_until(lambda: finished(analysis), timeout=120, what="the new worker and the watchdog to finish it")
    assert time.monotonic() - killed_at < 120
    analysis.refresh_from_db()
    assert analysis.status == "succeeded", analysis.error
    assert AnalysisSegment.objects.get(pk=running.pk).attempts >= 2
    assert analysis_results(analysis) == analysis_results(clean)


def test_messages_the_broker_lost_are_sent_again_by_the_watchdog(webcam, start_worker, settings):
    settings.EMO7ION_WATCHDOG_STALE_AFTER_S = 6
    start_worker(worker_env(WORKER_HOOK_PAUSE_S=3, EMO7ION_WATCHDOG_STALE_AFTER_S=6))
    analysis = analyse(webcam)
    wait_until(lambda: AnalysisSegment.objects.filter(analysis=analysis, status="running").exists(),
               timeout=180, interval=0.2, what="the first segment to start")
    lost = list(AnalysisSegment.objects.filter(analysis=analysis, status="pending").values_list("index", flat=True))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert lost and broker.llen("ml") >= len(lost)
    broker.flushdb()  # a Redis restart without persistence: queues, bindings and unacknowledged messages gone
    assert broker.llen("ml") == 0

    resent = []
    wait_until(lambda: resent.extend(watchdog_pass()["resent"]) or finished(analysis), timeout=120, interval=1,
               what="the watchdog to recover the lost segments")
    analysis.refresh_from_db()
    assert analysis.status == "succeeded", analysis.error
    assert {f"analysis:{analysis.pk}:segment:{i}" for i in lost} <= set(resent)
    assert analysis.segments_done == analysis.segment_count == 3


def test_a_segment_that_always_kills_its_worker_fails_after_n_tries_and_retention_still_works(
        webcam, start_worker, settings):
    settings.EMO7ION_WATCHDOG_STALE_AFTER_S = 4
    settings.EMO7ION_WATCHDOG_MAX_ATTEMPTS = 2
    env = worker_env(WORKER_HOOK_CRASH_AT_S=1, EMO7ION_WATCHDOG_STALE_AFTER_S=4)
    workers = [start_worker(env)]
    analysis = analyse(webcam)

    def watched() -> bool:
        if workers[-1].poll() is not None:  # it crashed: the operator's supervisor starts another
            workers.append(start_worker(env))
        watchdog_pass()
        return finished(analysis)

    wait_until(watched, timeout=240, interval=1, what="the analysis to fail after its last try")
    analysis.refresh_from_db()
    assert analysis.status == "failed"
    assert analysis.error.startswith("A worker stopped while analysing 0:01–0:02; tried 2 times."), analysis.error
    crashed = AnalysisSegment.objects.get(analysis=analysis, index=1)
    assert (crashed.status, crashed.attempts) == ("failed", 2)
    assert sum(w.poll() == -signal.SIGKILL for w in workers) == 2

    organisation = webcam.project.organisation
    organisation.footage_retention_days = 1
    organisation.save(update_fields=["footage_retention_days"])
    Footage.objects.filter(pk=webcam.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert services.footage_apply_retention() == [webcam.pk]
    assert Footage.objects.get(pk=webcam.pk).file_deleted_at is not None


def test_an_s3_outage_is_waited_out_by_retrying_the_storage_reads(s3_storage, start_worker, model_version, settings,
                                                                  transactional_db, tmp_path):
    require_services()
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "web-cache")
    footage = stored_webcam_clip()
    port = s3_storage["endpoint"].rsplit(":", 1)[1]
    moto = int(subprocess.run(["lsof", "-t", f"-iTCP:{port}", "-sTCP:LISTEN"], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    # Its own cache, so the worker reads the footage from S3; short S3 timeouts, quick storage retries.
    start_worker({**s3_storage, **worker_env(
        EMO7ION_CACHE_DIR=tmp_path / "worker-cache", AWS_S3_MAX_ATTEMPTS=2, AWS_S3_CONNECT_TIMEOUT=1,
        AWS_S3_READ_TIMEOUT=2, EMO7ION_STORAGE_RETRY_DELAY_S=3, EMO7ION_STORAGE_READ_TRIES=8)})
    os.kill(moto, signal.SIGSTOP)
    try:
        analysis = analyse(footage)
        time.sleep(20)
        assert not finished(analysis)
    finally:
        os.kill(moto, signal.SIGCONT)
    wait_until(lambda: finished(analysis), timeout=120, what="the analysis to finish once S3 is back")
    analysis.refresh_from_db()
    assert analysis.status == "succeeded", analysis.error
