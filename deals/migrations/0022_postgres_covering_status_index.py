"""On PostgreSQL, the dashboard's default index carries the row id, so a page's ids come from
the index alone.

The paginator reads a page's ids first (deals/dashboard.py `KeysFirstPaginator`), walking
`deal_status_delta_pct_idx` past the OFFSET. SQLite's index entries end with the rowid, which
is the id; PostgreSQL's do not, so it read every skipped row from the table as well: page 500
of 50,000 deals took 31 ms, and more while a sweep rewrote rows. With the id included, the
walk stays in the index (an index-only scan). The model state is unchanged, as in 0019.
"""

from django.db import migrations

NAME = "deal_status_delta_pct_idx"
COLUMNS = '"status", "delta_percent" DESC NULLS LAST, "asin"'


def recreate(schema_editor, include: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX IF EXISTS "{NAME}"')
    schema_editor.execute(f'CREATE INDEX "{NAME}" ON "deals_deal" ({COLUMNS}){include}')


class Migration(migrations.Migration):
    dependencies = [("deals", "0021_syncrun_top_pages")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: recreate(schema_editor, ' INCLUDE ("id")'),
            lambda apps, schema_editor: recreate(schema_editor, ""),
        )
    ]
