"""The hot paths' shortcuts (issue 17) answer exactly as the general machinery does.

The listing's and pagination's plain query readings against their schemas, the listing's total
read by the page's own statement against the count, the application's answer built from the
inserted values against the permit as read, no statement compiled per application, and the
app-wide hooks (Talisman's headers worked out per view, the session without a cookie) against
the libraries' own.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_smorest.pagination import _pagination_parameters_schema_factory
from flask_talisman import Talisman
from marshmallow import EXCLUDE, ValidationError
from sqlalchemy.engine.default import CACHE_HIT
from werkzeug.wrappers import Response

from permit_service.api.blueprint import Blueprint
from permit_service.api.schemas import PermitListArgsSchema, plain_list_args
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, utcnow
from tests.conftest import apply
from tests.factories import make_permit


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status=pending",
        "status=pending&page_size=50",
        "status=expired&page=2&page_size=10",
        "status=approved&sort=-valid_until",
        "sort=license_plate",
        "license_plate=abc%20123",
        "license_plate=ABC-123&zone=city",
        "zone=CITY&status=waitlisted",
        "status=bogus",
        "status=",
        "status=Pending",
        "sort=name",  # the review queue's sort, not the API's
        "sort=",
        "license_plate=%C3%9F",
        "license_plate=",
        "zone=toolongzonecode",
        "zone=",
        "status=pending&status=approved",
        "created_from=2026-12-01",
        "unknown=1",
        "page=1&page=2",
    ],
)
def test_the_listings_argument_shortcut_reads_as_the_schema_does(app, query):
    """Whatever the listing's plain reading reads is what the documented schema loads; what it
    leaves to the schema is what the schema refuses, or repeats an argument, or needs a
    date-time (those the schema reads as ever)."""
    with app.test_request_context(f"/permits?{query}"):
        plain = plain_list_args(request.args)
        single = {key: request.args[key] for key in request.args}
        once = all(len(v) == 1 for v in request.args.listvalues())
        try:
            loaded = PermitListArgsSchema(unknown=EXCLUDE).load(single)  # webargs' for queries
        except ValidationError:
            loaded = None
    if plain is not None:
        assert plain == loaded
    simple = once and "created_from" not in query
    if simple and loaded is not None:
        assert plain == loaded  # nothing plainly valid is left to the schema


@pytest.mark.parametrize(
    "query",
    [
        "",
        "page=1",
        "page=3&page_size=10",
        "page_size=500",
        "page_size=501",
        "page_size=0",
        "page=0",
        "page=007",
        "page=%2B5",
        "page=%205",
        "page=5.0",
        "page=%D9%A5",  # an Arabic-Indic five: int() takes it, the shortcut leaves it
        "page=",
        "page=1&page=2",
        "page_size=99999999999",
        "status=pending&page=2",
    ],
)
def test_the_page_arguments_shortcut_reads_as_smorests_schema(app, query):
    schema_class = _pagination_parameters_schema_factory(1, 50, 500)
    parser = Blueprint.PAGINATION_ARGUMENTS_PARSER
    with app.test_request_context(f"/permits?{query}"):
        plain = parser.plain(schema_class, request.args)
        single = {key: request.args[key] for key in request.args}
        repeated = any(len(v) > 1 for v in request.args.listvalues())
        digits = all(
            v.isascii() and v.isdigit() and len(v) <= 9
            for key in ("page", "page_size")
            for v in request.args.getlist(key)
        )
    try:
        loaded = schema_class(unknown=EXCLUDE).load(single)
    except ValidationError:
        loaded = None
    if plain is not None:
        assert loaded is not None
        assert (plain.page, plain.page_size) == (loaded.page, loaded.page_size)
    if loaded is not None and not repeated and digits:
        assert plain is not None  # nothing plainly valid is left to the schema


def test_refused_listing_queries_answer_as_before(client, admin_headers):
    """Not plainly valid: the schemas answer, with their 422 naming the argument."""
    cases = {
        "status=bogus": "status",
        "page=0": "page",
        "page_size=501": "page_size",
        "page=%2B1x": "page",
        "unknown=1": "unknown",
        "license_plate=%C3%9F": "license_plate",
    }
    for query, name in cases.items():
        answer = client.get(f"/permits?{query}", headers=admin_headers)
        assert answer.status_code == 422, query
        assert name in answer.get_json()["errors"]["query"], query
    # Repeated: the schema reads the first value, as before.
    both = client.get("/permits?status=pending&status=bogus&page_size=5", headers=admin_headers)
    assert both.status_code == 200


def test_the_pages_own_total_is_the_exact_count(app, client, admin_headers):
    """Nothing but the status filters: the page's statement also reads the total (from the
    stored counts), exact at the deadline like the count and the whole listing."""
    with app.app_context():
        for _ in range(3):
            make_permit(PermitStatus.PENDING)
        for _ in range(2):
            make_permit(PermitStatus.PENDING, due=True)  # effective status: expired
        make_permit(PermitStatus.APPROVED)
        make_permit(PermitStatus.APPROVED, due=True)  # validity ended: expired
        make_permit(PermitStatus.REVOKED)
    for status in [None, *PermitStatus]:
        query = f"status={status.value}&" if status else ""
        everything = client.get(f"/permits?{query}page_size=500", headers=admin_headers)
        counted = client.get(f"/permits/count?{query}".rstrip("?&"), headers=admin_headers)
        full_page = client.get(f"/permits?{query}page_size=1", headers=admin_headers)
        assert everything.status_code == counted.status_code == full_page.status_code == 200
        n = len(everything.get_json())
        assert counted.get_json()["count"] == n, status
        assert json.loads(full_page.headers["X-Pagination"])["total"] == n, status
        assert full_page.get_json() == everything.get_json()[:1]
        # A page past the end counts separately, as before.
        past = client.get(f"/permits?{query}page=9&page_size=1", headers=admin_headers)
        assert past.get_json() == [] and json.loads(past.headers["X-Pagination"])["total"] == n


def test_the_application_answer_is_the_permit_as_read(app, client):
    answer = client.post(
        "/permits",
        json={"name": "Jane Roe", "license_plate": "hot 1", "address": "1 Elm St"},
    )
    assert answer.status_code == 201
    body = answer.get_json()
    assert client.get(f"/permits/{body['id']}").get_json() == body
    with app.test_request_context():
        assert answer.headers["Location"] == url_for("permits.Permit", permit_id=body["id"])
    assert body["status"] == "pending" and body["license_plate"] == "HOT 1"
    assert body["anonymised"] is False and body["fee"] is None


def test_an_application_compiles_no_statement(app, client):
    """Every statement an application runs comes from SQLAlchemy's compiled cache once warm
    (the counts' upsert was a multi-row VALUES statement, compiled at every commit)."""
    apply(client, license_plate="WARM-1")
    misses: list[Any] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any):
        compiled = context is not None and context.compiled is not None
        if compiled and context.cache_hit is not CACHE_HIT:
            misses.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        apply(client, license_plate="WARM-2")
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert misses == []


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/permits", "http://localhost"),
        ("/healthz", "http://localhost"),
        ("/docs", "http://localhost"),
        ("/admin/login", "http://localhost"),
        ("/no/such/page", "http://localhost"),
        ("/healthz", "https://permits.city.example"),
    ],
)
@pytest.mark.parametrize("force_https", [False, True])
def test_security_headers_are_talismans_own(app_factory, path, base, force_https):
    """Each view's headers worked out once are the headers Talisman itself sets, in its order,
    with the request's nonce (and without one when none was drawn)."""
    app = app_factory(FORCE_HTTPS=force_https)
    ours = app.extensions["talisman"]
    # A page always carries a nonce (drawn at the latest for its response); other responses
    # carry the one drawn for them, if any (hardening._Talisman._make_nonce).
    for nonce, mimetype in [
        ("n0nce-A", "text/html"),
        ("n0nce-A", "application/json"),
        (None, "application/json"),
    ]:
        with app.test_request_context(path, base_url=base):
            if nonce is not None:
                request.csp_nonce = nonce
            stock = Talisman._set_response_headers(ours, Response("x", mimetype=mimetype))
            fast = ours._set_response_headers(Response("x", mimetype=mimetype))
            assert list(fast.headers.items()) == list(stock.headers.items())


