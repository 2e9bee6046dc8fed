"""The seed's example works on every backend."""

from tests.conftest import apply


def test_seed_application_is_pending(client):
    permit = apply(client)
    assert permit["status"] == "pending"
    assert permit["license_plate"] == "ABC-123"
