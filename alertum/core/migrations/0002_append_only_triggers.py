"""PostgreSQL refuses UPDATE and DELETE on the audit trail (DESIGN.md: append-only)."""

from django.db import migrations

from alertum.core.pg import append_only_sql, drop_append_only_sql


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: append_only_sql(schema_editor, "core_auditentry"),
            lambda apps, schema_editor: drop_append_only_sql(schema_editor, "core_auditentry"),
        ),
    ]
