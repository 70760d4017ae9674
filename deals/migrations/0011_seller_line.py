from django.db import migrations, models


def mark_looked_up(apps, schema_editor):
    """Rows that show an offer got it from a look-up: their seller line is checked."""
    Deal = apps.get_model("deals", "Deal")
    Deal.objects.filter(now_total__isnull=False).update(seller_line="checked")


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0010_history_listing_gating"),
    ]

    operations = [
        migrations.AddField(
            model_name="deal",
            name="seller_line",
            field=models.CharField(
                blank=True,
                choices=[("", "none"), ("checked", "checked"), ("stored", "not re-checked")],
                default="",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="deal",
            name="offers_fingerprint",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.AddField(
            model_name="deal",
            name="offers_confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_looked_up, migrations.RunPython.noop),
    ]
