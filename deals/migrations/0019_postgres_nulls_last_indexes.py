"""On PostgreSQL, the dashboard's percent indexes put NULLs last, as its ORDER BY does.

The dashboard sorts `delta_percent DESC NULLS LAST` (deals/dashboard.py `order_for`). SQLite
orders NULLs lowest, so its `DESC` index already ends with them; PostgreSQL's `DESC` index
starts with them, cannot serve that ORDER BY, and every page (page 500 of 50,000 deals too)
sorted the whole table. SQLite's CREATE INDEX has no NULLS clause, so Django's `Index` cannot
say it for both: the indexes keep their names and model state, and only their PostgreSQL
definition changes here.
"""

from django.db import migrations

INDEXES = {
    # name: (PostgreSQL columns, as Django creates it from deals.models.Deal.Meta)
    "deal_status_delta_pct_idx": (
        '"status", "delta_percent" DESC NULLS LAST, "asin"',
        '"status", "delta_percent" DESC, "asin"',
    ),
    "deal_delta_pct_asin_idx": (
        '"delta_percent" DESC NULLS LAST, "asin"',
        '"delta_percent" DESC, "asin"',
    ),
}


def recreate(schema_editor, which):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
        schema_editor.execute(f'CREATE INDEX "{name}" ON "deals_deal" ({columns[which]})')


class Migration(migrations.Migration):
    dependencies = [("deals", "0018_alertdelivery_plural")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: recreate(schema_editor, 0),
            lambda apps, schema_editor: recreate(schema_editor, 1),
        )
    ]
