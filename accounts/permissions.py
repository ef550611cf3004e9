"""The one table that says what each role may do in its organisation.

Pages, the API and services all ask `role_allows(role, action)`; nothing else encodes roles.
"""
from .models import Role

VIEW = "view"                      # read projects, footage, analyses, reports, models
UPLOAD = "upload"                  # upload footage
ANALYSE = "analyse"                # start/cancel analyses
MANAGE_PROJECTS = "manage_projects"  # create/rename/delete projects
MANAGE_MEMBERS = "manage_members"  # invite, change roles, remove members
MANAGE_WEBHOOKS = "manage_webhooks"
MANAGE_ORGANISATION = "manage_organisation"  # settings (blur, retention), delete organisation
MANAGE_OWNERS = "manage_owners"    # grant or take away the owner role, invite owners, remove an owner

ACTIONS = (VIEW, UPLOAD, ANALYSE, MANAGE_PROJECTS, MANAGE_MEMBERS, MANAGE_WEBHOOKS, MANAGE_ORGANISATION,
           MANAGE_OWNERS)

PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({VIEW}),
    Role.ANALYST: frozenset({VIEW, UPLOAD, ANALYSE, MANAGE_PROJECTS}),
    Role.ADMIN: frozenset({VIEW, UPLOAD, ANALYSE, MANAGE_PROJECTS, MANAGE_MEMBERS, MANAGE_WEBHOOKS}),
    Role.OWNER: frozenset(ACTIONS),
}


def role_allows(role: str | None, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}")
    return role is not None and action in PERMISSIONS.get(role, frozenset())


def allowed_actions(role: str | None) -> frozenset[str]:
    """Everything `role` may do (empty for a non-member); handy for templates and the API."""
    return PERMISSIONS.get(role, frozenset()) if role is not None else frozenset()
