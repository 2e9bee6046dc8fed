"""Commands whose real click group is imported only when they run (start-up cost, issue 10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


class LazyCommand(click.Command):
    """`flask NAME`, listed with its help; `load()` gives the real group when it runs."""

    def __init__(self, name: str, help: str, load: Callable[[], click.Command]) -> None:  # noqa: A002 - click's name
        super().__init__(name, help=help)
        self._load = load

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Hand the arguments to the real group."""
        return self._load().make_context(info_name, args, parent=parent, **extra)
