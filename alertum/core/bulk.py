"""Writing many rows at once without Django's `bulk_update`.

`bulk_update` builds one CASE WHEN per field per row; for a batch of 50 rows its
expression resolving cost more than the statements (profiled in the paging storm,
docs/performance.md). Engines that batch work usually set the same values on most rows
(every page of a batch sent, every escalation moved to the same next level), so one
plain UPDATE per distinct set of values is both simpler SQL and far less Python.
"""

from django.db import models


def update_grouped(objs: list[models.Model], fields: list[str]) -> int:
    """Save `fields` of `objs` (all of one model) with one UPDATE per distinct set of
    values; returns the number of statements."""
    if not objs:
        return 0
    model = type(objs[0])
    attnames = [model._meta.get_field(name).attname for name in fields]
    groups: dict[tuple, list] = {}
    for obj in objs:
        values = tuple(getattr(obj, attname) for attname in attnames)
        groups.setdefault(values, []).append(obj.pk)
    for values, pks in groups.items():
        model._base_manager.filter(pk__in=pks).update(**dict(zip(attnames, values, strict=True)))
    return len(groups)
