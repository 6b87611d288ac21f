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
    # TRUNCATE is left to the table's owner: it is a schema-level operation (tests'
    # flush uses it), not something the application's queries ever do.


def drop_append_only_sql(schema_editor, table: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
