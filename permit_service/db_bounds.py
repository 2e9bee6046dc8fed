"""Bounded waits on the database: a slow or frozen database never hangs a request.

PostgreSQL (psycopg 3): every session starts with connect_timeout, statement_timeout, lock_timeout
and client_connection_check_interval (the server notices a client that died mid-statement), plus TCP
keepalives. A frozen server (SIGSTOP, a storage stall, a black-holed network) answers nothing, not
even its own statement_timeout, and on a live host the kernel still acknowledges TCP traffic, so
keepalives never fire: the client must bound its own wait. BoundedConnection gives every wait for
the server psycopg's wait timeout and closes a connection whose server fell silent; SQLAlchemy then
sees a disconnect and drops the pool. SQLite: busy_timeout bounds the wait for the write lock.

Web requests get these bounds by default; a sweep, a migration or a bulk command widens them for
its own transactions with `background(seconds)`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

# Past statement_timeout the live server answers first (a clean QueryCanceled); the client gives up
# this much later, for a server that answers nothing at all.
GRACE_SECONDS = 1.0
# How often a busy backend checks that its client is still there (PostgreSQL 14+).
CLIENT_CHECK_INTERVAL_MS = 2000
# Dead peers on a real network: probe an idle connection after 10 s, give up after 3 silent probes;
# unacknowledged data for 10 s drops the connection.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
# SQLite has no server to time out: "no bound" means waiting this long for the write lock.
SQLITE_LONG_WAIT_MS = 30_000
# SQLite's own default: a commit checkpoints once the WAL holds this many pages.
SQLITE_AUTOCHECKPOINT = 1000

# The longest one wait for the server may take here (None: the connection's own bound).
_wait_bound: ContextVar[float | None] = ContextVar("db_wait_bound", default=None)
# Statement timeout (seconds, 0 = none) of transactions begun inside background(); None: web's.
_background: ContextVar[float | None] = ContextVar("db_background", default=None)


@functools.cache
def bounded_connection_class() -> type[Any]:
    """psycopg's Connection with a bounded wait, made on first use: SQLite never imports psycopg.

    psycopg costs ~0.1 s to import: every `flask` command and process start on SQLite would pay it.
    """
    import psycopg
    from psycopg.errors import _WaitTimeout  # psycopg >= 3.3: raised by Connection.wait(timeout=)

    class BoundedConnection(psycopg.Connection[Any]):
        """A psycopg connection whose every wait for the server ends after `wait_bound` seconds."""

        wait_bound: float | None = None

        def wait(
            self, gen: Any, interval: float | None = None, timeout: float | None = None
        ) -> Any:
            """Wait for the server as psycopg does, but never longer than the bound in force."""
            imposed = None
            if timeout is None:
                bound = _wait_bound.get()
                bound = self.wait_bound if bound is None else bound
                if bound is not None and bound != math.inf:
                    timeout = imposed = bound
            kwargs: dict[str, Any] = {} if interval is None else {"interval": interval}
            try:
                return super().wait(gen, timeout=timeout, **kwargs)
            except _WaitTimeout as exc:
                if imposed is None:
                    raise
                # The server said nothing: the session's state is unknown, so it cannot be reused.
                self.close()
                raise psycopg.OperationalError(
                    f"the database did not answer within {imposed:g} seconds"
                ) from exc

    return BoundedConnection


def connect_params(config: Mapping[str, Any], cparams: Mapping[str, Any]) -> dict[str, Any]:
    """psycopg connect arguments with the configured timeouts (web bounds) and keepalives."""
    params = {**KEEPALIVES, **cparams}
    params.setdefault("connect_timeout", config["DATABASE_CONNECT_TIMEOUT"])
    settings = (
        f"-c statement_timeout={int(config['DATABASE_STATEMENT_TIMEOUT'] * 1000)} "
        f"-c lock_timeout={int(config['DATABASE_LOCK_TIMEOUT'] * 1000)} "
        f"-c client_connection_check_interval={CLIENT_CHECK_INTERVAL_MS}"
    )
    params["options"] = f"{params['options']} {settings}" if params.get("options") else settings
    return params


def install(engine: sa.Engine, config: Mapping[str, Any]) -> None:
    """Apply the configured bounds to every connection `engine` makes and every transaction."""
    name = engine.dialect.name
    if name == "postgresql" and engine.dialect.driver == "psycopg":
        wait_bound = config["DATABASE_STATEMENT_TIMEOUT"] + GRACE_SECONDS

        @event.listens_for(engine, "do_connect")
        def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            conn = bounded_connection_class().connect(*cargs, **connect_params(config, cparams))
            conn.wait_bound = wait_bound
            return conn

        # A pooled connection's pre-ping is an empty statement: a live server answers at once,
        # so a silent one is given up on after the connect timeout, not the statement bound.
        ping = engine.dialect.do_ping
        ping_bound = float(config["DATABASE_CONNECT_TIMEOUT"])

        def _bounded_ping(dbapi_connection: Any) -> bool:
            token = _wait_bound.set(ping_bound)
            try:
                return ping(dbapi_connection)
            finally:
                _wait_bound.reset(token)

        engine.dialect.do_ping = _bounded_ping  # type: ignore[method-assign]
    elif name != "sqlite":
        return
    web_busy_ms = int(config["DATABASE_LOCK_TIMEOUT"] * 1000)

    @event.listens_for(engine, "begin")
    def _widen(conn: sa.Connection) -> None:
        seconds = _background.get()
        if seconds is None:
            return
        dbapi = conn.connection.dbapi_connection
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            if name == "postgresql":
                ms = str(int(seconds * 1000))
                # Transaction-local: it ends with this transaction, whatever the caller does next.
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('lock_timeout', %s, true)",
                    (ms, ms),
                )
            else:
                cursor.execute(f"PRAGMA busy_timeout={int(seconds * 1000) or SQLITE_LONG_WAIT_MS}")
                conn.connection.info["busy_widened"] = True  # the pool's record of this connection
        finally:
            cursor.close()

    if name == "sqlite":

        @event.listens_for(engine, "checkin")
        def _narrow(dbapi_connection: Any, record: Any) -> None:
            if record.info.pop("busy_widened", False):
                dbapi_connection.execute(f"PRAGMA busy_timeout={web_busy_ms}")
            if record.info.pop("checkpoints_deferred", False):
                dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}")


def defer_sqlite_checkpoints(conn: sa.Connection) -> None:
    """This SQLite connection leaves WAL checkpoints to its user until it is back in the pool.

    SQLite's automatic checkpoint runs in the commit that finds the WAL past 1000 pages. The
    sweep checkpoints between its batches itself instead, while it holds no lock, so it knows
    how long that took (services.sweep); web connections keep the automatic one.
    """
    conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
    conn.connection.info["checkpoints_deferred"] = True


@contextlib.contextmanager
def background(statement_seconds: float) -> Iterator[None]:
    """Longer bounds for the transactions begun inside: sweeps, migrations, bulk commands.

    `statement_seconds` 0 means no statement timeout (migrations, seeding).
    """
    wait = math.inf if not statement_seconds else statement_seconds + GRACE_SECONDS
    wait_token = _wait_bound.set(wait)
    token = _background.set(statement_seconds)
    try:
        yield
    finally:
        _background.reset(token)
        _wait_bound.reset(wait_token)


def probe(engine: sa.Engine, config: Mapping[str, Any], seconds: float) -> None:
    """Open a new connection and run SELECT 1, all within about `seconds`; raise if not."""
    started = time.monotonic()
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    if engine.dialect.name == "postgresql":
        # libpq counts connect_timeout in whole seconds, 2 at least.
        params = connect_params(config, {**cparams, "connect_timeout": max(2, round(seconds))})
        params["autocommit"] = True
        with bounded_connection_class().connect(*cargs, **params) as conn:
            conn.wait_bound = max(0.2, seconds - (time.monotonic() - started))
            conn.execute("SELECT 1")
        return
    dbapi_connection = engine.dialect.connect(*cargs, **{**cparams, "timeout": seconds})
    try:
        dbapi_connection.execute("SELECT 1")
    finally:
        dbapi_connection.close()
