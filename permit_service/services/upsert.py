"""INSERT ... ON CONFLICT for the session's own database (PostgreSQL or SQLite)."""

from __future__ import annotations

from typing import Any


def dialect_insert(session: Any, table: Any) -> Any:
    """The dialect's INSERT of `table` (it has on_conflict_do_update / _do_nothing); `session`
    is a session or the dialect's name.

    Only the engine's own dialect module is imported, when first used: importing both at the
    top cost every process start the other one (~35 ms for PostgreSQL's on SQLite).
    """
    name = session if isinstance(session, str) else session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
