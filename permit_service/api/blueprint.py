"""flask-smorest's Blueprint with the API's JSON body limits and documented body errors.

Bodies are decoded by `json_body.loads_body` (a 400 with the reason, never a 500), and every
operation that takes a JSON body documents the 400, 413 and 415 answers it can give.

webargs instantiates a schema on every request when a decorator was given a schema class
(pagination parameters always are), and smorest dumps the X-Pagination metadata through a fresh
schema each time. Schemas are reusable, so each is built once here; the output is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

import flask_smorest
import marshmallow as ma
import orjson
from flask import Response, current_app, request
from flask_smorest.pagination import PaginationParameters
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from permit_service.api.json_body import InvalidJSONBody, loads_body
from permit_service.domain import (
    ChangedMeanwhile,
    DomainError,
    InvalidTransition,
    OpenPermitExists,
    PermitNotFound,
    ValidationFailed,
    ZoneCodeTaken,
    ZoneNotFound,
)
from permit_service.json_provider import OrjsonProvider

# Named responses registered by permit_service.api.openapi.Api, documented on every operation
# that reads a JSON body.
BODY_ERROR_RESPONSES = {400: "INVALID_JSON", 413: "BODY_TOO_LARGE", 415: "NOT_JSON"}


# The API's status code of each domain error (first match); anything else is re-raised.
ERROR_STATUS: tuple[tuple[Any, int], ...] = (
    (PermitNotFound | ZoneNotFound, 404),
    (InvalidTransition | OpenPermitExists | ChangedMeanwhile | ZoneCodeTaken, 409),
    (ValidationFailed, 422),
)


def fail(exc: DomainError) -> None:
    """Translate a domain error into the API's JSON error answer (ERROR_STATUS)."""
    for kinds, status in ERROR_STATUS:
        if isinstance(exc, kinds):
            if isinstance(exc, ValidationFailed):
                flask_smorest.abort(status, message=exc.message, errors={"json": exc.errors})
            flask_smorest.abort(status, message=exc.message)
    raise exc


class SchemaCachingParser(FlaskParser):
    """A FlaskParser that builds each schema class it is given once, not once per request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instances: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def load_json(self, req: Any, schema: ma.Schema) -> Any:
        """The JSON body decoded within the API's limits; a bad body is a 400 naming why."""
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            return core.missing  # no body: required schemas answer 422 naming the fields
        try:
            return loads_body(data)
        except InvalidJSONBody as exc:
            abort(400, message="The body is not valid JSON.", messages={"json": [exc.msg]})


# A plain page number: ASCII digits only (int() would also take " 5", "+5" or other scripts'
# digits; those go through the schema, which answers exactly as before).
_PLAIN_NUMBER = re.compile(r"[0-9]{1,9}")


