"""Admin pages for organisations, memberships and invitations. The admin acts as the system
(no role check) but keeps the one invariant: an organisation with an owner keeps at least one."""
from django import forms
from django.contrib import admin
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from .models import Invitation, Membership, Organisation, Role


def _owner_would_vanish(organisation_id, remaining_owner_ids) -> bool:
    """True when the organisation has an owner now and would have none afterwards."""
    had_owner = Membership.objects.filter(organisation_id=organisation_id, role=Role.OWNER).exists()
    return had_owner and not remaining_owner_ids


class MembershipInlineFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if self.instance.pk is None:
            return
        owners = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if form.cleaned_data.get("DELETE"):
                continue
            if form.cleaned_data.get("role") == Role.OWNER:
                owners.add(form.instance.pk or id(form))
        if _owner_would_vanish(self.instance.pk, owners):
            raise forms.ValidationError("An organisation must keep at least one owner.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "blur_faces", "footage_retention_days", "member_count", "created_at"]
    list_filter = ["blur_faces", "created_at"]
    search_fields = ["name", "slug", "memberships__user__username", "memberships__user__email"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships", distinct=True))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj):
        return obj._member_count


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        moved = cleaned.get("organisation") is not None and cleaned["organisation"].pk != instance.organisation_id
        if instance.pk and instance.role == Role.OWNER and (cleaned.get("role") != Role.OWNER or moved):
            others = Membership.objects.filter(organisation_id=instance.organisation_id,
                                               role=Role.OWNER).exclude(pk=instance.pk)
            if not others.exists():
                raise forms.ValidationError("This is the organisation's last owner: make someone else an owner first.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", "organisation"]
    search_fields = ["user__username", "user__email", "organisation__name", "organisation__slug"]
    autocomplete_fields = ["user", "organisation"]
    list_select_related = ["user", "organisation"]

    def get_deleted_objects(self, objs, request):
        """Refuse (as Django's 'protected objects' page) to delete an organisation's last owner."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        doomed = {m.pk for m in objs}
        for m in objs:
            if m.role != Role.OWNER:
                continue
            remaining = (Membership.objects.filter(organisation_id=m.organisation_id, role=Role.OWNER)
                         .exclude(pk__in=doomed))
            if not remaining.exists():
                protected = [*protected, f"{m} — the last owner of {m.organisation}"]
        return deleted, model_count, perms_needed, protected


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organisation", "role", "state", "invited_by", "created_at", "expires_at"]
    list_filter = ["role", "organisation", ("accepted_at", admin.EmptyFieldListFilter),
                   ("revoked_at", admin.EmptyFieldListFilter), "expires_at"]
    search_fields = ["email", "organisation__name", "invited_by__username"]
    readonly_fields = ["token", "created_at", "accepted_at", "accepted_by"]
    autocomplete_fields = ["organisation", "invited_by"]
    list_select_related = ["organisation", "invited_by"]

    @admin.display(description="state")
    def state(self, obj):
        return Invitation.State(obj.state).label
