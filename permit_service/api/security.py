"""Who may call the admin endpoints. The ONE place API authorisation is decided.

Admin endpoints take `Authorization: Bearer <token>` only, never the web session cookie: the JSON
API is CSRF-exempt, so accepting cookies here would let any web page act for a logged-in admin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any, NoReturn, TypeVar

from flask import g, request
from flask_smorest import abort

from permit_service import domain_users
from permit_service.services.tokens import TokenHolder, token_holder

F = TypeVar("F", bound=Callable[..., Any])

BEARER_SECURITY = [{"bearerAuth": []}]
REALM = 'Bearer realm="permit_service"'
# secrets.token_urlsafe output; anything else cannot be one of ours, so no database round trip.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def _unauthorized(message: str, invalid: bool) -> NoReturn:
    """401 with the challenge RFC 6750 asks for (error code only when a token was sent)."""
    challenge = f'{REALM}, error="invalid_token"' if invalid else REALM
    abort(401, message=message, headers={"WWW-Authenticate": challenge})


def _bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header, None when there is no such header."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        _unauthorized("Send the token as 'Authorization: Bearer <token>'.", invalid=True)
    return token.strip()


# Who may call what (SPEC.md section 4, Roles): staff reads, admin writes, enforcement.
STAFF = frozenset({"admin", "viewer"})
ENFORCEMENT = frozenset({"admin", "enforcer"})
ENFORCER_ONLY = "Enforcement accounts may call the /enforcement endpoints only."


def authenticate_request(
    write: bool, roles: frozenset[str] = STAFF, *, personal_data: bool = True
) -> None:
    """Check the request's bearer token and role; abort 401/403, or remember the user in `g`.

    `personal_data`: the endpoint answers with residents' data, which only the roles of
    domain_users.PERSONAL_DATA_ROLES may read (the enforcement endpoints answer with none)."""
    token = _bearer_token()
    if token is None:
        _unauthorized("Authentication required: send 'Authorization: Bearer <token>'.", False)
    user = token_holder(token) if _TOKEN_SHAPE.fullmatch(token) else None
    if user is None:
        _unauthorized("The token is invalid, expired or revoked.", invalid=True)
    if user.role not in roles:
        abort(
            403,
            message=ENFORCER_ONLY
            if user.is_enforcer
            else "This endpoint needs an enforcer or admin account.",
        )
    if write and not user.is_admin:
        abort(403, message="This action needs the admin role; viewers may only read.")
    if personal_data and user.role not in domain_users.PERSONAL_DATA_ROLES:
        abort(403, message="This role may not read residents' data.")
    g.api_user_id = user.user_id
    g.api_user_email = user.email
    g.api_user_role = user.role


def documented(
    wrapper: Callable[..., Any], view: F, refusal: str, security: list[dict[str, Any]] | None
) -> F:
    """`wrapper` with the OpenAPI doc of `view` plus its refusals: 403 `refusal` (a response of
    api/openapi.py), and with `security` set the scheme and 401 BEARER_REQUIRED. flask-smorest
    reads `_apidoc`; deepcopy so the wrapped view's own doc stays as it was."""
    apidoc = deepcopy(getattr(view, "_apidoc", {}))
    responses = apidoc.setdefault("response", {}).setdefault("responses", {})
    if security is not None:
        responses.setdefault(401, []).append("BEARER_REQUIRED")
        apidoc.setdefault("manual_doc", {}).setdefault("security", security)
    responses.setdefault(403, []).append(refusal)
    wrapper._apidoc = apidoc  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def admin_required(write: bool = False) -> Callable[[F], F]:
    """Require an admin token (write=True) or any staff token (write=False: admins and viewers)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate_request(write)
            return view(*args, **kwargs)

        # 403: viewers' writes; enforcers.
        return documented(wrapper, view, "ADMIN_REQUIRED", BEARER_SECURITY)

    return decorator


def enforcer_required() -> Callable[[F], F]:
    """Require an enforcer's or an admin's token (the enforcement endpoints)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate_request(False, ENFORCEMENT, personal_data=False)
            return view(*args, **kwargs)

        return documented(wrapper, view, "ENFORCER_REQUIRED", BEARER_SECURITY)

    return decorator


def refuse_enforcer_token() -> Callable[[F], F]:
    """Open to anyone (no token needed), but not with an enforcer's token: 403, no answer.

    An enforcement account reads nothing but the enforcement endpoints, so a request that
    presents one to an endpoint answering with a resident's data is refused rather than served.
    Any other header (none, an admin's or viewer's token, a bad token) is served as before.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = _optional_holder()
            if user is not None and user.is_enforcer:
                abort(403, message=ENFORCER_ONLY)
            return view(*args, **kwargs)

        return documented(wrapper, view, "ENFORCER_TOKEN", None)

    return decorator


def admin_if_token() -> Callable[[F], F]:
    """Open to anyone holding the permit's id; a request WITH a bearer token acts as its admin.

    No Authorization header: the caller is the resident (actor `applicant`, current_actor_or
    returns the default). A header: it must be an admin's valid token (401/403 otherwise).
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.headers.get("Authorization") is not None:
                authenticate_request(write=True)
            return view(*args, **kwargs)

        # Either no token at all, or an admin's.
        return documented(wrapper, view, "ADMIN_REQUIRED", [{}, *BEARER_SECURITY])

    return decorator


def staff_reader_id() -> int | None:
    """The staff user reading with a valid bearer token, else None (the resident, anonymous).

    Only a request that carries an Authorization header costs a query; a bad or unknown token
    reads as anonymous (the endpoint is open to anyone holding the id).
    """
    user = _optional_holder()
    return (
        user.user_id if user is not None and user.role in domain_users.PERSONAL_DATA_ROLES else None
    )


def _optional_holder() -> TokenHolder | None:
    """The holder of the request's bearer token on an endpoint open to anyone: None without a
    well-formed one, or for a bad one. Looked up once per request (`g`)."""
    if "optional_token_holder" in g:
        return g.optional_token_holder  # type: ignore[no-any-return]
    user = None
    header = request.headers.get("Authorization")
    if header:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and _TOKEN_SHAPE.fullmatch(token):
            user = token_holder(token)
    g.optional_token_holder = user
    return user


def current_actor_or(default: str) -> str:
    """The authenticated admin's e-mail, or `default` when the request carried no token."""
    email = g.get("api_user_email")
    return str(email) if email is not None else default


def current_actor() -> str:
    """The e-mail of the authenticated admin, recorded in permit events."""
    email = g.get("api_user_email")
    if email is None:  # a view forgot @admin_required: fail loudly rather than record nobody
        raise RuntimeError("current_actor() called outside an authenticated API request")
    return str(email)
