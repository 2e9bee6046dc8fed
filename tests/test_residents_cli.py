"""`flask residents export`: everything held about one person or car, nothing about anyone else."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from permit_service.extensions import db
from permit_service.models import User
from permit_service.services import audit
from permit_service.services import permits as service
from tests.factories import make_permit


def _people(app: Any) -> dict[str, Any]:
    """Anna (two permits, two plates), Bert (shares Anna's address: a flatmate), Cleo (nothing
    in common), and an admin who read Anna's and Bert's permits."""
    with app.app_context():
        a1 = make_permit(
            "approved",
            name="Anna Alt",
            plate="AN-1",
            address="1 Shared St",
            email="Anna.Alt@Example.org",
        )
        service.revoke_permit(a1.id, actor="officer@city.test", reason="sold the car")
        a2 = make_permit(
            "pending",
            name="Anna Alt",
            plate="AN-2",
            address="1 Shared St",
            email="anna.alt@example.org",
        )
        b = make_permit(
            "pending",
            name="Bert Bau",
            plate="BE-1",
            address="1 Shared St",
            email="bert@example.org",
        )
        c = make_permit(
            "approved", name="Cleo Cruz", plate="CL-1", address="7 Far Rd", email="cleo@example.org"
        )
        # An earlier permit of Anna's car AN-1 by someone else (a previous owner).
        d = make_permit(
            "revoked", name="Dora Dahl", plate="an 1", address="3 Old Rd", email="dora@example.org"
        )
        admin = db.session.scalar(sa.select(User.id))
        audit.record_read(admin, audit.ReadKind.PAGE, a1.id)
        audit.record_read(admin, audit.ReadKind.API_EVENTS, b.id)
        return {"a1": a1.id, "a2": a2.id, "b": b.id, "c": c.id, "d": d.id}


def _export(runner: Any, *args: str) -> tuple[dict[str, Any], str]:
    result = runner.invoke(args=["residents", "export", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output), result.output


def test_export_by_email_holds_every_row_of_the_person_and_nothing_else(app, runner, admin_headers):
    ids = _people(app)
    held, text = _export(runner, "--email", "  ANNA.ALT@example.ORG ")
    assert [p["id"] for p in held["permits"]] == [ids["a1"], ids["a2"]]
    first = held["permits"][0]
    assert first["name"] == "Anna Alt" and first["license_plate"] == "AN-1"
    assert first["status_now"] == "revoked"
    assert [e["to_status"] for e in first["events"]] == ["pending", "approved", "revoked"]
    assert first["events"][-1]["reason"] == "sold the car"
    assert {n["kind"] for n in first["notifications"]} >= {"received", "approved", "revoked"}
    assert [(r["what"], r["staff"]) for r in first["staff_reads"]] == [
        ("page", "admin@city.example")
    ]
    assert held["permits"][1]["events"] and held["permits"][1]["staff_reads"] == []
    # Bert shares the address, yet nothing of his (name, plate, e-mail, id, the read of his
    # permit) is here; nor anything of Cleo or of the car's earlier owner.
    for other in (
        "Bert",
        "BE-1",
        "bert@",
        ids["b"],
        "Cleo",
        "CL-1",
        ids["c"],
        "Dora",
        ids["d"],
        "api_events",
    ):
        assert other not in text


def test_export_by_plate_in_any_spelling_holds_that_car_s_permits(app, runner, admin_headers):
    ids = _people(app)
    held, text = _export(runner, "--plate", "an-1")
    assert sorted(p["id"] for p in held["permits"]) == sorted([ids["a1"], ids["d"]])
    assert held["query"] == {"plate": "AN1"}
    for other in ("Bert", ids["b"], "Cleo", ids["c"], ids["a2"], "AN-2"):
        assert other not in text


def test_export_of_an_unknown_person_is_empty_and_bad_arguments_fail(app, runner, admin_headers):
    _people(app)
    held, _ = _export(runner, "--email", "nobody@example.org")
    assert held["permits"] == []
    for args in ([], ["--email", "a@b.c", "--plate", "AB1"], ["--plate", "--"], ["--email", " "]):
        result = runner.invoke(args=["residents", "export", *args])
        assert result.exit_code == 2, (args, result.output)


def test_an_anonymised_permit_is_no_longer_found(app, runner):
    from datetime import timedelta

    from permit_service import clock
    from permit_service.services import retention

    with app.app_context():
        clock.advance(-timedelta(days=731))
        try:
            make_permit("revoked", plate="ZZ-9", email="gone@example.org")
        finally:
            clock.advance(timedelta(days=731))
        retention.anonymise_ended()
    assert _export(runner, "--email", "gone@example.org")[0]["permits"] == []
    assert _export(runner, "--plate", "ZZ9")[0]["permits"] == []


def _check(plate_key: str, zone: str = "CITY", permitted: bool = True) -> dict[str, Any]:
    from permit_service.models import utcnow

    now = utcnow()
    return {
        "user_id": 1,
        "plate_key": plate_key,
        "zone": zone,
        "checked_at": now,
        "at": now,
        "permitted": permitted,
    }


def test_the_enforcement_checks_of_the_person_s_cars_are_in_it(app, runner, admin_headers):
    from permit_service.models import EnforcementCheck

    _people(app)
    with app.app_context():
        db.session.execute(
            sa.insert(EnforcementCheck.__table__),
            [_check("AN1"), _check("AN2", permitted=False), _check("BE1"), _check("CL1")],
        )
        db.session.commit()
    by_email, _ = _export(runner, "--email", "anna.alt@example.org")
    assert sorted((c["plate_key"], c["permitted"]) for c in by_email["enforcement_checks"]) == [
        ("AN1", True),
        ("AN2", False),
    ]
    assert all("user_id" not in c for c in by_email["enforcement_checks"])
    by_plate, _ = _export(runner, "--plate", "be 1")
    assert [c["plate_key"] for c in by_plate["enforcement_checks"]] == ["BE1"]
    unknown, _ = _export(runner, "--email", "nobody@example.org")
    assert unknown["enforcement_checks"] == []