def test_a_request_without_the_session_cookie_saves_as_flask_does(app, client):
    """No cookie: an empty session, saved as Flask saves it (Vary: Cookie, no Set-Cookie); a
    session that stores something still gets its cookie, and reads it back."""

    @app.get("/_test/remember")
    def _remember() -> str:
        session["seen"] = session.get("seen", 0) + 1
        return str(session["seen"])

    flask_own = SecureCookieSessionInterface()
    with app.test_request_context("/healthz"):
        ours = app.session_interface.open_session(app, request)
        theirs = flask_own.open_session(app, request)
        assert dict(ours) == dict(theirs) == {} and type(ours) is type(theirs)
        for accessed, modified in [(False, False), (True, False), (True, True)]:
            a, b = Response("x"), Response("x")
            for saved, response in ((ours, a), (theirs, b)):
                saved.accessed, saved.modified = accessed, modified
                interface = app.session_interface if saved is ours else flask_own
                interface.save_session(app, saved, response)
            assert list(a.headers.items()) == list(b.headers.items())
    answer = client.get("/healthz")
    assert "Set-Cookie" not in answer.headers
    assert answer.headers.get("Vary") == "Cookie"

    first = client.get("/_test/remember")
    assert "Set-Cookie" in first.headers and first.get_data(as_text=True) == "1"
    assert client.get("/_test/remember").get_data(as_text=True) == "2"  # the cookie was read


