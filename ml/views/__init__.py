"""ML operations pages for platform admins (staff). Model version and bias audit pages are also
readable, without any controls, by every signed-in user: a report names the model that made it,
and its measured accuracy and bias audit belong to the people reading that report.

Views parse, check who is asking, call a service or selector and render. One module per subject:
`records` (datasets, model versions, evaluations, bias audits), `training` (training runs, k-fold
cross-validation, pause and resume) and `tuning` (KerasTuner searches).
"""
from .common import page_figures, staff_required
from .records import (bias_audit_detail, bias_audit_new, dataset_detail, dataset_list, dataset_upload,
                      evaluation_detail, evaluation_new, index, job_status, model_version_activate,
                      model_version_detail, model_version_list, model_version_rollback)
from .training import training_cancel, training_detail, training_list, training_resume, training_status
from .tuning import tuning_cancel, tuning_detail, tuning_list, tuning_status, tuning_train_best

__all__ = [
    "bias_audit_detail", "bias_audit_new", "dataset_detail", "dataset_list", "dataset_upload", "evaluation_detail",
    "evaluation_new", "index", "job_status", "model_version_activate", "model_version_detail",
    "model_version_list", "model_version_rollback", "page_figures", "staff_required", "training_cancel",
    "training_detail", "training_list", "training_resume", "training_status", "tuning_cancel", "tuning_detail",
    "tuning_list", "tuning_status", "tuning_train_best",
]
