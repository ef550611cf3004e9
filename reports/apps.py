from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self):
        # Connected here, so analysis never imports reports (data flows one way: analysis -> reports).
        # The signal is sent by the worker that finalizes, after commit: the thumbnails are rendered
        # there, never in a page request.
        from analysis.signals import analysis_finished, footage_file_deleted

        from .receivers import on_analysis_finished, on_footage_file_deleted

        analysis_finished.connect(on_analysis_finished, dispatch_uid="reports.on_analysis_finished")
        # Retention deletes the raw file in analysis; the frames reports made from it go with it.
        footage_file_deleted.connect(on_footage_file_deleted, dispatch_uid="reports.on_footage_file_deleted")
