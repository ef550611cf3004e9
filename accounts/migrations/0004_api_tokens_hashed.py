"""API tokens move to django-rest-knox, which stores a SHA-512 digest instead of the token.

Tokens that DRF's `authtoken` app kept in plain text (table `authtoken_token`, on databases made before
this migration) are copied as digests, so clients keep working with the tokens they have until those
expire (REST_KNOX["TOKEN_TTL"] from now); then the plain-text table is dropped.
"""
from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

PLAIN_TOKEN_TABLE = "authtoken_token"


def copy_plain_tokens(apps, connection) -> int:
    """Copy every plain-text token as a digest, then drop the plain-text table. Returns how many."""
    if PLAIN_TOKEN_TABLE not in connection.introspection.table_names():
        return 0
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS, knox_settings

    AuthToken = apps.get_model("knox", "AuthToken")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {connection.ops.quote_name(PLAIN_TOKEN_TABLE)}")
        rows = cursor.fetchall()
    expiry = timezone.now() + knox_settings.TOKEN_TTL
    AuthToken.objects.using(connection.alias).bulk_create(
        [AuthToken(digest=hash_token(key), token_key=key[:CONSTANTS.TOKEN_KEY_LENGTH], user_id=user_id,
                   expiry=expiry) for key, user_id in rows], ignore_conflicts=True)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name(PLAIN_TOKEN_TABLE)}")
    # The authtoken app is no longer installed: forget its migrations, so adding it back would start afresh.
    MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()
    return len(rows)


def forwards(apps, schema_editor):
    copy_plain_tokens(apps, schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_organisation_live_analysis_allowed"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    # Backwards: the plain tokens cannot be recovered from their digests; nothing to undo.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