def test_ensure_sync_answers_as_flasks(app):
    async def coroutine() -> None:
        return None

    def plain() -> None:
        return None

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain  # the remembered answer
    with pytest.raises(RuntimeError):  # Flask's own answer: async views need its extra
        Flask.ensure_sync(app, coroutine)
    with pytest.raises(RuntimeError):
        app.ensure_sync(coroutine)

    class View:
        def get(self) -> None:
            return None

    bound = View().get
    assert app.ensure_sync(bound) is bound


def test_the_in_memory_rate_limit_storage_counts_without_a_thread_per_hit(app_factory):
    """`memory://` makes the inline-sweeping storage: the same counts, expired counters still
    dropped, and no timer thread started per counted request."""
    import threading
    import time

    from limits.storage import MemoryStorage, storage_from_string

    from permit_service.extensions import InlineExpiryMemoryStorage, limiter

    storage = storage_from_string("memory://")
    assert type(storage) is InlineExpiryMemoryStorage and isinstance(storage, MemoryStorage)
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        assert type(limiter.storage) is InlineExpiryMemoryStorage
    time.sleep(0.05)  # the base class's first timer (started by __init__) has run
    before = threading.active_count()
    for _ in range(200):
        storage.incr("client", 60)
    assert threading.active_count() == before
    assert storage.get("client") == 200
    storage.incr("brief", 0.001)
    time.sleep(storage.SWEEP_SECONDS * 2)
    storage.incr("client", 60)  # sweeps: the expired counter is gone, the live one counts on
    assert "brief" not in storage.storage and storage.get("client") == 201


# --- the listing answered past flask-smorest's wrappers, the application's plain body ------------


def _general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every listing through the schemas and smorest's wrappers: the page's plain reading
    declines, so the listing's shortcut answer declines too."""
    monkeypatch.setattr(Blueprint.PAGINATION_ARGUMENTS_PARSER, "plain", lambda *_: None)


# Per-request headers (request id, CSP nonce, rate limits' reset) differ between any two answers.
_PER_REQUEST = {"x-request-id", "content-security-policy", "x-ratelimit-reset"}


def _answer(client: Any, path: str, headers: dict[str, str]) -> tuple[Any, ...]:
    answer = client.get(path, headers=headers)
    kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in _PER_REQUEST]
    return answer.status_code, answer.data, kept


def _varied_permits(app: Flask) -> None:
    """Permits in every status, with fees, a waiting list, e-mails, a due one, an anonymised one,
    and moments without microseconds (isoformat and orjson both leave the fraction out)."""
    from permit_service.services import zones

    with app.app_context():
        zones.update_zone("CITY", quota=2, monthly_fee="12.50")
        for status in PermitStatus:
            make_permit(status, email="r@example.org")
        make_permit(PermitStatus.APPROVED)
        make_permit(PermitStatus.APPROVED)  # the zone is full: waitlisted
        make_permit(PermitStatus.PENDING, due=True)
        whole = make_permit(PermitStatus.PENDING, plate="WHOLE-1")
        gone = make_permit(PermitStatus.REVOKED, plate="GONE-1")
        table = Permit.__table__
        second = utcnow().replace(microsecond=0) - timedelta(minutes=1)
        db.session.execute(sa.update(table).where(table.c.id == whole.id).values(created_at=second))
        db.session.execute(
            sa.update(table).where(table.c.id == gone.id).values(anonymised_at=utcnow())
        )
        db.session.commit()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status=pending&page_size=50",
        "status=approved",
        "status=waitlisted",
        "status=expired&page_size=2",
        "status=revoked",
        "page=2&page_size=3",
        "page=9&page_size=3",
        "sort=-valid_until&page_size=4",
        "license_plate=whole%201",
        "zone=city&status=approved",
        "page_size=500",
    ],
)
def test_the_listings_shortcut_answers_as_smorests_wrappers(
    app, client, admin_headers, monkeypatch, query
):
    _varied_permits(app)
    fast = _answer(client, f"/permits?{query}", admin_headers)
    _general_path(monkeypatch)
    general = _answer(client, f"/permits?{query}", admin_headers)
    assert fast == general
    assert fast[0] == 200 and "X-Pagination" in dict(fast[2])


