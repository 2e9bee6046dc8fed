"""The embedded broker: kombu's filesystem transport, made to survive a broken folder.

kombu's own transport lets an OSError from its folders escape: a Celery worker treats that as
unrecoverable and exits, and nothing restarts it when the folder is back. Here a folder that is
missing is created again, and one that cannot be used (replaced by a file, unwritable) reads as
"no messages yet" (logged, once a minute at most) until it works again; publishing into it
raises, and Beat logs that and tries again at the next interval. /readyz says what is wrong
(folder_problems).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem

log = logging.getLogger(__name__)

WARN_EVERY = 60.0  # seconds between two warnings about the same broken folder


def folder_problems(folders: Iterable[str]) -> list[str]:
    """What keeps the embedded broker's folders from working, e.g. "broker/out is not a folder".

    Named relative to instance/ (a public probe shows them): missing, not a folder, not writable.
    """
    problems = []
    for folder in sorted(set(map(str, folders))):
        name = os.path.join(os.path.basename(os.path.dirname(folder)), os.path.basename(folder))
        if not os.path.exists(folder):
            problems.append(f"{name} is missing")
        elif not os.path.isdir(folder):
            problems.append(f"{name} is not a folder")
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"{name} is not writable")
    return problems


class Channel(filesystem.Channel):
    """A filesystem channel that recreates its folders and outlives a broken one."""

    _last_warning = 0.0

    def _folders(self) -> list[str]:
        return [
            str(self.data_folder_in),
            str(self.data_folder_out),
            str(self.processed_folder),
            str(self.control_folder),
        ]

    def _repair(self, error: OSError) -> None:
        """Create folders that are missing; warn (rate-limited) about what stays broken."""
        for folder in self._folders():
            if not os.path.lexists(folder):
                with contextlib.suppress(OSError):  # its parent is broken too: reported below
                    os.makedirs(folder, exist_ok=True)
        problems = folder_problems(self._folders())
        now = time.monotonic()
        if problems and now - Channel._last_warning >= WARN_EVERY:
            Channel._last_warning = now
            log.warning(
                "embedded broker folder unusable under %s, waiting for it: %s (%s)",
                os.path.dirname(os.path.dirname(str(self.data_folder_in))),
                "; ".join(problems),
                type(error).__name__,
            )

    def _get(self, queue: str) -> Any:
        """Next message of `queue`; a broken folder reads as empty until it is repaired."""
        try:
            return super()._get(queue)
        except Empty:
            raise
        except (OSError, filesystem.ChannelError) as exc:
            cause = exc if isinstance(exc, OSError) else (exc.__cause__ or OSError(str(exc)))
            self._repair(cause)  # type: ignore[arg-type]
            raise Empty() from exc

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Write a message; a folder deleted meanwhile is created again first."""
        try:
            super()._put(queue, payload, **kwargs)
        except filesystem.ChannelError as exc:
            self._repair(exc.__cause__ or OSError(str(exc)))  # type: ignore[arg-type]
            super()._put(queue, payload, **kwargs)  # raises again if still broken

    def _size(self, queue: str) -> int:
        """Messages waiting in `queue` (0 while the folder is broken)."""
        try:
            return super()._size(queue)
        except OSError as exc:
            self._repair(exc)
            return 0


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the resilient channel above."""

    Channel = Channel


def register() -> None:
    """Make `filesystem://` broker URLs use this transport in this process."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
