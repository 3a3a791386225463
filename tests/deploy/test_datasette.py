"""Browsing the state with Datasette: the metadata describes real tables and
columns, and every canned query answers the question its name asks."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import REPO
from watcher.store import Store

METADATA_FILE = REPO / "deploy" / "datasette" / "metadata.yml"
QUERIES = ("papers_this_week_by_topic", "delivered_where", "failing_sources", "retractions")
HAS_DATASETTE = importlib.util.find_spec("datasette") is not None


def datasette_app() -> Any:
    """datasette.app, imported only by the tests that skip without it (it ships no type hints)."""
    return importlib.import_module("datasette.app")


def metadata() -> dict[str, Any]:
    data = yaml.safe_load(METADATA_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def database() -> dict[str, Any]:
    databases = metadata()["databases"]
    # The key must be the database file's stem: watcher.db -> "watcher".
    assert list(databases) == ["watcher"]
    return databases["watcher"]  # type: ignore[no-any-return]


def schema_columns(tmp_path: Path) -> dict[str, set[str]]:
    store = Store.open(tmp_path / "watcher.db")
    try:
        tables = [t for t in store.db.table_names() if t != "_sqlite_migrations"]
        return {t: set(store.db[t].columns_dict) for t in tables}
    finally:
        store.close()


def test_every_described_table_and_column_exists_in_the_schema(tmp_path: Path) -> None:
    columns = schema_columns(tmp_path)
    for table, meta in database()["tables"].items():
        assert table in columns, f"metadata.yml describes a table the schema lacks: {table}"
        assert meta.get("description"), table
        extra = set(meta.get("columns", {})) - columns[table]
        assert not extra, f"{table}: metadata.yml describes missing columns {sorted(extra)}"


def test_the_main_tables_have_every_column_described(tmp_path: Path) -> None:
    columns = schema_columns(tmp_path)
    tables = database()["tables"]
    for table in ("works", "matches", "events", "source_health", "digests", "deliveries"):
        missing = columns[table] - set(tables[table]["columns"])
        assert not missing, f"describe {table}.{sorted(missing)} in deploy/datasette/metadata.yml"
        assert set(tables[table]["columns"]) == columns[table], table


def test_metadata_offers_the_four_canned_queries() -> None:
    queries = database()["queries"]
    assert set(queries) == set(QUERIES)
    for name, query in queries.items():
        assert query["title"] and query["description"] and query["sql"], name


def run_sql(db: Path, name: str) -> list[dict[str, Any]]:
    """The canned query through a read-only connection, as Datasette runs it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(database()["queries"][name]["sql"])]
    finally:
        conn.close()


def check_rows(name: str, rows: list[dict[str, Any]]) -> None:
    """What an operator should see for the populated database, whoever runs the SQL."""
    if name == "papers_this_week_by_topic":
        # the month-old paper (relapse-antigen-escape, scope) is not in this week's list
        assert [(r["topic"], r["papers_in_topic"]) for r in rows] == [
            ("multi-antigen", 1),
            ("toxicity", 2),
            ("toxicity", 2),
        ]
        toxicity = [r["title"] for r in rows if r["topic"] == "toxicity"]
        assert toxicity[0].startswith("Cytokine release")  # best score first
    elif name == "delivered_where":
        by_sink = {r["sink"]: r for r in rows}
        assert set(by_sink) == {"slack", "email"}
        assert by_sink["slack"]["channel"] == "C0TOX" and by_sink["slack"]["ts"] == "1712345678.000100"
        assert by_sink["slack"]["title"].startswith("Cytokine release")
        # a follow-up shows the title of the paper it is about
        assert by_sink["email"]["event_kind"] == "retracted"
        assert by_sink["email"]["title"].startswith("Tisagenlecleucel")
    elif name == "failing_sources":
        assert {r["source"]: r["problem"] for r in rows} == {
            "feed:Blood": "failing",
            "feed:Leukemia": "silent",
        }
        blood = next(r for r in rows if r["source"] == "feed:Blood")
        assert "503" in blood["last_error"]
    elif name == "retractions":
        assert len(rows) == 1
        assert rows[0]["title"].startswith("Tisagenlecleucel")
        assert rows[0]["notice_title"].startswith("Retraction Note")
        assert rows[0]["notice_pmid"] == "400"


