"""ML operations (writes): datasets, training runs, evaluations, bias audits and model versions.

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
from .training import (ARCHITECTURE_PRESETS, AUGMENTATIONS, CLASS_WEIGHTINGS, TRAINING_DEFAULTS,
                       TRAINING_STALE_AFTER_S, training_run_cancel, training_run_execute, training_run_start)

__all__ = [
    "ARCHITECTURE_PRESETS", "AUGMENTATIONS", "AUTO_WHOLE_MAX_SIDE", "CLASS_WEIGHTINGS", "FACE_MODES",
    "SAMPLES_PER_CLASS", "TRAINING_DEFAULTS", "TRAINING_STALE_AFTER_S", "UNLABELLED_SAMPLES",
    "DatasetImportError", "JobRefused", "PromotionRefused",
    "bias_audit_execute", "bias_audit_run", "dataset_delete", "dataset_import", "evaluation_execute",
    "evaluation_run", "model_version_activate", "model_version_register", "model_version_rollback",
    "promotion_blockers", "training_run_cancel", "training_run_execute", "training_run_start",
]
