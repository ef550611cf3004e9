from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self):
        # Connected here, so analysis never imports reports (data flows one way: analysis -> reports).
        # The signal is sent by the worker that finalizes, before the analysis shows as succeeded: the
        # thumbnails are rendered there, never in a page request, and exist when the report is first shown.
        from analysis.signals import analysis_results_stored, footage_file_deleted

        from .receivers import on_footage_file_deleted, render_thumbnails

        analysis_results_stored.connect(render_thumbnails, dispatch_uid="reports.render_thumbnails")
        # Retention deletes the raw file in analysis; the frames reports made from it go with it.
        footage_file_deleted.connect(on_footage_file_deleted, dispatch_uid="reports.on_footage_file_deleted")
