"""The store's SQL stays portable to PostgreSQL: no SQLite-only SQL outside the driver layer."""

import re
from pathlib import Path

import radar.store as store_module
from radar.store import MIGRATIONS

SQLITE_ONLY = [r"\bAUTOINCREMENT\b", r"\bINSERT\s+OR\b", r"\bREPLACE\s+INTO\b",
               r"\bWITHOUT\s+ROWID\b", r"\bPRAGMA\b", r"\bstrftime\s*\(", r"\bdatetime\s*\(",
               r"\bGLOB\b", r"\bIFNULL\b"]


def _sql_strings(source: str) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', source)


def test_migrations_use_no_sqlite_only_sql():
    for version, statements in MIGRATIONS:
        for statement in statements:
            for pattern in SQLITE_ONLY:
                assert not re.search(pattern, statement, re.I), (version, pattern, statement)


def test_queries_outside_the_sqlite_connector_are_portable():
    """Every module of the store package: the database layer, posts and the risk history."""
    package = Path(store_module.__file__).parent
    offending = []
    for path in sorted(package.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "def connect_sqlite" in source:
            start = source.index("def connect_sqlite")
            end = source.find("\n\n\n", start)  # the connector ends the file or a block
            source = source[:start] + (source[end:] if end != -1 else "")
        rest = re.sub(r'"""(.|\n)*?"""', "", source)  # prose, not SQL
        offending += [(path.name, pattern, s) for s in _sql_strings(rest)
                      for pattern in SQLITE_ONLY if re.search(pattern, s, re.I)]
    assert offending == []
    assert {"database.py", "posts.py", "history.py"} <= {p.name for p in package.glob("*.py")}
