"""Forms: they parse and check input; the services do the work."""
from __future__ import annotations

import math

from django import forms
from django.conf import settings

from .services import MAX_SAMPLE_FPS, MIN_SAMPLE_FPS


class ProjectForm(forms.Form):
    organisation = forms.ModelChoiceField(queryset=None, empty_label=None)
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        from accounts.models import Organisation
        # Only organisations in which the user may create projects can be chosen.
        self.fields["organisation"].queryset = Organisation.objects.filter(pk__in=[o.pk for o in organisations])


class FootageUploadForm(forms.Form):
    # Empty files pass the form: the service records them as rejected ("... is empty"), so
    # the person sees what happened to their upload instead of a bare form error.
    file = forms.FileField(label="Video or photo", allow_empty_file=True,
                           widget=forms.ClearableFileInput(attrs={"accept": "video/*,image/*"}))


def detector_choices() -> list[tuple[str, str]]:
    from ml.engine.detectors import DETECTOR_NAMES
    labels = {"yunet": "YuNet (best on crowds)", "haar": "Haar cascade (fallback)"}
    choices = []
    for name in DETECTOR_NAMES:
        if name == "yunet" and not settings.EMO7ION_YUNET_MODEL:
            continue  # not installed here: offering it would only fail
        choices.append((name, labels.get(name, name)))
    return choices


class AnalysisStartForm(forms.Form):
    detector = forms.ChoiceField(choices=())
    sample_fps = forms.FloatField(label="Frames per second to analyse", min_value=MIN_SAMPLE_FPS,
                                  max_value=MAX_SAMPLE_FPS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ml.runtime import default_detector_name
        self.fields["detector"].choices = detector_choices()
        self.fields["detector"].initial = default_detector_name()
        self.fields["sample_fps"].initial = settings.EMO7ION_DEFAULT_SAMPLE_FPS


class TimestampField(forms.Field):
    """A position in the footage as people write it: seconds ("95", "95.5") or minutes:seconds ("1:35"),
    or hours:minutes:seconds ("1:02:03"). Cleans to seconds (float)."""

    widget = forms.TextInput
    default_error_messages = {"invalid": "Write a time as seconds (95) or minutes:seconds (1:35)."}

    def to_python(self, value):
        text = str(value or "").strip()
        if not text:
            return None
        parts = text.split(":")
        if len(parts) > 3 or len(text) > 20:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if any(not math.isfinite(n) or n < 0 for n in numbers) or any(n >= 60 for n in numbers[1:]) \
                or any(not n.is_integer() for n in numbers[:-1]):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        seconds = 0.0
        for n in numbers:
            seconds = seconds * 60 + n
        return seconds


class MomentForm(forms.Form):
    """Mark a moment on the report page. The rules (unique name, inside the footage, end after start)
    are the service's (analysis.services.moment_create), so the page and the API refuse alike."""

    PAGES = (("report", "report"), ("analysis", "analysis"))

    name = forms.CharField(max_length=100, label="Name",
                           widget=forms.TextInput(attrs={"placeholder": "Opening act", "autocomplete": "off"}))
    t_start = TimestampField(label="From", widget=forms.TextInput(attrs={"placeholder": "0:00", "maxlength": 20}))
    t_end = TimestampField(label="To", widget=forms.TextInput(attrs={"placeholder": "1:30", "maxlength": 20}))
    # Which page sent the form, to return to it: the analysis page or the report page.
    page = forms.ChoiceField(choices=PAGES, required=False, widget=forms.HiddenInput)