@pytest.mark.parametrize("name", QUERIES)
def test_canned_query_sql_answers_its_question_on_a_real_database(populated: Path, name: str) -> None:
    check_rows(name, run_sql(populated, name))


@pytest.mark.parametrize("name", QUERIES)
def test_canned_queries_return_nothing_rather_than_fail_on_a_fresh_database(
    tmp_path: Path, name: str
) -> None:
    Store.open(tmp_path / "watcher.db").close()
    assert run_sql(tmp_path / "watcher.db", name) == []


async def datasette_rows(db: Path, paths: list[str]) -> list[Any]:
    ds = datasette_app().Datasette(files=[str(db)], metadata=metadata())
    await ds.invoke_startup()
    out = []
    for path in paths:
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        out.append(response.json())
    return out


@pytest.mark.skipif(not HAS_DATASETTE, reason="datasette is an optional extra: pip install datasette")
def test_datasette_serves_every_canned_query_with_the_expected_rows(populated: Path) -> None:
    paths = [f"/watcher/{name}.json?_shape=objects" for name in QUERIES]
    results = asyncio.run(datasette_rows(populated, paths))
    for name, body in zip(QUERIES, results, strict=True):
        check_rows(name, body["rows"])


@pytest.mark.skipif(not HAS_DATASETTE, reason="datasette is an optional extra: pip install datasette")
def test_datasette_shows_the_table_descriptions_from_metadata(populated: Path) -> None:
    (page,) = asyncio.run(datasette_rows(populated, ["/-/metadata.json"]))
    assert page["databases"]["watcher"]["tables"]["works"]["description"].startswith("One row per paper")


@pytest.mark.skipif(not HAS_DATASETTE, reason="datasette is an optional extra: pip install datasette")
def test_browsing_the_live_database_sees_fresh_writes_and_never_blocks_the_bot(populated: Path) -> None:
    """Datasette reads through read-only connections; the bot writes (WAL) meanwhile."""

    async def browse_while_writing() -> tuple[int, int]:
        ds = datasette_app().Datasette(files=[str(populated)], metadata=metadata())
        await ds.invoke_startup()
        store = Store.open(populated)
        try:
            before = (await ds.client.get("/watcher/runs.json?_shape=array")).json()
            with store.transaction():
                store.start_run("r1", "run", "2025-01-01T00:00:00Z")
            after = (await ds.client.get("/watcher/runs.json?_shape=array")).json()
            with store.transaction():  # still writable after Datasette has read
                store.start_run("r2", "run", "2025-01-01T00:30:00Z")
        finally:
            store.close()
        return len(before), len(after)

    assert asyncio.run(browse_while_writing()) == (0, 1)


@pytest.mark.skipif(not HAS_DATASETTE, reason="datasette is an optional extra: pip install datasette")
def test_a_vacuum_into_snapshot_browsed_immutable_shows_the_same_answers(
    populated: Path, tmp_path: Path
) -> None:
    """The README's snapshot recipe: `sqlite-utils query ... "vacuum into ..."`, then `datasette -i`."""
    import shutil
    import subprocess

    sqlite_utils = shutil.which("sqlite-utils") or str(REPO / ".venv" / "bin" / "sqlite-utils")
    snapshot = tmp_path / "snapshot" / "watcher.db"
    snapshot.parent.mkdir()
    proc = subprocess.run(
        [sqlite_utils, "query", str(populated), f"vacuum into '{snapshot}'"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr

    async def browse() -> list[Any]:
        ds = datasette_app().Datasette(immutables=[str(snapshot)], metadata=metadata())
        await ds.invoke_startup()
        return [
            (await ds.client.get(f"/watcher/{name}.json?_shape=objects")).json()["rows"] for name in QUERIES
        ]

    for name, rows in zip(QUERIES, asyncio.run(browse()), strict=True):
        check_rows(name, rows)
