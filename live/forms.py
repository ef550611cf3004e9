"""Forms: they parse and check input; the services decide what is allowed."""
from __future__ import annotations

from django import forms
from django.conf import settings

from analysis.forms import detector_choices

from .models import LiveSession


class LiveStartForm(forms.Form):
    source = forms.ChoiceField(choices=LiveSession.Source.choices, widget=forms.RadioSelect,
                               initial=LiveSession.Source.BROWSER)
    stream_url = forms.CharField(label="Camera or stream URL", required=False, max_length=2000,
                                 widget=forms.TextInput(attrs={"placeholder": "rtsp://camera.local/stream"}),
                                 help_text="rtsp://, rtsps://, or http(s):// for MJPEG and HLS streams.")
    setting = forms.ChoiceField(label="Where is the camera?", choices=LiveSession.Setting.choices,
                                widget=forms.RadioSelect)
    setting_note = forms.CharField(label="About this session (optional)", required=False, max_length=300)
    consent_confirmed = forms.BooleanField(
        label="The people on camera gave their informed consent", required=False,
        help_text="Required for research sessions.")
    target_fps = forms.FloatField(label="Frames per second", min_value=0.5)
    detector = forms.ChoiceField(choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ml.runtime import default_detector_name
        self.fields["detector"].choices = detector_choices()
        self.fields["detector"].initial = default_detector_name()
        self.fields["target_fps"].initial = settings.EMO7ION_LIVE_DEFAULT_FPS
        self.fields["target_fps"].widget.attrs.update(step="0.5", max=settings.EMO7ION_LIVE_MAX_FPS)

    def clean(self):
        data = super().clean()
        if data.get("source") == LiveSession.Source.STREAM and not data.get("stream_url"):
            self.add_error("stream_url", "Give the camera's or stream's URL.")
        return data
