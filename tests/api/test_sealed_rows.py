"""The bases of the API decide which rows an endpoint sees, and which errors become a 400: no
endpoint can widen its rows, and no app's services are imported to know their errors."""
import ast
import inspect

import pytest
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import Organisation
from emo7ion_site import api_common
from emo7ion_site.api_common import (SEALED_METHODS, OrganisationScopedMixin, PlatformRecordsMixin,
                                     api_exception_handler)
from emo7ion_site.api_urls import router
from emo7ion_site.core.exceptions import ApplicationError
from ml.engine.errors import DatasetError


@pytest.mark.parametrize("base", [OrganisationScopedMixin, PlatformRecordsMixin])
@pytest.mark.parametrize("method", SEALED_METHODS)
def test_a_viewset_that_overrides_a_sealed_method_is_refused_when_its_class_is_created(base, method):
    body = {method: lambda self, *args, **kwargs: Organisation.objects.all()}
    with pytest.raises(TypeError, match=f"may not take {method} from Widening: .*get_base_queryset"):
        type("Widening", (base, mixins.ListModelMixin, viewsets.GenericViewSet), body)


def test_a_mixin_put_in_front_of_the_base_is_refused_too():
    class EveryOrganisation:
        def get_queryset(self):
            return Organisation.objects.all()

    with pytest.raises(TypeError, match="may not take get_queryset from .*EveryOrganisation"):
        class Widening(EveryOrganisation, OrganisationScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
            pass


def test_a_base_listed_after_drf_is_refused():
    """DRF's own get_queryset in front of the base would skip tenancy: the order counts."""
    with pytest.raises(TypeError, match="may not take get_queryset from GenericAPIView"):
        class Reversed(viewsets.GenericViewSet, OrganisationScopedMixin):
            pass


def test_narrowing_in_the_hook_is_allowed():
    class Narrowed(OrganisationScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
        def get_base_queryset(self):
            return Organisation.objects.filter(name__startswith="A")

    assert Narrowed.get_queryset is OrganisationScopedMixin.get_queryset


@pytest.mark.parametrize("prefix, viewset, basename", router.registry, ids=lambda v: getattr(v, "__name__", v))
def test_every_registered_viewset_takes_its_rows_from_a_sealing_base(prefix, viewset, basename):
    for method in SEALED_METHODS:
        owner = next(klass for klass in viewset.__mro__ if method in vars(klass))
        assert owner in (OrganisationScopedMixin, PlatformRecordsMixin), (viewset, method, owner)


def _handled(exc):
    request = Request(APIRequestFactory().post("/api/v1/anything/"))
    return api_exception_handler(exc, {"request": request, "view": None})


def test_any_application_error_is_a_400_with_its_message_and_extra_fields():
    class SomeRuleBroken(ApplicationError):
        pass

    response = _handled(SomeRuleBroken("That is not allowed here.", extra={"field": "name"}))
    assert response.status_code == 400
    assert response.data == {"field": "name", "detail": "That is not allowed here."}


def test_engine_errors_are_a_400_with_their_message():
    response = _handled(DatasetError("faces.zip contains no images"))
    assert response.status_code == 400 and response.data == {"detail": "faces.zip contains no images"}


def test_every_apps_rule_errors_are_application_errors():
    from accounts.services import AccountsError, LastOwnerError
    from ml.services import DatasetImportError, JobRefused, PromotionRefused
    from webhooks.transport import PrivateAddressRefused
    for error in (AccountsError, LastOwnerError, DatasetImportError, JobRefused, PromotionRefused,
                  PrivateAddressRefused):
        assert issubclass(error, ApplicationError), error


def test_the_api_base_imports_no_apps_services():
    tree = ast.parse(inspect.getsource(api_common))
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if name and name.split(".")[-1] == "services"], imported
