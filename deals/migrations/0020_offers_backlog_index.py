"""An index holding every column the token plan's offers-backlog counts read, so they are
counted from the index rather than from every deal row with its snapshots."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deals', '0019_postgres_nulls_last_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='deal',
            index=models.Index(fields=['enrich_priority', 'enriched_at', 'enrich_requested_at', 'offers_confirmed_at', 'status'], name='deal_offers_backlog_idx'),
        ),
    ]