def test_the_listings_moments_are_their_isoformat(app, client, admin_headers):
    """orjson writes an aware datetime exactly as its isoformat() (with and without
    microseconds, any UTC tzinfo), so the page's bytes are what the schema's strings give."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    import orjson

    from permit_service.api.blueprint import _RFC3339_OPTIONS

    for moment in [
        datetime(2026, 12, 3, 20, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 20, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 12, 3, 20, 0, 0, 123456, tzinfo=ZoneInfo("UTC")),
        datetime(1999, 1, 1, tzinfo=UTC),
    ]:
        written = orjson.dumps({"at": moment}, option=_RFC3339_OPTIONS)
        assert written == orjson.dumps({"at": moment.isoformat()}, option=_RFC3339_OPTIONS)


def test_the_listing_without_the_orjson_encoder_answers_the_same(
    app, client, admin_headers, monkeypatch
):
    """An app whose provider is not the orjson one (or pretty-prints) gets the schema's dump."""
    _varied_permits(app)
    fast = _answer(client, "/permits?page_size=5", admin_headers)
    monkeypatch.setattr("permit_service.api.permits.rfc3339_response", lambda *_: None)
    assert _answer(client, "/permits?page_size=5", admin_headers) == fast


_BODIES = [
    {"name": "Jane Roe", "license_plate": "abc 123", "address": "1 Elm St"},
    {"name": " Jane ", "license_plate": " abc-123 ", "address": " 1 Elm St "},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "email": "J@Example.org"},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "email": None, "zone": None},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "zone": "city"},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "zone": "NOSUCH"},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "email": ""},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "email": "  "},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "email": "not-an-address"},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "email": 5},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "zone": ""},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "zone": "bad code"},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "zone": 7},
    {"name": "Jane", "license_plate": "AB1", "address": "x", "extra": 1},
    {"name": "Jane", "license_plate": "AB1"},
    {"name": None, "license_plate": "AB1", "address": "x"},
    {"name": 5, "license_plate": "AB1", "address": "x"},
    {"name": "Jane", "license_plate": ["AB1"], "address": "x"},
    {"name": "", "license_plate": "AB1", "address": "x"},
    {"name": "Ja\nne", "license_plate": "AB1", "address": "x"},
    {"name": "J" * 500, "license_plate": "AB1", "address": "x"},
    {"name": "Jane", "license_plate": "ß", "address": "x"},
    {"name": "Jane", "license_plate": "A" * 40, "address": "x"},
    {"name": "Jane", "license_plate": "AB1", "address": "\x00"},
    {},
    [],
    "text",
    None,
    5,
]


@pytest.mark.parametrize("body", _BODIES)
def test_the_application_body_shortcut_reads_as_the_schema_does(app, body):
    """The plain reading gives exactly what PermitApplicationSchema loads, or declines; it never
    accepts what the schema refuses."""
    from permit_service.api.schemas import PermitApplicationSchema, plain_application

    with app.test_request_context():
        plain = plain_application(body)
        try:
            loaded = PermitApplicationSchema().load(body)
        except ValidationError:
            loaded = None
    if plain is not None:
        assert plain == loaded
    if isinstance(body, dict) and loaded is not None:
        assert plain is not None  # nothing plainly valid is left to the schema


@pytest.mark.parametrize("body", _BODIES)
def test_applications_answer_as_through_the_schema(app, client, monkeypatch, body):
    """The same status and, for a refusal, the same body with and without the shortcut; an
    accepted application the same fields but its own id, reference and times."""
    import permit_service.api.blueprint as blueprint

    varying = {"id", "reference", "created_at", "updated_at", "expires_at"}

    def answer() -> tuple[int, Any]:
        response = client.post("/permits", json=body)
        data = response.get_json()
        if response.status_code == 201:  # cancelled: the plate is free for the other path
            assert client.post(f"/permits/{data['id']}/cancel").status_code == 200
            data = {k: v for k, v in data.items() if k not in varying}
        return response.status_code, data

    fast = answer()
    monkeypatch.setattr(blueprint, "_plain_body", lambda *_: None)
    assert answer() == fast


def test_an_application_reads_no_zone_once_the_zones_are_cached(app, client):
    """The open zones come from the generation-checked cache (no statement on a hit); a zone
    closed or opened is seen by the very next application."""
    from permit_service.services import zones
    from tests.support import statements_run

    apply(client, license_plate="WARM-Z1")
    with app.app_context():
        engine = db.engine
    with statements_run(engine) as statements:
        apply(client, license_plate="WARM-Z2")
    assert not [s for s in statements if "FROM zones" in s], statements
    with app.app_context():
        zones.create_zone("NORTH", "North")  # two open zones: the zone must be named
    refused = client.post("/permits", json={**_BODIES[0], "license_plate": "WARM-Z3"})
    assert refused.status_code == 422 and "zone" in refused.get_json()["errors"]["json"]
    apply(client, license_plate="WARM-Z3", zone="north")
    with app.app_context():
        zones.update_zone("NORTH", open=False)
    closed = client.post(
        "/permits", json={**_BODIES[0], "license_plate": "WARM-Z4", "zone": "NORTH"}
    )
    assert closed.status_code == 422
    assert apply(client, license_plate="WARM-Z4")["zone"] == "CITY"  # the only open one again
