"""Timeline append-only on PostgreSQL; the default severity matrix and checklists."""

from django.db import migrations

from alertum.core.pg import append_only_sql, drop_append_only_sql

MATRIX = {
    "outage": {1: "P1", 2: "P1", 3: "P2", 4: "P3"},
    "partial": {1: "P1", 2: "P2", 3: "P3", 4: "P3"},
    "degraded": {1: "P2", 2: "P3", 3: "P3", 4: "P4"},
    "cosmetic": {1: "P4", 2: "P4", 3: "P4", 4: "P4"},
}

CHECKLISTS = {
    "P1": ["Confirm impact scope", "Assign an incident commander", "Verify rollback options",
           "Post a status page update", "Document mitigation", "Timestamp key actions", "Schedule the postmortem"],
    "P2": ["Confirm impact scope", "Verify rollback options", "Document mitigation", "Timestamp key actions",
           "Schedule the postmortem"],
    "P3": ["Confirm impact scope", "Document mitigation"],
    "P4": ["Confirm impact scope"],
}


def seed(apps, schema_editor):
    SeverityRule = apps.get_model("incidents", "SeverityRule")
    ChecklistTemplate = apps.get_model("incidents", "ChecklistTemplate")
    for impact, tiers in MATRIX.items():
        for tier, severity in tiers.items():
            SeverityRule.objects.get_or_create(impact=impact, tier=tier, users_affected="",
                                               defaults={"severity": severity})
    for severity, items in CHECKLISTS.items():
        ChecklistTemplate.objects.get_or_create(name=f"{severity} response", severity=severity,
                                                defaults={"items": items})


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial"), ("core", "0002_append_only_triggers")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: append_only_sql(schema_editor, "incidents_timelineentry"),
            lambda apps, schema_editor: drop_append_only_sql(schema_editor, "incidents_timelineentry"),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
