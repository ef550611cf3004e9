"""One runner for every ML job: start, finish, cancel and failure are recorded the same way for
training runs, evaluations and bias audits; jobs are enqueued by task name with deterministic ids."""
import re
from pathlib import Path

import pytest

from emo7ion_site import celery_app
from emo7ion_site.core.jobs import JobCancelled, JobPaused, job_run, task_id
from ml import services
from ml.models import JobStatus
from ml.services.jobs import ml_job_run
from tests.factories import (AuditDatasetFactory, BiasAuditFactory, DatasetFactory, EvaluationFactory,
                             ModelVersionFactory, TrainingRunFactory, TuningRunFactory)

pytestmark = pytest.mark.django_db

SERVICES = Path(services.__file__).parent


def test_each_job_is_sent_by_its_task_name_with_a_deterministic_id(sent, django_capture_on_commit_callbacks):
    mv = ModelVersionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_start(dataset=DatasetFactory(), config={"preset": "tiny", "epochs": 1})
        ev = services.evaluation_run(model_version=mv, data_path="/data/val")
        audit = services.bias_audit_run(model_version=mv, dataset=AuditDatasetFactory())
    assert sent == [("ml.tasks.run_training", [run.pk], f"ml:training:{run.pk}"),
                    ("ml.tasks.run_evaluation", [ev.pk], f"ml:evaluation:{ev.pk}"),
                    ("ml.tasks.run_bias_audit", [audit.pk], f"ml:bias_audit:{audit.pk}")]
    assert task_id("ml:training", run.pk) == f"ml:training:{run.pk}"


def test_nothing_is_sent_before_the_transaction_commits(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.evaluation_run(model_version=ModelVersionFactory(), data_path="/data/val")
    assert len(callbacks) == 1 and sent == []


def test_every_task_name_the_services_send_is_a_registered_task():
    import ml.tasks  # noqa: F401 - registers the tasks, as a worker's autodiscovery does
    names = {name for path in SERVICES.glob("*.py")
             for name in re.findall(r'enqueue_on_commit\(\s*"([^"]+)"', path.read_text())}
    assert names == {"ml.tasks.run_training", "ml.tasks.run_evaluation", "ml.tasks.run_bias_audit",
                     "ml.tasks.run_tuning"}
    assert names <= set(celery_app.tasks)


def test_no_service_imports_the_tasks_module():
    for path in SERVICES.glob("*.py"):
        assert not re.search(r"import .*tasks|from .*tasks import", path.read_text()), path.name


def test_eager_mode_runs_the_task_in_process(django_capture_on_commit_callbacks, tmp_path):
    """CELERY_TASK_ALWAYS_EAGER (a documented setting) still runs jobs, although they are sent by name."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ev = services.evaluation_run(model_version=ModelVersionFactory(), data_path=str(tmp_path / "gone"))
    finally:
        celery_app.conf.task_always_eager = before
    ev.refresh_from_db()
    assert ev.status == JobStatus.FAILED and "does not exist" in ev.error


@pytest.mark.parametrize("factory", [EvaluationFactory, BiasAuditFactory, TrainingRunFactory, TuningRunFactory],
                         ids=lambda f: f._meta.model.__name__)
def test_success_saves_what_the_work_set_with_the_finished_status(factory):
    job = factory()

    def work():
        job.log += "did the work\n"
        return ()

    ml_job_run(job, work)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress == 1.0
    assert job.started_at and job.finished_at >= job.started_at
    assert "did the work" in job.log and job.error == ""


def test_success_saves_the_fields_the_work_names_and_only_those():
    ev = EvaluationFactory(split="val")

    def work():
        ev.metrics = {"accuracy": 0.5}
        ev.split = "not saved: the work did not name it"
        return ("metrics",)

    ml_job_run(ev, work)
    ev.refresh_from_db()
    assert ev.metrics == {"accuracy": 0.5} and ev.split == "val"


@pytest.mark.parametrize("factory", [EvaluationFactory, BiasAuditFactory, TrainingRunFactory, TuningRunFactory],
                         ids=lambda f: f._meta.model.__name__)
def test_a_refusal_fails_the_job_with_its_message_and_no_traceback(factory):
    job = factory()

    def work():
        raise services.JobRefused("This set has no 'test' split; it has: train, val")

    ml_job_run(job, work)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "This set has no 'test' split; it has: train, val"
    assert "failed: This set has no 'test' split" in job.log and "Traceback" not in job.log


def test_an_unexpected_error_fails_the_job_and_keeps_the_traceback_in_the_log():
    job = EvaluationFactory()

    def work():
        raise RuntimeError("boom")

    ml_job_run(job, work)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "Unexpected error (RuntimeError: boom); see the log"
    assert "Traceback" in job.log and "RuntimeError: boom" in job.log


def test_a_soft_time_limit_says_so():
    from celery.exceptions import SoftTimeLimitExceeded
    job = TrainingRunFactory()

    def work():
        raise SoftTimeLimitExceeded()

    ml_job_run(job, work)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "Stopped: the job ran past its time limit"


def test_work_that_stops_on_request_ends_cancelled():
    job = TrainingRunFactory()

    def work():
        raise JobCancelled

    ml_job_run(job, work)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at and job.error == ""


def test_work_that_pauses_at_its_budget_is_left_paused_never_cancelled_on_the_way():
    """A page polling the run between two writes would otherwise show it cancelled for an instant."""
    from django.db.models.signals import post_save

    job = TrainingRunFactory()
    written = []

    def record(sender, instance, **kwargs):
        written.append(instance.status)

    post_save.connect(record, sender=type(job))
    try:
        ml_job_run(job, lambda: (_ for _ in ()).throw(JobPaused("paused")))
    finally:
        post_save.disconnect(record, sender=type(job))
    job.refresh_from_db()
    assert written == [JobStatus.RUNNING, "paused"]
    assert job.status == "paused" and job.finished_at is None and job.error == ""


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_finished_job_is_left_alone_when_its_task_is_delivered_again(status):
    job = EvaluationFactory(status=status, error="as it was")
    ran = []
    job_run(job, lambda: ran.append(True))
    job.refresh_from_db()
    assert not ran and job.status == status and job.error == "as it was"


def test_interrupts_are_not_swallowed():
    job = EvaluationFactory()

    def work():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ml_job_run(job, work)


def test_a_queued_training_run_cancelled_before_it_starts_never_trains():
    run = TrainingRunFactory()
    services.training_run_cancel(run=run)
    services.training_run_execute(run=run)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.started_at is None
