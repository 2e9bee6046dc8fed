"""The published contract's shared parts: the error schema, named error answers, headers.

Views refer to the named responses (`@blp.alt_response(429, response="RATE_LIMITED")`) and the
header dictionaries below, so each refusal is described once, with the error schema, the same way
on every operation. tests/api/test_openapi_contract.py walks /openapi.json to hold this.
"""

from __future__ import annotations

from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask
from flask_smorest.utils import prepare_response

from permit_service.api.json_body import MAX_DEPTH, MAX_NUMBER_CHARS


class ErrorSchema(ma.Schema):
    """Every error answer: `{code, status, message?, errors?}` (flask-smorest's shape)."""

    code = ma.fields.Integer(
        required=True, metadata={"description": "The HTTP status code.", "example": 404}
    )
    status = ma.fields.String(
        required=True, metadata={"description": "The HTTP reason phrase.", "example": "Not Found"}
    )
    message = ma.fields.String(
        metadata={"description": "What went wrong, for people.", "example": "No such permit."}
    )
    errors = ma.fields.Dict(
        metadata={
            "description": "Field errors by location (`json`, `query`) and field name.",
            "example": {"json": {"license_plate": ["That licence plate is not valid."]}},
        }
    )


def _header(description: str, type_: str = "integer", **schema: Any) -> dict[str, Any]:
    return {"description": description, "schema": {"type": type_, **schema}}


RATE_LIMIT_HEADERS: dict[str, dict[str, Any]] = {
    "X-RateLimit-Limit": _header("Requests allowed per window for this client address."),
    "X-RateLimit-Remaining": _header("Requests left in the current window.", minimum=0),
    "X-RateLimit-Reset": _header("When the window ends, in seconds since the Unix epoch."),
}
RETRY_AFTER_HEADER: dict[str, dict[str, Any]] = {
    "Retry-After": _header("Seconds to wait before trying again.", minimum=0),
}
LOCATION_HEADER: dict[str, dict[str, Any]] = {
    "Location": _header(
        "Where the new permit can be read (`/permits/{id}`).", "string", format="uri-reference"
    ),
}
WWW_AUTHENTICATE_HEADER: dict[str, dict[str, Any]] = {
    "WWW-Authenticate": _header('The challenge: `Bearer realm="permit_service"`.', "string"),
}

# name -> (status, description, headers): the refusals shared by several operations.
ERROR_RESPONSES: dict[str, tuple[int, str, dict[str, Any]]] = {
    "INVALID_JSON": (
        400,
        "The body is not JSON the API accepts: malformed, not UTF-8, nested more than "
        f"{MAX_DEPTH} levels, a number longer than {MAX_NUMBER_CHARS} characters, NaN or "
        "Infinity, or a string with a lone surrogate (such as \\ud800).",
        {},
    ),
    "BEARER_REQUIRED": (
        401,
        "No token, or one that is invalid, expired or revoked. Send `Authorization: Bearer "
        "<token>` (from `POST /auth/token`).",
        WWW_AUTHENTICATE_HEADER,
    ),
    "ADMIN_REQUIRED": (
        403,
        "The token's account may not do this (viewers only read; enforcers only call the "
        "/enforcement endpoints).",
        {},
    ),
    "ENFORCER_REQUIRED": (403, "The token's account is not an enforcer's or an admin's.", {}),
    "ENFORCER_TOKEN": (
        403,
        "An enforcer's token was sent: enforcement accounts read nothing but the /enforcement "
        "endpoints. (No token is needed here.)",
        {},
    ),
    "EXPORTER_REQUIRED": (403, "The token's account may not export (admins and viewers may).", {}),
    "PERMIT_NOT_FOUND": (404, "No permit with that id (or the id is not one).", {}),
    "BODY_TOO_LARGE": (413, "The body is larger than the service accepts (16 KiB).", {}),
    "NOT_JSON": (415, "A body was sent without `Content-Type: application/json`.", {}),
    "RATE_LIMITED": (
        429,
        "Too many requests from this client address; try again after `Retry-After` seconds.",
        RETRY_AFTER_HEADER | RATE_LIMIT_HEADERS,
    ),
}


class Api(flask_smorest.Api):
    """flask-smorest's Api with the service's error schema and named error answers."""

    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        """Set up the document, then register the shared error answers (once per app)."""
        super().init_app(app, spec_kwargs=spec_kwargs)
        for name, (_status, description, headers) in ERROR_RESPONSES.items():
            response: dict[str, Any] = {"description": description, "schema": self.ERROR_SCHEMA}
            if headers:
                response["headers"] = headers
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(name, response, lazy=True)
