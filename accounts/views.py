"""Organisation, member and invitation pages. Thin: resolve the organisation through the selectors
(another organisation is a 404, a disallowed action a 403), call a service, render or redirect."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .forms import (InvitationForm, InvitationSignupForm, MembershipRoleForm, OrganisationCreateForm,
                    OrganisationForm)
from .models import Role
from .permissions import MANAGE_MEMBERS, MANAGE_ORGANISATION, MANAGE_OWNERS, VIEW, allowed_actions
from .tenancy import role_in


def _role_word(role: str) -> str:
    return Role(role).label.lower()


def _my_role(request, organisation) -> str | None:
    return role_in(request.user, organisation.pk)


def _can(role: str | None) -> dict[str, bool]:
    """Permission flags for templates, straight from the permission table."""
    actions = allowed_actions(role)
    return {"manage_organisation": MANAGE_ORGANISATION in actions, "manage_members": MANAGE_MEMBERS in actions,
            "manage_owners": MANAGE_OWNERS in actions}


@login_required
def organisation_list(request):
    return render(request, "accounts/organisation_list.html",
                  {"organisations": selectors.organisations_for(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def organisation_create(request):
    form = OrganisationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organisation = services.organisation_create(name=form.cleaned_data["name"], owner=request.user)
        messages.success(request, f"Created {organisation.name}. You are its owner.")
        return redirect("organisation_detail", slug=organisation.slug)
    return render(request, "accounts/organisation_create.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def organisation_detail(request, slug):
    """The organisation's overview and settings; the settings form is only for roles that may change them."""
    action = MANAGE_ORGANISATION if request.method == "POST" else VIEW
    organisation = selectors.organisation_for(request.user, slug, action)
    role = _my_role(request, organisation)
    can = _can(role)
    form = OrganisationForm(request.POST or None, instance=organisation) if can["manage_organisation"] else None
    if request.method == "POST" and form.is_valid():
        services.organisation_update(organisation=organisation, by=request.user, **form.cleaned_data)
        messages.success(request, "Settings saved.")
        return redirect("organisation_detail", slug=organisation.slug)
    return render(request, "accounts/organisation_detail.html", {
        "organisation": organisation, "my_role": role, "my_role_label": Role(role).label, "can": can,
        "form": form, "member_count": organisation.memberships.count(),
    }, status=400 if form is not None and form.errors else 200)


def _members_page(request, organisation, *, invite_form=None, status=200):
    role = _my_role(request, organisation)
    can = _can(role)
    return render(request, "accounts/organisation_members.html", {
        "organisation": organisation, "my_role": role, "can": can,
        "members": selectors.members_of(organisation),
        "owner_count": selectors.owner_count(organisation),
        "invitations": selectors.pending_invitations(organisation),
        "invite_form": invite_form or InvitationForm(allow_owner=can["manage_owners"]),
        "role_choices": [(v, label) for v, label in Role.choices if can["manage_owners"] or v != Role.OWNER],
        "invitation_days": services.invitation_days(),
    }, status=status)


@login_required
def organisation_members(request, slug):
    organisation = selectors.organisation_for(request.user, slug, MANAGE_MEMBERS)
    return _members_page(request, organisation)


@login_required
@require_POST
def organisation_invite(request, slug):
    organisation = selectors.organisation_for(request.user, slug, MANAGE_MEMBERS)
    form = InvitationForm(request.POST, allow_owner=_can(_my_role(request, organisation))["manage_owners"])
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                organisation=organisation, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                invited_by=request.user, site_url=request.build_absolute_uri("/"))
        except services.AccountsError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(request, f"Invitation sent to {invitation.email} as {_role_word(invitation.role)}.")
            return redirect("organisation_members", slug=organisation.slug)
    return _members_page(request, organisation, invite_form=form, status=400)


