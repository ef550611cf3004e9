"""manage.py create_organisation NAME --owner USERNAME [--email E] [--password P] [--json]"""
import json
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.models import Organisation


class Command(BaseCommand):
    help = ("Create an organisation together with its owner. The owner user is created when missing "
            "(with --password, or a generated password that is printed once); an existing user keeps "
            "their password.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="organisation name, e.g. \"City Events\"")
        parser.add_argument("--owner", required=True, help="username of the owner (created when missing)")
        parser.add_argument("--email", default="", help="email of a new owner user (for password resets)")
        parser.add_argument("--password", default=None,
                            help="password of a new owner user; checked by the password validators")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object on stdout")

    def handle(self, *args, name, owner, email, password, as_json=False, **options):
        name = name.strip()
        if not name:
            raise CommandError("The organisation needs a name.")
        if Organisation.objects.filter(name__iexact=name).exists():
            existing = Organisation.objects.filter(name__iexact=name).first()
            raise CommandError(f"An organisation named {existing.name!r} already exists (slug {existing.slug}).")
        User = get_user_model()
        user = User.objects.filter(username=owner).first()
        notes, generated, user_created = [], None, user is None
        with transaction.atomic():
            if user is None:
                candidate = User(username=owner, email=email)
                if password is None:
                    generated = password = secrets.token_urlsafe(12)
                try:
                    validate_password(password, user=candidate)
                except ValidationError as exc:
                    raise CommandError("The password is not accepted: " + " ".join(exc.messages))
                user = User.objects.create_user(username=owner, email=email, password=password)
                notes.append(f"Created user {owner!r}" + (f" <{email}>" if email else "") + ".")
            else:
                notes.append(f"User {owner!r} exists; their password is unchanged.")
                if password is not None:
                    notes.append("--password was ignored for an existing user.")
                if email and not user.email:
                    user.email = email
                    user.save(update_fields=["email"])
                    notes.append(f"Set their email to {email}.")
            organisation = services.organisation_create(name=name, owner=user)
        notes.append(f"Created organisation {organisation.name!r} (slug {organisation.slug}) "
                     f"with {user.get_username()!r} as owner.")
        if generated:
            notes.append(f"Generated password for {owner!r}: {generated}  (shown once; change it after signing in)")

        if as_json:
            for line in notes:
                self.stderr.write(line, style_func=lambda text: text)  # logs, not errors
            payload = {"organisation": {"id": organisation.pk, "name": organisation.name, "slug": organisation.slug},
                       "owner": {"id": user.pk, "username": user.get_username(), "email": user.email,
                                 "created": user_created},
                       "password": generated}
            self.stdout.write(json.dumps(payload))
        else:
            for line in notes:
                self.stdout.write(line)