class PaginationParser(SchemaCachingParser):
    """Pagination arguments, read directly when plainly valid (issue 17).

    `page` and `page_size` each at most once, in plain digits and in range: the same
    PaginationParameters smorest's schema loads (other query arguments are the view's). Anything
    else goes through the schema, which answers its 422 as before.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bounds: dict[type[ma.Schema], tuple[int, int, int]] = {}

    def parse(self, argmap: Any, req: Any = None, *, location: str | None = None, **kw: Any) -> Any:
        if location == "query" and isinstance(argmap, type):
            plain = self.plain(argmap, req.args)
            if plain is not None:
                return plain
        return super().parse(argmap, req, location=location, **kw)

    def plain(self, schema_class: type[ma.Schema], query: Any) -> PaginationParameters | None:
        """The PaginationParameters a plainly valid `query` gives, or None (the schema's)."""
        bounds = self._bounds.get(schema_class)
        if bounds is None:
            schema = self._get_schema(schema_class, None)
            page, size = schema.fields["page"], schema.fields["page_size"]
            (most,) = (v.max for v in size.validators if isinstance(v, ma.validate.Range))
            bounds = self._bounds[schema_class] = (page.load_default, size.load_default, most)
        page, page_size, most = bounds
        for key in ("page", "page_size"):
            values = query.getlist(key)
            if not values:
                continue
            if len(values) > 1 or not _PLAIN_NUMBER.fullmatch(values[0]):
                return None
            if key == "page":
                page = int(values[0])
            else:
                page_size = int(values[0])
        if page < 1 or not 1 <= page_size <= most:
            return None
        return PaginationParameters(page, page_size)


# What json_provider.OrjsonProvider.response encodes with, except that datetimes are written by
# orjson itself (RFC 3339: exactly their `isoformat()`) instead of passed to Flask's `default`.
_RFC3339_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def rfc3339_response(values: Any, headers: dict[str, str]) -> Response | None:
    """The app's JSON response (`current_app.json.response`) of `values` with every datetime in
    it written as its `isoformat()`, plus `headers`: the same bytes as the app's response of
    the values with the datetimes turned into `isoformat()` strings first, without the
    150 `isoformat` calls of a 50-permit page (issue 17). None when the app's provider would
    not encode compactly with orjson (then the caller answers the general way)."""
    app = current_app
    provider = app.json
    if type(provider) is not OrjsonProvider:
        return None
    if (provider.compact is None and app.debug) or provider.compact is False:
        return None  # pretty-printed: the provider's own way
    try:
        body = orjson.dumps(values, default=provider.default, option=_RFC3339_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return None  # what orjson cannot write: the provider's stdlib fallback
    response = app.response_class(body + b"\n", mimetype=provider.mimetype)
    response.headers.extend(headers)
    return response  # type: ignore[no-any-return]


def _plain_body(req: Any, plain: Callable[[Any], dict[str, Any] | None]) -> dict[str, Any] | None:
    """`plain` of the request's JSON body, or None when the schema must read it."""
    if not is_json_request(req):
        return None
    data = req.get_data(cache=True)  # as SchemaCachingParser.load_json reads it
    if not data:
        return None
    try:
        body = loads_body(data)
    except InvalidJSONBody:
        return None
    return plain(body)


class Blueprint(flask_smorest.Blueprint):
    """smorest Blueprint with cached argument schemas and a schema-free pagination header."""

    ARGUMENTS_PARSER = SchemaCachingParser()
    PAGINATION_ARGUMENTS_PARSER = PaginationParser()

    def query_arguments(
        self,
        schema: type[ma.Schema],
        plain: Callable[[Any], dict[str, Any] | None],
        answer: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Callable[[Any], Any]:
        """`arguments(schema, location="query")`, documented and answering exactly as it does,
        with a shortcut for hot views: `plain(request.args)` reads a plainly valid query
        without webargs and marshmallow (issue 17); when it returns None (anything not plainly
        valid) the schema reads the query and answers its 422s. `answer`, if given, answers a
        plainly valid query itself, past the decorators below this one (the hottest paths, the
        enforcement check and the listing, past flask-smorest's response and pagination
        wrappers): it must answer exactly as they would, or return None to leave the query to
        them."""

        def decorator(view: Any) -> Any:
            parsed = self.arguments(schema, location="query")(view)

            @wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                found = plain(request.args)
                if found is None:
                    return parsed(*args, **kwargs)
                if answer is not None:
                    answered = answer(found)
                    if answered is not None:
                        return answered
                return view(*args, found, **kwargs)

            wrapper._apidoc = parsed._apidoc  # type: ignore[attr-defined]
            return wrapper

        return decorator

    def body_arguments(
        self,
        schema: type[ma.Schema],
        plain: Callable[[Any], dict[str, Any] | None],
        **kwargs: Any,
    ) -> Callable[[Any], Any]:
        """`arguments(schema)` for a JSON body, documented and answering exactly as it does,
        with a shortcut for hot views: a body that decodes (`json_body.loads_body`, the API's
        one decoder) is given to `plain`, which returns what the schema would load from a
        plainly valid body, read without webargs and marshmallow (issue 17); anything else
        (not JSON, empty, undecodable, or `plain` returns None) goes through the schema, which
        answers its 400s and 422s as before."""

        def decorator(view: Any) -> Any:
            parsed = self.arguments(schema, **kwargs)(view)

            @wraps(view)
            def wrapper(*args: Any, **kw: Any) -> Any:
                found = _plain_body(request, plain)
                if found is None:
                    return parsed(*args, **kw)
                return view(*args, found, **kw)

            wrapper._apidoc = parsed._apidoc  # type: ignore[attr-defined]
            return wrapper

        return decorator

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """smorest's `arguments`; a JSON body also documents its 400, 413 and 415 answers."""
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorator

        def document_body_errors(func: Any) -> Any:
            wrapper = decorator(func)
            responses = wrapper._apidoc["arguments"].setdefault("responses", {})
            responses.update(BODY_ERROR_RESPONSES)
            return wrapper

        return document_body_errors

    @staticmethod
    def _make_pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, int]:
        # The same keys and integers smorest's PaginationMetadataSchema().dump() returns.
        meta = {"total": item_count}
        if item_count == 0:
            meta["total_pages"] = 0
            return meta
        last = (item_count - 1) // page_size + 1
        meta.update(total_pages=last, first_page=1, last_page=last)
        if page <= last:
            meta["page"] = page
            if page > 1:
                meta["previous_page"] = page - 1
            if page < last:
                meta["next_page"] = page + 1
        return meta
