"""Celery tasks for ML operations: thin wrappers that load a job row and run its service.

The services send them by these names (never by importing this module), with deterministic ids
such as `ml:training:12`, `ml:training:12:resume:30` (a paused run's next piece) or `ml:tuning:4`
(`emo7ion_site.core.jobs.task_id`): a duplicate enqueue is visible.

They run on their own `training` queue (CELERY_TASK_ROUTES), so a training run of hours never holds up
the analyses' `ml` queue on a worker that serves both, and they are acknowledged when a worker takes them
(not late): a run of hours never depends on the broker's visibility timeout, which fits the analysis
steps' minutes instead. Their liveness is their heartbeat: the watchdog (ml.services.jobs.ml_jobs_watch)
queues a job whose worker died and sends it again under its id; training then resumes from its last
epoch checkpoint, and a job that already finished is left alone, so a second delivery is harmless.
"""
from celery import shared_task
from django.conf import settings

from . import services
from .models import BiasAudit, Evaluation, TrainingRun, TuningRun

# Training takes hours on a small CPU: it gets its own limits (seconds), not the analysis tasks' hour.
TRAINING_TIME_LIMIT = getattr(settings, "EMO7ION_TRAINING_TIME_LIMIT", 24 * 3600)
ML_JOB = dict(acks_late=False)


@shared_task(name="ml.tasks.run_training", **ML_JOB,
             time_limit=TRAINING_TIME_LIMIT + 300, soft_time_limit=TRAINING_TIME_LIMIT)
def run_training(run_id: int) -> None:
    run = TrainingRun.objects.filter(pk=run_id).select_related("dataset").first()
    if run is not None:
        services.training_run_execute(run=run)


@shared_task(name="ml.tasks.run_tuning", **ML_JOB,
             time_limit=TRAINING_TIME_LIMIT + 300, soft_time_limit=TRAINING_TIME_LIMIT)
def run_tuning(run_id: int) -> None:
    run = TuningRun.objects.filter(pk=run_id).select_related("dataset", "val_dataset").first()
    if run is not None:
        services.tuning_run_execute(run=run)


@shared_task(name="ml.tasks.run_evaluation", **ML_JOB)
def run_evaluation(evaluation_id: int) -> None:
    evaluation = Evaluation.objects.filter(pk=evaluation_id).select_related("model_version", "dataset").first()
    if evaluation is not None:
        services.evaluation_execute(evaluation=evaluation)


@shared_task(name="ml.tasks.run_bias_audit", **ML_JOB)
def run_bias_audit(audit_id: int) -> None:
    audit = BiasAudit.objects.filter(pk=audit_id).select_related("model_version", "dataset").first()
    if audit is not None:
        services.bias_audit_execute(audit=audit)
