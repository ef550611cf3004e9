from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # Connected here, not at import time of analysis, so the analysis app never needs to
        # know who listens to it (data flows one way: analysis -> its consumers).
        from analysis.signals import analysis_finished

        from .receivers import on_analysis_finished

        analysis_finished.connect(on_analysis_finished, dispatch_uid="webhooks.on_analysis_finished")
