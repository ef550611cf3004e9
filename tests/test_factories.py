"""Every model of the project's apps has a factory in tests/factories.py, and each builds a row
that passes the model's own validation."""
from pathlib import Path

import factory
import pytest
from django.apps import apps

from tests import factories

ROOT = Path(__file__).resolve().parent.parent


def _project_models():
    for config in apps.get_app_configs():
        if Path(config.path).resolve().is_relative_to(ROOT) and ".venv" not in Path(config.path).parts:
            yield from config.get_models()


FACTORIES = {obj._meta.model: obj for obj in vars(factories).values()
             if isinstance(obj, type) and issubclass(obj, factory.django.DjangoModelFactory)
             and obj._meta.model is not None}


def test_every_model_has_a_factory():
    missing = [model.__name__ for model in _project_models() if model not in FACTORIES]
    assert not missing, f"add a factory to tests/factories.py for: {', '.join(missing)}"


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(_project_models()), ids=lambda m: m.__name__)
def test_each_factory_builds_a_valid_row(model):
    if model not in FACTORIES:
        pytest.skip("no factory (see test_every_model_has_a_factory)")
    row = FACTORIES[model]()
    # A nullable column may be empty in a row (e.g. an invitation the system sent has no inviter),
    # whatever a form would ask for.
    row.full_clean(exclude=[field.name for field in model._meta.fields if field.null])
    assert type(row).objects.filter(pk=row.pk).exists()
