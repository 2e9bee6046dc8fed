"""Read caching (issue 17): values tagged with generations, bumped after each commit changing them.

Flask-Caching holds the values: Redis when CACHE_URL is set (shared by every worker and host),
a per-process SimpleCache otherwise. What makes an answer never stale is the GENERATIONS:

- Every cached value depends on a few generation counters: the global `epoch`, `all` (every
  permit), and its own (`p:<permit id>`, `pl:<plate key>`, `z` for the zones). A value is stored
  with the generations read BEFORE its database read, and served only while they are still
  current. Reading a hit is one round trip (one MGET of the generations and the value).
- The service layer marks what a transaction changes (`touch`, in the session's `info`); after
  the commit the session hook bumps those counters (`_after_commit`), before the changing
  request answers. A reader that loaded the old state before the commit stored it under the
  old generation: it is never served (the classic delete-then-stale-set race cannot happen).
  A rollback forgets the marks. Sweep batches mark the ids and plates their statements return;
  a batch of more than BULK_LIMIT bumps `all` instead (one INCR for any number of permits).
- Nothing cached depends on the clock: a permit's stored row (its effective status is decided
  per request), a plate's permits (the check decides validity per request), the zones with the
  moment their count of valid permits next changes by time (`fresh_until`: a value is a miss
  from then on).

Without CACHE_URL the generations live in a shared memory-mapped file under the instance folder
(instance/cache-generations), so every process on the host (gunicorn workers, the Celery worker's
sweep, `flask` commands) invalidates every other's per-process values; the values themselves
stay per process. Several hosts need CACHE_URL.

Redis trouble never fails a request: short socket timeouts, no retries, and after a failure a
circuit breaker skips Redis for BREAKER_SECONDS (answers come from the database meanwhile).
A process whose invalidation could not reach Redis owes an epoch: before it uses Redis again it
replaces the epoch with a new random token, which retires every value stored before (so values
that missed the invalidation are never served once that process is back). The guarantee: no
stale answer while Redis is reachable by every process, or by none; while Redis is reachable
by some processes and not others (a partial network failure) a value whose invalidation failed
can be served by the others until the failing process reaches Redis again (the breaker's few
seconds when Redis itself is fine) and at most CACHE_TIMEOUT seconds. A restarted Redis comes
back empty (run it without persistence, as docker-compose.yml does) or is noticed by every
process's broken connection, which owes an epoch like a failed invalidation.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import mmap
import os
import pickle
import secrets
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any

from flask import Flask, current_app, has_app_context
from flask_caching import Cache
from sqlalchemy import event
from sqlalchemy.orm import Session

from permit_service import metrics
from permit_service.pid import current as current_pid

log = logging.getLogger(__name__)

cache = Cache()

TOUCH_KEY = "cache_touched"
EPOCH = "epoch"
ALL = "all"
ZONES = "z"
# Every API token's holder (services.tokens): bumped by revocations and deactivations.
TOKENS = "tk"
# Every staff web session (services.sessions): bumped when a user's sessions end or a user
# changes; each session has its own too (`ss:<digest>`), bumped when it ends or is touched.
STAFF_SESSIONS = "ss"
# More permits than this in one commit: bump `all` instead of each one's counters.
BULK_LIMIT = 500
# After a Redis failure, answers skip Redis this long.
BREAKER_SECONDS = 5.0
# Seconds a Redis command may take (connect or answer) before the cache is skipped.
SOCKET_TIMEOUT = 0.25


def permit_gen(permit_id: str) -> str:
    return f"p:{permit_id}"


def plate_gen(plate_key: str) -> str:
    return f"pl:{plate_key}"


# --- marking what a transaction changes -----------------------------------------------------------


def touch(
    session: Session,
    permits: Iterable[str] = (),
    plates: Iterable[str | None] = (),
    zones: bool = False,
    everything: bool = False,
    tokens: bool = False,
    others: Iterable[str] = (),
) -> None:
    """Mark, in the session's transaction, what it changes: bumped after its commit.
    `others`: further generations by name (e.g. a staff session's own)."""
    marks = session.info.setdefault(TOUCH_KEY, {"gens": set(), "all": False})
    gens = marks["gens"]
    gens.update(permit_gen(p) for p in permits)
    gens.update(plate_gen(k) for k in plates if k)
    if zones:
        gens.add(ZONES)
    if tokens:
        gens.add(TOKENS)
    gens.update(others)
    if everything:
        marks["all"] = True
        gens.add(ZONES)


def _after_commit(session: Session) -> None:
    marks = session.info.pop(TOUCH_KEY, None)
    if not marks or not has_app_context():
        return
    store = current_app.extensions.get("permit_cache")
    if store is not None:
        store.bump(marks["gens"], marks["all"])


def _after_rollback(session: Session, _previous: Any) -> None:
    if not session.in_nested_transaction():
        session.info.pop(TOUCH_KEY, None)


# --- the stores -----------------------------------------------------------------------------------


class _Breaker:
    """Redis is skipped for BREAKER_SECONDS after a failure; the epoch is renewed on return."""

    def __init__(self) -> None:
        self.open_until = 0.0
        self.owe_epoch = False

    def closed(self) -> bool:
        return time.monotonic() >= self.open_until

    def trip(self, exc: BaseException, owe_epoch: bool = True) -> None:
        self.open_until = time.monotonic() + BREAKER_SECONDS
        self.owe_epoch = self.owe_epoch or owe_epoch
        log.warning(
            "cache unavailable; answering from the database",
            extra={"error": type(exc).__name__},
        )


class RedisStore:
    """Generations and values in Redis, through Flask-Caching's RedisCache client."""

    def __init__(self, backend: Any, timeout: int) -> None:
        self.backend = backend
        self.client = backend._write_client
        self.prefix = backend.key_prefix if isinstance(backend.key_prefix, str) else ""
        self.timeout = timeout
        self.breaker = _Breaker()
        self._dumps = backend.serializer.dumps
        self._loads = backend.serializer.loads

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _ready(self) -> bool:
        if not self.breaker.closed():
            return False
        if self.breaker.owe_epoch:
            try:
                self.client.set(self._k(EPOCH), secrets.token_hex(8))
            except Exception as exc:  # noqa: BLE001 - Redis trouble is never the caller's
                self.breaker.trip(exc)
                return False
            self.breaker.owe_epoch = False
        return True

    def fetch(self, gens: list[str], key: str) -> tuple[tuple[Any, ...], Any] | None:
        """(generations, stored value or None), or None when Redis is not to be used."""
        if not self._ready():
            return None
        keys = [self._k(EPOCH), *(self._k(g) for g in gens), self._k(key)]
        try:
            raw = self.client.mget(keys)
            if raw[0] is None:  # a fresh (or emptied) Redis: a new epoch, first writer wins
                self.client.set(keys[0], secrets.token_hex(8), nx=True)
                raw[0] = self.client.get(keys[0])
        except Exception as exc:  # noqa: BLE001
            self.breaker.trip(exc)
            return None
        tag = tuple(raw[:-1])
        stored = self._loads(raw[-1]) if raw[-1] is not None else None
        return tag, stored

    def store(self, key: str, value: Any) -> None:
        if not self.breaker.closed():
            return
        try:
            self.client.set(self._k(key), self._dumps(value), ex=self.timeout)
        except Exception as exc:  # noqa: BLE001
            self.breaker.trip(exc, owe_epoch=False)

    def bump(self, gens: Iterable[str], everything: bool) -> None:
        gens = set(gens)
        if everything or len(gens) > BULK_LIMIT:
            gens = {g for g in gens if not g.startswith(("p:", "pl:"))} | {ALL}
        if not gens:
            return
        if not self._ready():
            # Not reached: every value may be stale once Redis is back; retire them all then.
            self.breaker.owe_epoch = True
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for g in sorted(gens):
                pipe.incr(self._k(g))
            pipe.execute()
        except Exception as exc:  # noqa: BLE001
            self.breaker.trip(exc)


# Values that cannot change once made: a per-process cache may hand out the stored object itself.
_IMMUTABLE = (
    str,
    int,
    float,
    type(None),
    datetime,
    date,
    clock_time,
    timedelta,
    Decimal,
    uuid.UUID,
)


def _immutable(value: Any) -> bool:
    """Whether `value` is a tuple holding only immutable values (tuples of them, at any depth)."""
    return type(value) is tuple and all(
        _immutable(item) if type(item) is tuple else isinstance(item, _IMMUTABLE) for item in value
    )


class _KeepImmutable:
    """SimpleCache's serializer, except that a tuple of immutable values is kept as it is: a
    token's holder or a plate's permits come back without unpickling (two of a check's few
    dozen microseconds each, issue 17). Anything else is pickled as before, so a caller can
    never change a cached value through what it was given."""

    def dumps(self, value: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> Any:
        return value if _immutable(value) else pickle.dumps(value, protocol)

    def loads(self, stored: Any) -> Any:
        return stored if type(stored) is tuple else pickle.loads(stored)  # noqa: S301 - ours


class LocalStore:
    """Values per process (SimpleCache); generations in a file every local process maps."""

    SLOTS = 1 << 14  # 128 KB; keys share a slot now and then (a needless miss, never stale)

    def __init__(self, backend: Any, path: str) -> None:
        backend.serializer = _KeepImmutable()
        self.backend = backend
        self.path = path
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._map: mmap.mmap | None = None

    def _mapped(self) -> mmap.mmap:
        if self._pid != current_pid() or self._map is None:
            with self._lock:
                if self._pid != current_pid() or self._map is None:
                    size = self.SLOTS * 8
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                    try:
                        if os.fstat(fd).st_size < size:
                            fcntl.flock(fd, fcntl.LOCK_EX)
                            try:
                                if os.fstat(fd).st_size < size:
                                    os.ftruncate(fd, size)
                            finally:
                                # Explicitly: the mapping below keeps the open file (and
                                # a lock on it) alive after the descriptor is closed.
                                fcntl.flock(fd, fcntl.LOCK_UN)
                        self._map = mmap.mmap(fd, size)  # the mapping outlives the descriptor
                    finally:
                        os.close(fd)
                    self._pid = current_pid()
        return self._map

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _slot(gen: str) -> int:
        return (zlib.crc32(gen.encode()) % LocalStore.SLOTS) * 8

    def fetch(self, gens: list[str], key: str) -> tuple[tuple[Any, ...], Any] | None:
        m = self._mapped()
        tag = tuple(struct.unpack_from("<Q", m, self._slot(g))[0] for g in gens)
        return tag, self.backend.get(key)

    def store(self, key: str, value: Any) -> None:
        self.backend.set(key, value)

    def bump(self, gens: Iterable[str], everything: bool) -> None:
        gens = set(gens)
        if everything or len(gens) > BULK_LIMIT:
            gens = {g for g in gens if not g.startswith(("p:", "pl:"))} | {ALL}
        m = self._mapped()
        slots = sorted({self._slot(g) for g in gens})
        # Read-modify-write under an exclusive lock of the file: no bump of another process
        # (or thread) is lost, so a counter never repeats a value a reader tagged a value with.
        with self._lock:
            fd = os.open(self.path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                for slot in slots:
                    (n,) = struct.unpack_from("<Q", m, slot)
                    struct.pack_into("<Q", m, slot, n + 1)
            finally:
                os.close(fd)


# --- reading through the cache --------------------------------------------------------------------


def cached(
    name: str,
    key: str,
    gens: list[str],
    loader: Callable[[], Any],
    fresh: Callable[[Any], bool] | None = None,
) -> Any:
    """`loader()`'s value, from the cache while `gens` are unchanged (and `fresh(value)` holds).

    `loader` reads the database and returns plain, picklable data that does not depend on the
    clock (or says until when it holds, for `fresh`). Its exceptions pass through, uncached.
    """
    store = current_app.extensions.get("permit_cache")
    if store is None:
        return loader()
    found = store.fetch([ALL, *gens], key)
    if found is None:
        metrics.cache_event(name, "error")
        return loader()
    tag, stored = found
    if stored is not None and stored[0] == tag and (fresh is None or fresh(stored[1])):
        metrics.cache_event(name, "hit")
        return stored[1]
    metrics.cache_event(name, "miss")
    _fresh_snapshot()
    value = loader()
    store.store(key, (tag, value))
    return value


def _fresh_snapshot() -> None:
    """SQLite keeps one snapshot per transaction: one begun before the generations were read
    (a token lookup) could load a state older than they say. End it; PostgreSQL reads each
    statement at its own moment (READ COMMITTED)."""
    from permit_service.extensions import db

    session = db.session()
    if session.in_transaction() and session.get_bind().dialect.name == "sqlite":
        session.rollback()


def init_cache(app: Flask) -> None:
    """Bind Flask-Caching and the generation store to the app; install the commit hooks."""
    url = app.config.get("CACHE_URL")
    timeout = int(app.config.get("CACHE_TIMEOUT", 300))
    if url:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        config = {
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": url,
            "CACHE_KEY_PREFIX": app.config.get("CACHE_KEY_PREFIX") or "permit_service:cache:",
            "CACHE_DEFAULT_TIMEOUT": timeout,
            "CACHE_OPTIONS": {
                "socket_timeout": SOCKET_TIMEOUT,
                "socket_connect_timeout": SOCKET_TIMEOUT,
                "retry": Retry(NoBackoff(), 0),
                "health_check_interval": 0,
            },
        }
        cache.init_app(app, config=config)
        store: Any = RedisStore(app.extensions["cache"][cache], timeout)
    else:
        config = {
            "CACHE_TYPE": "SimpleCache",
            "CACHE_DEFAULT_TIMEOUT": timeout,
            "CACHE_THRESHOLD": int(app.config.get("CACHE_THRESHOLD", 10_000)),
        }
        cache.init_app(app, config=config)
        path = os.path.join(app.instance_path, "cache-generations")
        store = LocalStore(app.extensions["cache"][cache], path)
    app.extensions["permit_cache"] = store
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
