"""PostgreSQL-only DDL used by migrations (a no-op on SQLite, where the models' own
refusal is the guard)."""


def append_only_sql(schema_editor, table: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        """
        CREATE OR REPLACE FUNCTION alertum_refuse_change() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql;
        """,
        params=None,  # the body holds '%' placeholders of RAISE, not query parameters
    )
    schema_editor.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION alertum_refuse_change();"
    )
    # TRUNCATE bypasses row triggers; refuse it too (tests reset tables by transaction
    # rollback, not TRUNCATE).
    schema_editor.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION alertum_refuse_change();"
    )


def drop_append_only_sql(schema_editor, table: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
