"""Who may call the admin endpoints. The ONE place API authorisation is decided."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# TODO(issue 4): bearer tokens. Until then admin endpoints are open and act as "admin".


def admin_required(write: bool = False) -> Callable[[F], F]:
    """Require an admin token (write=True) or any staff token (write=False: admins and viewers)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def current_actor() -> str:
    """The e-mail of the authenticated admin, recorded in permit events."""
    return "admin"
