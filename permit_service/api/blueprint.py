"""flask-smorest's Blueprint without its per-request schema construction (profiled in bench/).

webargs instantiates a schema on every request when a decorator was given a schema class
(pagination parameters always are), and smorest dumps the X-Pagination metadata through a fresh
schema each time. Schemas are reusable, so each is built once here; the output is unchanged.
"""

from __future__ import annotations

from typing import Any

import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser


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


class Blueprint(flask_smorest.Blueprint):
    """smorest Blueprint with cached argument schemas and a schema-free pagination header."""

    ARGUMENTS_PARSER = SchemaCachingParser()
    PAGINATION_ARGUMENTS_PARSER = SchemaCachingParser()

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
