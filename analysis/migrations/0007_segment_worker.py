from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("analysis", "0006_job_liveness"),
    ]

    operations = [
        migrations.AddField(
            model_name="analysissegment",
            name="worker",
            field=models.CharField(blank=True, max_length=200),
        ),
    ]
