"""ML operations pages, mounted at /ml/."""
from django.urls import path

from . import views

app_name = "ml"

urlpatterns = [
    path("", views.index, name="index"),
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/upload/", views.dataset_upload, name="dataset_upload"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("training/", views.training_list, name="training_list"),
    path("training/<int:pk>/", views.training_detail, name="training_detail"),
    path("training/<int:pk>/status/", views.training_status, name="training_status"),
    path("training/<int:pk>/cancel/", views.training_cancel, name="training_cancel"),
    path("training/<int:pk>/resume/", views.training_resume, name="training_resume"),
    path("tuning/", views.tuning_list, name="tuning_list"),
    path("tuning/<int:pk>/", views.tuning_detail, name="tuning_detail"),
    path("tuning/<int:pk>/status/", views.tuning_status, name="tuning_status"),
    path("tuning/<int:pk>/cancel/", views.tuning_cancel, name="tuning_cancel"),
    path("tuning/<int:pk>/train-best/", views.tuning_train_best, name="tuning_train_best"),
    path("models/", views.model_version_list, name="model_version_list"),
    path("models/rollback/", views.model_version_rollback, name="model_version_rollback"),
    path("models/<int:pk>/", views.model_version_detail, name="model_version_detail"),
    path("models/<int:pk>/activate/", views.model_version_activate, name="model_version_activate"),
    path("evaluations/new/", views.evaluation_new, name="evaluation_new"),
    path("evaluations/<int:pk>/", views.evaluation_detail, name="evaluation_detail"),
    path("audits/new/", views.bias_audit_new, name="bias_audit_new"),
    path("audits/<int:pk>/", views.bias_audit_detail, name="bias_audit_detail"),
    path("jobs/<str:kind>/<int:pk>/status/", views.job_status, name="job_status"),
]
