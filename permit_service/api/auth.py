"""`POST /auth/token`: exchange an e-mail and password for an API bearer token."""

from __future__ import annotations

import logging
from typing import Any

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from permit_service.api.blueprint import Blueprint
from permit_service.api.openapi import RATE_LIMIT_HEADERS
from permit_service.extensions import limiter, login_limit
from permit_service.services.tokens import issue_token
from permit_service.services.users import authenticate

log = logging.getLogger(__name__)

blp = Blueprint("auth", __name__, url_prefix="/auth", description="API tokens")


class TokenRequestSchema(Schema):
    """Credentials of a staff account (admin, viewer or enforcer)."""

    email = fields.String(
        required=True, validate=validate.Length(min=1, max=254), metadata={"format": "email"}
    )
    password = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1024),  # scrypt of megabytes is a cheap DoS
        metadata={"format": "password"},
    )


class TokenSchema(Schema):
    """A bearer token for `Authorization: Bearer <access_token>`."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"enum": ["bearer"]})
    expires_at = fields.AwareDateTime(format="iso", required=True)


@blp.route("/token")
class Token(MethodView):
    @limiter.limit(login_limit)
    @blp.arguments(
        TokenRequestSchema,
        example={"email": "admin@city.example", "password": "correct-horse-battery-9"},
    )
    @blp.response(200, TokenSchema, headers=RATE_LIMIT_HEADERS)
    @blp.alt_response(
        401,
        schema="Error",
        description="Wrong e-mail or password (the same answer whether the account exists).",
        headers=RATE_LIMIT_HEADERS,
    )
    @blp.alt_response(429, response="RATE_LIMITED")
    @blp.doc(operationId="createToken")
    def post(self, credentials: dict[str, Any]) -> Any:
        """Get an API token for a staff account (admin, viewer or enforcer).

        Send it on admin calls as `Authorization: Bearer <access_token>`. It stays valid until
        `expires_at` unless revoked (`flask users revoke-tokens EMAIL`). Attempts are rate
        limited per client address (429 with `Retry-After`).
        """
        user = authenticate(credentials["email"], credentials["password"])
        if user is None:
            # The same answer whether or not the e-mail exists; the e-mail is never logged.
            log.warning("token request refused: bad credentials")
            abort(401, message="Wrong e-mail or password.")
        issued = issue_token(user)
        return {
            "access_token": issued.token,
            "token_type": "bearer",
            "expires_at": issued.expires_at,
        }
