"""A real SMTP server for the tests: aiosmtpd on loopback, keeping every message it accepts.

`SmtpServer.stop()` and `start()` take it down and bring it back on the same port (the mail
server's outage in the fault tests). Messages are parsed with the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class _Keep:
    """aiosmtpd handler: keep each message's raw bytes."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        if self.server.delay:  # a slow server: the sender waits for the answer this long
            await asyncio.sleep(self.server.delay)
        with self.server.lock:  # accepted: the 250 below is the server's word
            self.server.raw.append(bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1:`port` (0: a free one, kept across stop/start). `delay`: seconds
    it takes to accept each message (the time a sender can be killed in mid-send)."""

    def __init__(self, port: int = 0, delay: float = 0) -> None:
        self.port = port or _free_port()
        self.delay = delay
        self.raw: list[bytes] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        """Listen (again) on the same port."""
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until start()."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed, in arrival order."""
        with self.lock:
            raw = list(self.raw)
        return [email.message_from_bytes(r, policy=email.policy.default) for r in raw]  # type: ignore[misc]

    def message_ids(self) -> Counter[str]:
        """How often each Message-ID arrived."""
        return Counter(str(m["Message-ID"]) for m in self.messages)

    def wait_for(self, count: int, timeout: float) -> list[EmailMessage]:
        """Wait until at least `count` messages arrived; return them (fail on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.raw) >= count:
                return self.messages
            time.sleep(0.1)
        raise AssertionError(f"{len(self.raw)} of {count} messages arrived in {timeout:.0f}s")

    def config(self) -> dict[str, Any]:
        """App settings that send to this server (no TLS, no login)."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_TIMEOUT": 5}

    def env(self) -> dict[str, str]:
        """The same settings as environment variables, for worker processes."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(self.port), "MAIL_TIMEOUT": "5"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """A running SmtpServer, stopped afterwards."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "no text/plain part"
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    """The HTML part of a message."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "no text/html part"
    return part.get_content()
