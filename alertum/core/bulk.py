"""Writing many rows at once without Django's `bulk_update`.

`bulk_update` builds one CASE WHEN per field per row; for a batch of 50 rows its
expression resolving cost more than the statements (profiled in the paging storm,
docs/performance.md). Engines that batch work usually set the same values on most rows
(every page of a batch sent, every escalation moved to the same next level): then one
plain UPDATE per distinct set of values is simplest. When the rows differ, one
`UPDATE … FROM (VALUES …)` statement (PostgreSQL, and SQLite ≥ 3.33) writes them all.
"""

from django.db import connection, models

MAX_GROUPS = 2  # more distinct value sets than this: one VALUES statement instead


def update_grouped(objs: list[models.Model], fields: list[str]) -> int:
    """Save `fields` of `objs` (all of one model; hashable values) in as few statements
    as it takes; returns the number of statements."""
    if not objs:
        return 0
    model = type(objs[0])
    attnames = [model._meta.get_field(name).attname for name in fields]
    groups: dict[tuple, list] = {}
    for obj in objs:
        values = tuple(getattr(obj, attname) for attname in attnames)
        groups.setdefault(values, []).append(obj.pk)
    if len(groups) > MAX_GROUPS:
        update_rows(objs, fields)
        return 1
    for values, pks in groups.items():
        model._base_manager.filter(pk__in=pks).update(**dict(zip(attnames, values, strict=True)))
    return len(groups)


def update_rows(objs: list[models.Model], fields: list[str]) -> None:
    """Save `fields` of each of `objs` (all of one model) in one statement."""
    if not objs:
        return
    meta = type(objs[0])._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"

    def value(number: int, field) -> str:
        # PostgreSQL types a VALUES column from its literals: cast to the column's type
        # (a column of NULLs would otherwise be text). SQLite needs no cast.
        return f"CAST(v.column{number} AS {field.db_type(connection)})" if postgres else f"v.column{number}"

    params, rows = [], []
    for obj in objs:
        row = [meta.pk.get_db_prep_value(obj.pk, connection)]
        row += [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns]
        params += row
        rows.append("(" + ", ".join(["%s"] * len(row)) + ")")
    table = quote(meta.db_table)
    assignments = ", ".join(f"{quote(field.column)} = {value(n, field)}" for n, field in enumerate(columns, start=2))
    sql = (f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join(rows)}) AS v "
           f"WHERE {table}.{quote(meta.pk.column)} = {value(1, meta.pk)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
