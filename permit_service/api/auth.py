"""`POST /auth/token`: exchange an e-mail and password for an API bearer token."""

from __future__ import annotations

import logging
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from permit_service.extensions import limiter, login_limit
from permit_service.services.tokens import issue_token
from permit_service.services.users import authenticate

log = logging.getLogger(__name__)

blp = Blueprint("auth", __name__, url_prefix="/auth", description="API tokens")


class TokenRequestSchema(Schema):
    """Credentials of an admin or viewer account."""

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

    access_token = fields.String()
    token_type = fields.String(metadata={"example": "bearer"})
    expires_at = fields.AwareDateTime(format="iso")


@blp.route("/token")
class Token(MethodView):
    @limiter.limit(login_limit)
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, credentials: dict[str, Any]) -> Any:
        """Get an API token for an admin or viewer account.

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
