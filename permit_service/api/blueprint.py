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
from flask import request
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
            plain = self._plain(argmap, req.args)
            if plain is not None:
                return plain
        return super().parse(argmap, req, location=location, **kw)

    def _plain(self, schema_class: type[ma.Schema], query: Any) -> PaginationParameters | None:
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
        plainly valid query itself, past the decorators below this one (the hottest path, the
        enforcement check, past flask-smorest's response wrapper): it must answer exactly as
        they would."""

        def decorator(view: Any) -> Any:
            parsed = self.arguments(schema, location="query")(view)

            @wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                found = plain(request.args)
                if found is None:
                    return parsed(*args, **kwargs)
                if answer is not None:
                    return answer(found)
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
