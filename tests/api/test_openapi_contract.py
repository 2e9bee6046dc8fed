"""The published contract (/openapi.json) is complete: walked operation by operation.

Issue 10, "The contract, exactly": an operationId on every operation, the error schema on every
documented 4xx, the Location, X-Pagination, Retry-After and X-RateLimit-* headers, examples on
request bodies and `required` on response schemas. The plate pattern in the schema agrees with
the service's own rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from permit_service.domain import PLATE_MAX_LENGTH, PLATE_PATTERN, normalize_plate
from tests.conftest import SEED

METHODS = {"get", "post", "put", "patch", "delete"}
ERROR_REF = "#/components/schemas/Error"
BINARY = {"type": "string", "format": "binary"}
RATE_LIMIT = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}

# SPEC.md section 4, as far as version 1 implements it: each operation and what it may answer.
CONTRACT = {
    # 403 on the public permit endpoints: an enforcer's token was sent (issue 17).
    ("post", "/permits"): {"201", "400", "403", "409", "413", "415", "422", "429"},
    ("get", "/permits"): {"200", "401", "403", "422"},
    ("get", "/permits/{permit_id}"): {"200", "403", "404"},
    ("post", "/permits/{permit_id}/approve"): {
        *("200", "400", "401", "403", "404", "409", "413", "415", "422"),
    },
    ("post", "/permits/{permit_id}/revoke"): {
        *("200", "400", "401", "403", "404", "409", "413", "415", "422"),
    },
    ("get", "/permits/count"): {"200", "401", "403", "422"},
    ("post", "/permits/{permit_id}/cancel"): {"200", "403", "404", "409"},
    # 401/403 only when a token is sent: without one the resident renews.
    ("post", "/permits/{permit_id}/renew"): {"200", "401", "403", "404", "409"},
    ("get", "/permits/{permit_id}/events"): {"200", "401", "403", "404"},
    ("get", "/permits/{permit_id}/notifications"): {"200", "401", "403", "404"},
    ("get", "/permits/{permit_id}/reads"): {"200", "401", "403", "404"},
    ("post", "/auth/token"): {"200", "400", "401", "413", "415", "422", "429"},
    ("get", "/healthz"): {"200"},
    ("get", "/readyz"): {"200"},
    ("get", "/zones"): {"200"},
    ("post", "/zones"): {"201", "400", "401", "403", "409", "413", "415", "422"},
    ("patch", "/zones/{code}"): {"200", "400", "401", "403", "404", "413", "415", "422"},
    ("get", "/zones/{code}/waitlist"): {"200", "401", "403", "404"},
    ("get", "/enforcement/check"): {"200", "401", "403", "422"},
    ("get", "/enforcement/permits"): {"200", "401", "403", "422"},
    ("post", "/exports"): {"202", "400", "401", "403", "413", "415", "422"},
    ("get", "/exports/{export_id}"): {"200", "401", "403", "404"},
    ("get", "/exports/{export_id}/download"): {"200", "401", "403", "404", "409"},
    ("get", "/reports"): {"200", "401", "403", "422"},
    ("get", "/reports/{month}.pdf"): {"200", "401", "403", "404", "422"},
}
# Answers that are files, not JSON: their media type, documented as binary.
FILE_TYPES = {"application/pdf", "text/csv"}


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    """The document as clients download it."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (one or more hops)."""
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation in the document."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def contract_problems(spec: dict[str, Any]) -> list[str]:
    """Everything an operation lacks, one line each (empty when the contract is complete)."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    for method, path, op in operations(spec):
        where = f"{method.upper()} {path}"
        op_id = op.get("operationId")
        if not op_id:
            problems.append(f"{where}: no operationId")
        elif op_id in seen_ids:
            problems.append(f"{where}: operationId {op_id} used twice")
        seen_ids.add(op_id or "")
        responses = {code: resolve(spec, r) for code, r in op["responses"].items()}
        problems += [
            f"{where} {code}: no error schema"
            for code, response in responses.items()
            if code.startswith("4")
            and response.get("content", {}).get("application/json", {}).get("schema")
            != {"$ref": ERROR_REF}
        ]
        if "requestBody" in op:
            content = op["requestBody"]["content"].get("application/json", {})
            if "example" not in content and "examples" not in content:
                problems.append(f"{where}: request body without an example")
            problems += [
                f"{where}: takes a JSON body but does not document {code}"
                for code in ("400", "413", "415", "422")
                if code not in responses
            ]
        if op.get("security") and "401" not in responses:
            problems.append(f"{where}: needs a token but does not document 401")
        challenge = responses.get("401", {}).get("headers", {})
        if op.get("security") and "401" in responses and "WWW-Authenticate" not in challenge:
            problems.append(f"{where} 401: WWW-Authenticate not documented")
        if "429" in responses:
            missing = {"Retry-After", *RATE_LIMIT} - set(responses["429"].get("headers", {}))
            if missing:
                problems.append(f"{where} 429: {sorted(missing)} not documented")
            for code, response in responses.items():
                if code.startswith("2") and RATE_LIMIT - set(response.get("headers", {})):
                    problems.append(f"{where} {code}: rate-limited but no X-RateLimit-*")
        for code, response in responses.items():
            if not code.startswith("2"):
                continue
            content = response.get("content", {})
            files = FILE_TYPES & set(content)
            if files:
                if any(content[t].get("schema") != BINARY for t in files):
                    problems.append(f"{where} {code}: a file answer not documented as binary")
                continue
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                problems.append(f"{where} {code}: no response schema")
                continue
            schema = resolve(spec, schema.get("items", schema))
            if not schema.get("required"):
                problems.append(f"{where} {code}: response schema without `required`")
    for method, path, op in operations(spec):
        for code in ("201", "202"):
            created = resolve(spec, op["responses"].get(code, {}))
            if method == "post" and created and "Location" not in created.get("headers", {}):
                problems.append(f"{method.upper()} {path} {code}: Location not documented")
        paginated = "page_size" in {p["name"] for p in op.get("parameters", [])}
        listed = resolve(spec, op["responses"].get("200", {}))
        if paginated and "X-Pagination" not in listed.get("headers", {}):
            problems.append(f"{method.upper()} {path} 200: X-Pagination not documented")
    if not resolve(spec, {"$ref": ERROR_REF}).get("required"):
        problems.append("Error schema without `required`")
    return problems


def test_every_operation_is_completely_documented(spec):
    assert contract_problems(spec) == []


def test_the_walker_finds_what_is_missing(spec):
    """The walk above can fail: strip each promise from a copy and it is reported."""
    import copy

    broken = copy.deepcopy(spec)
    apply_op = broken["paths"]["/permits"]["post"]
    del apply_op["operationId"]
    apply_op["responses"]["409"] = {"description": "Conflict"}
    del apply_op["requestBody"]["content"]["application/json"]["example"]
    del apply_op["responses"]["201"]["headers"]["Location"]
    del apply_op["responses"]["415"]
    broken["components"]["responses"]["RATE_LIMITED"]["headers"].pop("Retry-After")
    broken["components"]["schemas"]["Permit"].pop("required")
    found = "\n".join(contract_problems(broken))
    for expected in [
        "POST /permits: no operationId",
        "POST /permits 409: no error schema",
        "POST /permits: request body without an example",
        "POST /permits 201: Location not documented",
        "POST /permits: takes a JSON body but does not document 415",
        "POST /permits 429: ['Retry-After'] not documented",
        "GET /permits/{permit_id} 200: response schema without `required`",
    ]:
        assert expected in found


def test_each_operation_documents_exactly_the_answers_it_gives(spec):
    # 5xx answers (readiness, database outages) are documented by the features that give them.
    documented = {
        (method, path): {code for code in op["responses"] if code[0] in "1234"}
        for method, path, op in operations(spec)
    }
    assert documented == CONTRACT


def test_probes_are_in_the_document_and_metrics_is_not(spec):
    assert {"/healthz", "/readyz"} <= set(spec["paths"])
    assert "/metrics" not in spec["paths"]
    not_ready = spec["paths"]["/readyz"]["get"]["responses"]["503"]
    assert not_ready["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }


def test_answers_match_the_documented_headers(client, admin_headers):
    """What the document promises is what the API sends."""
    created = client.post("/permits", json=SEED)
    assert created.headers["Location"] == f"/permits/{created.get_json()['id']}"
    listed = client.get("/permits", headers=admin_headers)
    assert "X-Pagination" in listed.headers
    refused = client.get("/permits")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_rate_limit_headers_are_sent_as_documented(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_APPLY="1 per minute")
    client = app.test_client()
    first = client.post("/permits", json=SEED)
    assert first.status_code == 201 and set(first.headers.keys()) >= RATE_LIMIT
    second = client.post("/permits", json={**SEED, "license_plate": "XY-99"})
    assert second.status_code == 429
    assert {"Retry-After", *RATE_LIMIT} <= set(second.headers.keys())


PLATES = [
    ("ABC-123", True),
    ("abc 123", True),
    ("  AB12\t", True),
    ("A-B-C-D-E-F-G-H-I-J", True),
    ("AB", True),
    ("A", False),
    ("ABCDEFGHIJK", False),
    ("AB--12", False),
    ("AB- 12", False),
    ("-AB12", False),
    ("AB12-", False),
    ("AB_12", False),
    ("ß1", False),
    ("ÄB-12", False),
    ("１２３", False),
    ("AB\u202e12", False),
    ("AB\x0012", False),
    (" " * 40 + "AB12", False),
]


@pytest.mark.parametrize(("plate", "valid"), PLATES)
def test_plate_pattern_in_the_schema_agrees_with_the_service(spec, client, plate, valid):
    field = spec["components"]["schemas"]["PermitApplication"]["properties"]["license_plate"]
    by_schema = (
        re.search(field["pattern"], plate) is not None
        and field["minLength"] <= len(plate) <= field["maxLength"]
    )
    try:
        normalize_plate(plate)
        by_domain = True
    except ValueError:
        by_domain = False
    answer = client.post("/permits", json={**SEED, "license_plate": plate})
    assert (by_schema, by_domain, answer.status_code == 201) == (valid, valid, valid)


def test_text_field_lengths_are_in_the_schema(spec):
    fields = spec["components"]["schemas"]["PermitApplication"]["properties"]
    assert (fields["name"]["minLength"], fields["name"]["maxLength"]) == (1, 120)
    assert (fields["address"]["minLength"], fields["address"]["maxLength"]) == (1, 200)
    assert fields["email"]["maxLength"] == 254
    assert spec["components"]["schemas"]["Revoke"]["properties"]["reason"]["maxLength"] == 500


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="Ab9z -\t\n_.ßÄ\u202e\x00\u3000", max_size=40))
def test_plate_pattern_and_service_agree_on_any_text(plate):
    by_schema = re.search(PLATE_PATTERN, plate) is not None and 2 <= len(plate) <= PLATE_MAX_LENGTH
    try:
        normalize_plate(plate)
        by_domain = True
    except ValueError:
        by_domain = False
    assert by_schema == by_domain
