"""Forms: they parse and check input; the services do the work."""
from __future__ import annotations

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
