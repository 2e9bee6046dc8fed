"""Staff pages of an anonymised permit: it is still listed and opened, without anyone's data."""

from __future__ import annotations

from datetime import timedelta

from permit_service import clock
from permit_service.services import retention
from tests.factories import make_permit


def _anonymised(app):
    with app.app_context():
        clock.advance(-timedelta(days=731))
        try:
            permit = make_permit(
                "revoked",
                name="Anna Alt",
                plate="AN-1",
                address="1 Linden St",
                email="anna@example.org",
                reason="moved away",
            )
        finally:
            clock.advance(timedelta(days=731))
        assert retention.anonymise_ended().permits == 1
        return permit.id, permit.reference


def test_queue_lists_it_with_a_link_and_no_data(app, admin_client):
    pid, reference = _anonymised(app)
    html = admin_client.get("/admin/permits?status=revoked").get_data(as_text=True)
    assert reference in html and f"/admin/permits/{pid}" in html
    for word in ("Anna", "AN-1", "Linden"):
        assert word not in html


def test_its_staff_page_says_anonymised_in_both_languages(app, admin_client):
    pid, reference = _anonymised(app)
    html = admin_client.get(f"/admin/permits/{pid}").get_data(as_text=True)
    assert "Anonymised permit" in html and "Removed on" in html
    for word in ("Anna", "AN-1", "Linden", "anna@", "moved away"):
        assert word not in html
    html = admin_client.get(f"/admin/permits/{pid}", headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
    assert "Anonymisierter Ausweis" in html
    receipt = admin_client.get(f"/applications/{pid}", headers={"Accept-Language": "de"})
    assert "Persönliche Angaben gelöscht" in receipt.get_data(as_text=True)
