"""The private internals of flask-smorest, webargs and flask-limiter that the code relies on.

pyproject.toml caps these libraries below their next breaking release; when a bound is raised,
these tests say exactly which internal moved, instead of a quiet loss of caching, pagination
headers or per-app rate-limit keys.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import flask_limiter
import flask_smorest
import marshmallow as ma
import pytest
from flask import Flask
from flask_smorest.pagination import PaginationMixin
from webargs.core import Parser
from webargs.flaskparser import FlaskParser

from permit_service.api.blueprint import Blueprint, SchemaCachingParser
from permit_service.extensions import limiter

ROOT = Path(__file__).resolve().parents[1]


def _params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "bound"),
    [("flask-smorest", "<0.48"), ("webargs", "<9"), ("flask-limiter", "<5")],
)
def test_libraries_whose_internals_we_override_have_an_upper_bound(name: str, bound: str) -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if re.split(r"[<>=!~ \[]", d, maxsplit=1)[0] == name)
    assert bound in spec, f"{name} needs its upper bound {bound}: {spec}"


def test_webargs_parser_builds_schemas_in_get_schema_argmap_req() -> None:
    assert _params(Parser._get_schema) == ["self", "argmap", "req"]
    assert "self._get_schema(argmap, req)" in inspect.getsource(Parser), "parse stopped asking it"


def test_schema_caching_parser_builds_a_schema_class_once_across_requests() -> None:
    built: list[object] = []

    class Args(ma.Schema):
        q = ma.fields.String()

        def __init__(self, *args: object, **kwargs: object) -> None:
            built.append(self)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    parser = SchemaCachingParser()
    app = Flask(__name__)
    for value in ("a", "b"):
        with app.test_request_context(f"/?q={value}"):
            assert parser.parse(Args, location="query") == {"q": value}
    assert len(built) == 1


def test_smorest_blueprint_takes_its_parsers_from_the_class_attributes() -> None:
    assert isinstance(flask_smorest.Blueprint.ARGUMENTS_PARSER, FlaskParser)
    assert isinstance(flask_smorest.Blueprint.PAGINATION_ARGUMENTS_PARSER, FlaskParser)
    arguments = inspect.getsource(flask_smorest.arguments)
    pagination = inspect.getsource(flask_smorest.pagination)
    assert "self.ARGUMENTS_PARSER.use_args(" in arguments
    assert "self.PAGINATION_ARGUMENTS_PARSER.parse(" in pagination
    assert isinstance(Blueprint.ARGUMENTS_PARSER, SchemaCachingParser)
    assert isinstance(Blueprint.PAGINATION_ARGUMENTS_PARSER, SchemaCachingParser)


def test_smorest_builds_the_pagination_header_with_make_pagination_metadata() -> None:
    assert _params(PaginationMixin._make_pagination_metadata) == ["page", "page_size", "item_count"]
    assert "self._make_pagination_metadata(" in inspect.getsource(PaginationMixin)
    assert isinstance(inspect.getattr_static(Blueprint, "_make_pagination_metadata"), staticmethod)


def test_limiter_keeps_key_prefix_and_storage_dead_on_the_instance() -> None:
    # hardening.init_hardening resets both for every app bound to the one Limiter.
    assert hasattr(limiter, "_key_prefix") and hasattr(limiter, "_storage_dead")
    source = inspect.getsource(flask_limiter.Limiter)
    assert "self._key_prefix = self._key_prefix or" in source, "init_app no longer reads it"
    assert "if self._storage_dead" in source, "the storage-outage switch moved"


def test_limiter_middleware_skipped_only_without_app_wide_limits(tmp_path) -> None:
    """Flask-Limiter's before_request check is dropped (issue 17) by identity of its method:
    if that method moves, the hook would silently stay; with an app-wide limit it must stay."""
    from permit_service import create_app

    check = type(limiter)._check_request_limit

    def hooked(**extra: object) -> bool:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'limits.sqlite3'}",
                "SECRET_KEY": "x" * 32,
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "instance"),
                **extra,
            }
        )
        hooks = app.before_request_funcs.get(None, [])
        return any(getattr(h, "__func__", None) is check for h in hooks)

    assert callable(check)
    assert not hooked()
    assert hooked(RATELIMIT_DEFAULT="100 per minute")


def test_limiter_parses_callable_limits_through_its_module_parse_many() -> None:
    """extensions._remember_parsed_limits replaces flask_limiter._limits.parse_many: the name
    Limit.__iter__ calls for a callable limit's text (issue 17)."""
    from flask_limiter import _limits

    assert "parse_many(limit_str)" in inspect.getsource(_limits.Limit.__iter__)
    assert _limits.parse_many.__name__ == "parse_many_once"
    assert _limits.parse_many("3 per minute") == _limits.parse_many("3 per minute")


def test_limits_memory_storage_schedules_its_sweep_through_one_private_method() -> None:
    """extensions.InlineExpiryMemoryStorage overrides the base's name-mangled sweep scheduler
    and calls its sweep (issue 17)."""
    from limits.storage import MemoryStorage

    for method in ("incr", "decr", "acquire_entry"):
        assert "self.__schedule_expiry()" in inspect.getsource(getattr(MemoryStorage, method))
    assert callable(MemoryStorage._MemoryStorage__expire_events)  # type: ignore[attr-defined]
    assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry")


def test_talisman_internals_the_per_view_headers_use() -> None:
    """hardening._Talisman works out what Talisman's own methods set, once per view."""
    from flask_talisman import Talisman

    for name in (
        "_get_local_options",
        "_set_permissions_policy_headers",
        "_set_document_policy_headers",
        "_set_frame_options_headers",
        "_set_content_security_policy_headers",
        "_set_hsts_headers",
        "_set_referrer_policy_headers",
        "_force_https",
        "_make_nonce",
    ):
        assert callable(getattr(Talisman, name)), name
    source = inspect.getsource(Talisman._set_response_headers)
    order = [
        "_set_feature_policy_headers",
        "_set_permissions_policy_headers",
        "_set_document_policy_headers",
        "_set_frame_options_headers",
        "_set_content_security_policy_headers",
        "_set_hsts_headers",
        "_set_referrer_policy_headers",
    ]
    assert [source.index(name) for name in order] == sorted(source.index(n) for n in order)
