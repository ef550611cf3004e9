from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Models, datasets and audits"

    def ready(self):
        # The engine is plain Python and cannot subclass the site's ApplicationError; its errors carry
        # messages for people all the same, so the API answers them as rule errors.
        from emo7ion_site.core.exceptions import register_rule_errors
        from ml.engine.errors import EngineError

        register_rule_errors(EngineError)
