"""Flask-Migrate on first use: importing it (alembic, mako) costs every process start ~0.4 s.

`flask db ...` and `flask_migrate.upgrade()` work as with `Migrate(app, db)`; only the import
waits until one of them runs. tests/test_startup_imports.py keeps it that way.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from flask import Flask

from permit_service.cli_lazy import LazyCommand


class LazyMigrate:
    """app.extensions["migrate"] until first used, then Flask-Migrate's own entry takes over."""

    def __init__(self, app: Flask, db: Any, directory: str) -> None:
        self._app, self._db, self._directory = app, db, directory
        self._real: Any = None

    def load(self) -> Any:
        """Import Flask-Migrate and bind it to the app (once); return its extension entry."""
        if self._real is None:
            # alembic >= 1.18 logs "setup plugin ..." at INFO on every start: noise to an operator.
            logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
            from flask_migrate import Migrate

            Migrate(self._app, self._db, directory=self._directory)  # also registers `flask db`
            self._real = self._app.extensions["migrate"]
        return self._real

    def __getattr__(self, name: str) -> Any:
        """Flask-Migrate's functions read .migrate, .db, .configure_args: load on first read."""
        return getattr(self.load(), name)


def _db_group(migrate: LazyMigrate) -> click.Command:
    """Flask-Migrate bound to the app, then its real `db` group."""
    migrate.load()
    from flask_migrate.cli import db as db_group

    return db_group


def init_lazy_migrate(app: Flask, db: Any, directory: str) -> None:
    """Register `flask db` and app.extensions["migrate"] without importing Flask-Migrate."""
    migrate = LazyMigrate(app, db, directory)
    app.extensions["migrate"] = migrate
    help_text = "Perform database migrations (Flask-Migrate)."
    app.cli.add_command(LazyCommand("db", help_text, lambda: _db_group(migrate)), "db")
