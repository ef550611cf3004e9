"""Projects: create, rename, delete (with the raw files of their footage)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Footage, Project


def project_create(*, organisation, name: str, description: str = "", created_by) -> Project:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A project needs a name."})
    return Project.objects.create(organisation=organisation, name=name[:200], description=description or "",
                                  created_by=created_by)


def project_update(*, project: Project, **fields) -> Project:
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        if not fields["name"]:
            raise ValidationError({"name": "A project needs a name."})
    for key, value in fields.items():
        setattr(project, key, value)
    if fields:
        project.save(update_fields=list(fields))
    return project


def project_delete(*, project: Project) -> None:
    # Rows cascade; stored files do not, and raw footage must not outlive its project.
    names = [n for n in Footage.objects.filter(project=project).values_list("file", flat=True) if n]
    storage = Footage._meta.get_field("file").storage
    with transaction.atomic():
        project.delete()
        transaction.on_commit(lambda: [storage.delete(name) for name in names])
