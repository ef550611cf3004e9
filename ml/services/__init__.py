"""ML operations (writes): datasets, training and tuning runs, evaluations, bias audits and model
versions with their reference evaluation.

One module per entity or job, re-exported here (HackSoft's Styleguide-Example): commands, pages,
Celery tasks and the API call `services.<entity>_<action>(...)`. How the jobs run is told in
`jobs.py`.
"""
from ml.engine.faces import AUTO_WHOLE_MAX_SIDE, FACE_MODES

from .bias_audit import bias_audit_execute, bias_audit_run
from .datasets import SAMPLES_PER_CLASS, UNLABELLED_SAMPLES, dataset_delete, dataset_import
from .errors import DatasetImportError, JobRefused, PromotionRefused
from .evaluation import evaluation_execute, evaluation_run
from .model_versions import (model_version_activate, model_version_register, model_version_rollback,
                             promotion_blockers)
from .reference import model_version_ensure_reference, model_version_set_reference
from .training import training_run_cancel, training_run_execute, training_run_resume, training_run_start
from .training_options import (ARCHITECTURE_PRESETS, AUGMENTATIONS, CLASS_WEIGHTINGS, MAX_FOLDS, TRAINING_DEFAULTS,
                               TRAINING_STALE_AFTER_S)
from .jobs import ML_JOB_TASKS, ml_job_task_id, ml_jobs_watch
from .tuning import (ALGORITHMS, TUNING_LIMITS, tuning_run_cancel, tuning_run_execute, tuning_run_start,
                     tuning_run_train_best)

__all__ = [
    "ALGORITHMS", "ARCHITECTURE_PRESETS", "ML_JOB_TASKS", "ml_job_task_id", "ml_jobs_watch", "AUGMENTATIONS", "AUTO_WHOLE_MAX_SIDE", "CLASS_WEIGHTINGS", "FACE_MODES",
    "MAX_FOLDS", "SAMPLES_PER_CLASS", "TRAINING_DEFAULTS", "TRAINING_STALE_AFTER_S", "TUNING_LIMITS",
    "UNLABELLED_SAMPLES", "DatasetImportError", "JobRefused", "PromotionRefused",
    "bias_audit_execute", "bias_audit_run", "dataset_delete", "dataset_import", "evaluation_execute",
    "evaluation_run", "model_version_activate", "model_version_ensure_reference", "model_version_register",
    "model_version_rollback", "model_version_set_reference", "promotion_blockers", "training_run_cancel",
    "training_run_execute", "training_run_resume", "training_run_start", "tuning_run_cancel",
    "tuning_run_execute", "tuning_run_start", "tuning_run_train_best",
]
