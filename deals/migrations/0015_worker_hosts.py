# Worker heartbeats become one row per worker host, a run records the host that ran it, and
# owner tokens get room for a cloud host's long name (PostgreSQL refuses a longer value).

from django.db import migrations, models

import deals.models


def name_old_beat_by_host(apps, schema_editor):
    """The single "worker" row becomes the row of the host that last wrote it."""
    WorkerHeartbeat = apps.get_model("deals", "WorkerHeartbeat")
    db = schema_editor.connection.alias
    old = WorkerHeartbeat.objects.using(db).filter(name="worker").first()
    host = old.owner.partition(":")[0] if old else ""
    if old and host and not WorkerHeartbeat.objects.using(db).filter(name=host).exists():
        WorkerHeartbeat.objects.using(db).create(name=host, beat_at=old.beat_at, owner=old.owner)
        old.delete()


class Migration(migrations.Migration):

    dependencies = [
        ('deals', '0014_dealevent_recomputed'),
    ]

    operations = [
        migrations.AlterField(
            model_name='joblock',
            name='owner',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AlterField(
            model_name='workerheartbeat',
            name='name',
            field=models.CharField(default='worker', max_length=255, primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name='workerheartbeat',
            name='owner',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.RunPython(name_old_beat_by_host, migrations.RunPython.noop),
        # Runs recorded before are from an unknown host: empty, not the migrating machine's.
        migrations.AddField(
            model_name='syncrun',
            name='host',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='host',
            field=models.CharField(blank=True, default=deals.models.host_name, max_length=255),
        ),
    ]
