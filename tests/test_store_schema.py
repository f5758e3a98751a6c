"""The case store's named migrations: each applied once, in order, its version recorded."""

import sqlite3

import pytest

from app.core.store import DB_FILE, MIGRATIONS, SCHEMA_VERSION, CaseStore
from app.core.store.schema import migrate, read_version


def _columns(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    """Every table's columns (name, type, not null, default, primary key), by table."""
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {table: [tuple(row)[1:] for row in db.execute(f"PRAGMA table_info({table})")] for table in tables}


def test_migrations_are_named_and_numbered_in_order():
    assert [migration.version for migration in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert SCHEMA_VERSION == len(MIGRATIONS) == 5  # the version existing databases carry
    names = [migration.name for migration in MIGRATIONS]
    assert all(names) and len(set(names)) == len(names)


def test_each_pending_migration_runs_once_in_order_and_records_its_version():
    db = sqlite3.connect(":memory:", isolation_level=None)
    assert read_version(db) == 0
    migrate(db, 0, MIGRATIONS[:1])
    assert read_version(db) == 1
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    migrate(db, 1)
    db.set_trace_callback(None)
    expected = []
    for migration in MIGRATIONS[1:]:
        expected += [*migration.statements, f"UPDATE schema_version SET version = {migration.version}"]
    assert statements == expected
    assert read_version(db) == SCHEMA_VERSION
    migrate(db, SCHEMA_VERSION)  # up to date: nothing runs
    assert db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1


@pytest.mark.parametrize("old_version", range(SCHEMA_VERSION))
def test_a_database_of_any_older_version_opens_with_the_schema_of_a_new_one(tmp_path, old_version):
    with CaseStore(tmp_path / "new" / DB_FILE) as fresh:
        expected = _columns(fresh._database.connection)
    old = tmp_path / "old" / DB_FILE
    old.parent.mkdir()
    with sqlite3.connect(old, isolation_level=None) as raw:
        migrate(raw, read_version(raw), MIGRATIONS[:old_version])
        assert read_version(raw) == old_version
    raw.close()
    with CaseStore(old) as upgraded:
        assert upgraded.schema_version() == SCHEMA_VERSION
        assert _columns(upgraded._database.connection) == expected
        upgraded.create_case("works")
