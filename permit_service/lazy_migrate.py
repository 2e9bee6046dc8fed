"""Flask-Migrate on first use: importing it (alembic, mako) costs every process start ~0.4 s.

`flask db ...` and `flask_migrate.upgrade()` work as with `Migrate(app, db)`; only the import
waits until one of them runs. tests/test_startup_imports.py keeps it that way.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from flask import Flask


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


class LazyDbCommand(click.Command):
    """`flask db`, listed with its help; Flask-Migrate's group is imported when it runs."""

    def __init__(self, migrate: LazyMigrate) -> None:
        super().__init__("db", help="Perform database migrations (Flask-Migrate).")
        self._migrate = migrate

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Hand the arguments to Flask-Migrate's real `db` group."""
        self._migrate.load()
        from flask_migrate.cli import db as db_group

        return db_group.make_context(info_name, args, parent=parent, **extra)


def init_lazy_migrate(app: Flask, db: Any, directory: str) -> None:
    """Register `flask db` and app.extensions["migrate"] without importing Flask-Migrate."""
    migrate = LazyMigrate(app, db, directory)
    app.extensions["migrate"] = migrate
    app.cli.add_command(LazyDbCommand(migrate), "db")
