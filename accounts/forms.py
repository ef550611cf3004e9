from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import Organisation, Role


class OrganisationForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["name", "blur_faces", "footage_retention_days", "live_analysis_allowed"]
        labels = {"blur_faces": "Blur faces", "footage_retention_days": "Delete raw footage after (days)",
                  "live_analysis_allowed": "Allow live analysis"}
        error_messages = {"name": {"required": "An organisation needs a name."}}
        help_texts = {
            "blur_faces": "Blur every face in frames the platform stores or shows (recommended).",
            "footage_retention_days": "Raw footage is deleted after this many days; aggregates and reports "
                                      "remain. Leave empty to keep footage.",
            "live_analysis_allowed": "Members may analyse a camera or a stream as it happens (never in "
                                     "education or workplace settings). Switch off to refuse every live session.",
        }

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("An organisation needs a name.")
        return name

    def clean_footage_retention_days(self):
        days = self.cleaned_data["footage_retention_days"]
        if days is not None and days < 1:
            raise forms.ValidationError("Keep footage for at least one day, or leave the field empty.")
        return days


class OrganisationCreateForm(forms.Form):
    name = forms.CharField(max_length=200, error_messages={"required": "An organisation needs a name."})

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("An organisation needs a name.")
        return name


def _role_choices(allow_owner: bool):
    return [(value, label) for value, label in Role.choices if allow_owner or value != Role.OWNER]


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args, allow_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(allow_owner)


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, allow_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(allow_owner)


class InvitationSignupForm(UserCreationForm):
    """Username + password for a visitor who arrives through an invitation; the email comes from it."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, invitation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation is not None:
            # The password similarity validator compares against these attributes.
            self.instance.email = invitation.email
