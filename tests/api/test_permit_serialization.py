"""The permit schema's fast `dump` gives exactly what marshmallow's generic dump gives."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from marshmallow import Schema

from permit_service.api.schemas import PermitSchema
from permit_service.models import Permit, utcnow


def _permit(**overrides: object) -> Permit:
    now = utcnow()
    values: dict[str, object] = {
        "id": "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "name": "John Doe",
        "license_plate": "ABC-123",
        "plate_key": "ABC123",
        "address": "123 Main St",
        "email": "john@example.org",
        "status": "pending",
        "created_at": now.replace(microsecond=0),
        "updated_at": now,
        "expires_at": now + timedelta(days=1),  # pending however long the run takes
        "reference": "P-7K3M-Q9",
        "valid_from": None,
        "valid_until": None,
        "zone": "CITY",
        "waitlisted_at": None,
        "fee": None,
    }
    values.update(overrides)
    return Permit(**values)


CASES = [
    _permit(),
    _permit(email=None),
    _permit(expires_at=utcnow() - timedelta(seconds=1)),  # due: reads as expired
    _permit(
        status="approved",
        expires_at=None,
        valid_from=utcnow(),
        valid_until=utcnow() + timedelta(days=1),
        fee=Decimal("12.5"),
    ),
    _permit(status="waitlisted", expires_at=None, waitlisted_at=utcnow()),
    _permit(status="revoked", expires_at=None),
    _permit(status="expired"),
    _permit(  # validity ended, unswept: reads as expired
        status="approved",
        expires_at=None,
        valid_from=utcnow() - timedelta(days=2),
        valid_until=utcnow() - timedelta(seconds=1),
    ),
    _permit(  # anonymised by retention: no resident's data in the answer
        status="revoked",
        expires_at=None,
        name="",
        license_plate="",
        plate_key="",
        address="",
        email=None,
        anonymised_at=utcnow(),
    ),
]


def test_fast_dump_equals_marshmallow_dump_for_one_and_many(app):
    schema, many = PermitSchema(), PermitSchema(many=True)
    with app.app_context():
        for permit in CASES:
            assert schema.dump(permit) == Schema.dump(schema, permit)
        dumped = many.dump(CASES)
        assert dumped == Schema.dump(many, CASES)
    assert [(p["fee"], p["currency"]) for p in dumped[3:5]] == [("12.50", "EUR"), (None, "EUR")]
    assert [p["waitlist_position"] for p in dumped] == [None] * 4 + [1] + [None] * 4
    assert [p["status"] for p in dumped] == [
        "pending",
        "pending",
        "expired",
        "approved",
        "waitlisted",
        "revoked",
        "expired",
        "expired",
        "revoked",
    ]
    assert [p["anonymised"] for p in dumped] == [False] * 8 + [True]
    assert {
        k: dumped[8][k] for k in ("name", "license_plate", "address", "email")
    } == dict.fromkeys(("name", "license_plate", "address", "email"))
    assert dumped[7]["name"] == "John Doe"


def test_fast_dump_lists_exactly_the_documented_fields(app):
    with app.app_context():
        assert set(PermitSchema().dump(CASES[0])) == set(PermitSchema().fields)
