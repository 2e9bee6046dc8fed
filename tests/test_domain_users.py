"""Staff account rules, without an app: roles, e-mail, passwords."""

from __future__ import annotations

import pytest

from permit_service.domain_users import (
    ROLES,
    UserError,
    check_password_strength,
    check_role,
    normalize_user_email,
)


def test_roles_are_admin_viewer_and_enforcer():
    assert ROLES == ("admin", "viewer", "enforcer")
    assert check_role("enforcer") == "enforcer"
    with pytest.raises(UserError, match="Role must be one of: admin, viewer, enforcer."):
        check_role("warden")


def test_user_email_follows_the_domain_rule_and_is_lower_cased():
    assert normalize_user_email("  Chief.Admin@City.Example ") == "chief.admin@city.example"
    for bad in ("no-at-sign", "a@b", "two@@city.example", "x" * 250 + "@city.example"):
        with pytest.raises(UserError):
            normalize_user_email(bad)


@pytest.mark.parametrize("weak", ["short-1", "aaaaaaaaaaaaaaaa", "1234567890123", "abababab1212"])
def test_weak_passwords_are_refused(weak):
    with pytest.raises(UserError):
        check_password_strength(weak)
