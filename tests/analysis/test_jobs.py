"""An analysis is a job like every other (one status vocabulary, one base), and every task it
enqueues has a deterministic id, so a duplicate is visible and harmless."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from celery import current_app

from analysis import services, tasks
from analysis.models import Analysis, AnalysisSegment, FaceObservation
from emo7ion_site.core.jobs import FINISHED_STATUSES, Job, JobStatus
from tests.conftest import ROOT

from .conftest import clip, upload


@pytest.fixture
def webcam(project_a, alice):
    return upload(project_a, clip("07_*"), alice)


@pytest.fixture
def sent(monkeypatch):
    """What the services hand to the broker, by task name, args and id (nothing reaches a broker)."""
    calls = []
    app = current_app._get_current_object()
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setattr(app, "send_task", lambda name, args=None, task_id=None, **kw: calls.append(
        (name, list(args or []), task_id)))
    return calls


def deliver(calls):
    """Run each sent task's body here, as a worker would."""
    for name, args, _ in calls:
        current_app.tasks[name](*args)


def test_an_analysis_is_a_job_with_the_shared_status():
    assert issubclass(Analysis, Job)
    assert Analysis.Status is JobStatus and tuple(Analysis.FINISHED) == tuple(FINISHED_STATUSES)
    field = Analysis._meta.get_field("status")
    assert field.default == JobStatus.QUEUED and field.choices == JobStatus.choices and field.max_length == 12


def test_task_ids_are_deterministic(webcam, alice, model_version, settings, sent,
                                    django_capture_on_commit_callbacks):
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    with django_capture_on_commit_callbacks(execute=True):
        analysis = services.analysis_create(footage=webcam, created_by=alice, detector="haar", sample_fps=5)
    assert sent == [("analysis.tasks.start_analysis", [analysis.pk], f"analysis:{analysis.pk}:plan")]

    with django_capture_on_commit_callbacks(execute=True):
        tasks.start_analysis(analysis.pk)
    segment_ids = [f"analysis:{analysis.pk}:segment:{i}" for i in range(3)]
    assert sent[1:] == [("analysis.tasks.analyse_segment", [analysis.pk, i], segment_ids[i]) for i in range(3)]

    # A redelivered plan enqueues the unfinished segments again: under the same ids.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.start_analysis(analysis.pk)
    assert [task for _, _, task in sent[4:]] == segment_ids

    with django_capture_on_commit_callbacks(execute=True):
        services.analysis_finalize_enqueue(analysis_id=analysis.pk)
    assert sent[-1] == ("analysis.tasks.finalize_analysis", [analysis.pk], f"analysis:{analysis.pk}:finalize")


def test_a_duplicate_segment_enqueue_does_not_double_its_rows(webcam, alice, model_version, settings, sent,
                                                              django_capture_on_commit_callbacks):
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    analysis = services.analysis_create(footage=webcam, created_by=alice, detector="haar", sample_fps=5,
                                        enqueue=False)
    services.analysis_plan(analysis_id=analysis.pk)

    with django_capture_on_commit_callbacks(execute=True):
        services.analysis_segments_enqueue(analysis_id=analysis.pk, indices=[1])
    deliver(sent)
    once = FaceObservation.objects.filter(analysis=analysis, segment_index=1).count()
    assert once > 0, "segment 1 of a webcam clip has faces"

    with django_capture_on_commit_callbacks(execute=True):
        services.analysis_segments_enqueue(analysis_id=analysis.pk, indices=[1])  # the duplicate
    assert sent[0] == sent[1]  # the same task, under the same id: visible in the broker
    deliver(sent[1:])

    assert FaceObservation.objects.filter(analysis=analysis, segment_index=1).count() == once
    segment = AnalysisSegment.objects.get(analysis=analysis, index=1)
    assert segment.attempts == 2 and segment.status == "done"
    analysis.refresh_from_db()
    assert analysis.segments_done == 1 and analysis.status == JobStatus.RUNNING


def test_services_never_import_the_tasks_module():
    """Tasks import services, never the reverse, not even inside a function: services enqueue by name."""
    offenders = []
    for path in sorted((Path(ROOT) / "analysis" / "services").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module or ''}.{a.name}" for a in node.names]
                if (node.module or "").endswith("tasks") or any(n.endswith(".tasks") for n in names):
                    offenders.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Import) and any(a.name.endswith("tasks") for a in node.names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
