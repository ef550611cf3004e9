# Analyses have a kind: `upload` (every existing row) or `live`. Footage stays required: a live session's
# footage row names its source (the browser camera, a stream URL) and has no file, which reports already
# read as "the raw footage is not stored", so every page, export and API answer keeps its one path to the
# organisation (analysis -> footage -> project -> organisation).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analysis', '0003_analysis_is_a_job'),
    ]

    operations = [
        migrations.AddField(
            model_name='analysis',
            name='kind',
            field=models.CharField(choices=[('upload', 'Uploaded footage'), ('live', 'Live session')], db_index=True, default='upload', max_length=8),
        ),
    ]