@login_required
@require_POST
def membership_set_role(request, slug, membership_id):
    organisation = selectors.organisation_for(request.user, slug, MANAGE_MEMBERS)
    membership = selectors.membership_for(request.user, organisation, membership_id, MANAGE_MEMBERS)
    form = MembershipRoleForm(request.POST, allow_owner=True)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles offered.")
        return redirect("organisation_members", slug=organisation.slug)
    try:
        services.membership_set_role(membership=membership, role=form.cleaned_data["role"], by=request.user)
    except services.AccountsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.get_username()} is now {_role_word(form.cleaned_data['role'])}.")
    return redirect("organisation_members", slug=organisation.slug)


@login_required
@require_POST
def membership_remove(request, slug, membership_id):
    organisation = selectors.organisation_for(request.user, slug, MANAGE_MEMBERS)
    membership = selectors.membership_for(request.user, organisation, membership_id, MANAGE_MEMBERS)
    try:
        services.membership_remove(membership=membership, by=request.user)
    except services.AccountsError as exc:
        messages.error(request, exc.message)
        return redirect("organisation_members", slug=organisation.slug)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left {organisation.name}.")
        return redirect("organisation_list")
    messages.success(request, f"Removed {membership.user.get_username()} from {organisation.name}.")
    return redirect("organisation_members", slug=organisation.slug)


@login_required
@require_POST
def organisation_leave(request, slug):
    """Any member may leave, except the last owner."""
    organisation = selectors.organisation_for(request.user, slug, VIEW)
    membership = organisation.memberships.get(user=request.user)
    try:
        services.membership_remove(membership=membership, by=request.user)
    except services.AccountsError as exc:
        messages.error(request, exc.message)
        return redirect("organisation_detail", slug=organisation.slug)
    messages.success(request, f"You left {organisation.name}.")
    return redirect("organisation_list")


@login_required
@require_POST
def invitation_revoke(request, slug, invitation_id):
    organisation = selectors.organisation_for(request.user, slug, MANAGE_MEMBERS)
    invitation = selectors.invitation_for(request.user, organisation, invitation_id, MANAGE_MEMBERS)
    services.invitation_revoke(invitation=invitation, by=request.user)
    messages.success(request, f"Withdrew the invitation of {invitation.email}.")
    return redirect("organisation_members", slug=organisation.slug)


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """Open to anonymous visitors: the token is the proof. A signed-in user joins with one click;
    a visitor creates an account (username + password) and joins."""
    invitation = selectors.invitation_by_token(token)
    if invitation is None:
        return render(request, "accounts/invitation_accept.html",
                      {"problem": "This invitation link is not valid. Check that you copied all of it, "
                                  "or ask for a new invitation."}, status=404)
    problem = services.invitation_problem(invitation)
    if problem:
        return render(request, "accounts/invitation_accept.html", {"invitation": invitation, "problem": problem},
                      status=410)
    context = {"invitation": invitation, "role_label": Role(invitation.role).label}
    if request.user.is_authenticated:
        if request.method == "POST":
            return _accept_as(request, invitation, request.user)
        return render(request, "accounts/invitation_accept.html", context)

    form = InvitationSignupForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept_with_signup(
                invitation=invitation, username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"])
        except services.AccountsError as exc:
            return render(request, "accounts/invitation_accept.html", {"invitation": invitation,
                                                                       "problem": exc.message}, status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}. You joined {invitation.organisation.name} "
                                  f"as {_role_word(invitation.role)}.")
        return redirect("organisation_detail", slug=invitation.organisation.slug)
    return render(request, "accounts/invitation_accept.html", {**context, "form": form},
                  status=400 if form.errors else 200)


def _accept_as(request, invitation, user):
    try:
        membership, created = services.invitation_accept(invitation=invitation, user=user)
    except services.AccountsError as exc:
        return render(request, "accounts/invitation_accept.html", {"invitation": invitation, "problem": exc.message},
                      status=410)
    organisation = invitation.organisation
    if created:
        messages.success(request, f"You joined {organisation.name} as {_role_word(membership.role)}.")
    else:
        messages.info(request, f"You were already a member of {organisation.name} "
                               f"({_role_word(membership.role)}); your role is unchanged.")
    return redirect("organisation_detail", slug=organisation.slug)
