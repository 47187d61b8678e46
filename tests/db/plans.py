"""What a database plans to do for the image listing: the statement Glint sends
(captured from repositories.list_images), EXPLAINed on SQLite, MariaDB or
PostgreSQL, and boiled down to how each table is read. Used by the plan tests
and printed by the listing benchmark (bench/scale.py --explain)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from glint.db import repositories
from glint.domain.context import RequestContext
from glint.domain.listing import parse_list_query
from glint.domain.visibility import Sight, sight_of

TABLES = ("images", "image_tags", "image_properties", "image_members")


@dataclass(frozen=True)
class Access:
    """One read of a table: through `index`, or all of it when `index` is None.
    `detail` is the database's own words for it: SQLite's plan line,
    PostgreSQL's index condition, MariaDB's access type."""

    table: str
    index: str | None
    detail: str = ""


@dataclass
class Plan:
    accesses: list[Access]
    # Whether the database sorts rows itself (not in an index's order).
    sorts: bool
    text: str

    def full_scans(self) -> list[str]:
        return [a.table for a in self.accesses if a.index is None]

    def indexes(self, table: str) -> list[str]:
        return [a.index for a in self.accesses if a.table == table and a.index is not None]


def caller_sight(project_id: str | None, *, is_admin: bool) -> Sight:
    """What a caller of this project (an admin or not) sees."""
    return sight_of(RequestContext(request_id="plans", project_id=project_id, is_admin=is_admin))


def listing_statement(engine: Engine, params: list[tuple[str, str]], *,
                      project_id: str | None, is_admin: bool) -> tuple[str, Any]:
    """The SQL and parameters of the page query behind GET /v2/images?`params`."""
    query = parse_list_query(params, default_limit=25, max_limit=1000)
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            repositories.list_images(session, query, caller_sight(project_id, is_admin=is_admin))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    pages = [item for item in sent if "ORDER BY" in item[0]]
    assert pages, f"no page query among {[s for s, _ in sent]}"
    return pages[0]


def explain(engine: Engine, statement: str, parameters: Any, *, usable: bool = False) -> Plan:
    """The database's plan for `statement`.

    With `usable`, PostgreSQL is told to avoid reading tables whole: on a few
    thousand rows it rightly prefers to, and a plan then still reads one whole
    only when no index can serve the query (what a test can assert on a small
    data set). SQLite plans with the statistics Glint gives it, MariaDB with
    its own.
    """
    with engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if engine.dialect.name == "postgresql" and usable:
                cursor.execute("SET enable_seqscan = off")
            if engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                return _sqlite([row[3] for row in cursor.fetchall()])
            if engine.dialect.name == "postgresql":
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                document = cursor.fetchone()[0]
                return _postgres(document if isinstance(document, list) else json.loads(document))
            cursor.execute("EXPLAIN " + statement, parameters)
            columns = [d[0] for d in cursor.description]
            return _mariadb([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])
        finally:
            if engine.dialect.name == "postgresql" and usable:
                cursor.execute("RESET enable_seqscan")
            cursor.close()


def _sqlite(details: list[str]) -> Plan:
    accesses = []
    for detail in details:
        words = detail.split()
        if words[0] in ("SCAN", "SEARCH") and words[1] in TABLES:
            index = None
            if "INDEX" in words:
                index = words[words.index("INDEX") + 1]
            elif "PRIMARY KEY" in detail:
                index = "PRIMARY KEY"
            accesses.append(Access(words[1], index, detail))
    return Plan(accesses, any("TEMP B-TREE FOR ORDER BY" in d for d in details), "\n".join(details))


def _postgres_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _postgres_nodes(child)


def _postgres(document: list[dict[str, Any]]) -> Plan:
    nodes = list(_postgres_nodes(document[0]["Plan"]))
    accesses = []
    for node in nodes:
        table = node.get("Relation Name")
        if table not in TABLES:
            continue
        index = node.get("Index Name")
        condition = node.get("Index Cond", "")
        if node["Node Type"] == "Bitmap Heap Scan":
            index = ",".join(n["Index Name"] for n in _postgres_nodes(node) if "Index Name" in n)
            condition = " ".join(n.get("Index Cond", "") for n in _postgres_nodes(node))
        accesses.append(Access(table, index or None, condition))
    sorts = any(n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes)
    return Plan(accesses, sorts, json.dumps(document[0]["Plan"], indent=1))


def _mariadb(rows: list[dict[str, Any]]) -> Plan:
    accesses = [Access(row["table"], None if row["type"] == "ALL" else row["key"], row["type"])
                for row in rows if row["table"] in TABLES]
    sorts = any("filesort" in (row.get("Extra") or "") for row in rows
                if row["table"] in TABLES)
    return Plan(accesses, sorts, "\n".join(str(row) for row in rows))
