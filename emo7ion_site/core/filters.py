"""Filter fields every API list shares: ids, instants and seconds that fail as a 400, never as a
query the database refuses. Apps build their django-filter sets from these."""
from datetime import timezone as dt_timezone

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

ID_MAX = 2 ** 31 - 1          # fits every integer column on every database we run on
SECONDS_MAX = 1e9


class IdFilter(django_filters.NumberFilter):
    """A whole number within the database's integer range: anything else is a 400, not a query
    that overflows."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


class _UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        # In UTC before it reaches the database: PostgreSQL refuses offsets beyond ±15:59,
        # which ISO 8601 (and Python) allow.
        try:
            return value.astimezone(dt_timezone.utc)
        except OverflowError:
            raise forms.ValidationError("This date and time is out of range.")


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcDateTimeField


class SecondsFilter(django_filters.NumberFilter):
    field_class = forms.FloatField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -SECONDS_MAX)
        kwargs.setdefault("max_value", SECONDS_MAX)
        super().__init__(*args, **kwargs)
