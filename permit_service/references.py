"""Short permit references for phone calls and letters: P-7K3M-Q9. No Flask, no SQLAlchemy.

Six characters from 32 that cannot be misread aloud or on paper (no O/0, no I/1): 2**30
references, drawn at random (secrets), so they say nothing about how many permits exist. The
database's unique index is the final word; a clash simply draws again (services.permits).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 6
SPACE = len(ALPHABET) ** LENGTH  # 2**30
REFERENCE_RE = re.compile(rf"^P-[{ALPHABET}]{{4}}-[{ALPHABET}]{{2}}$")
# What people type: any case, with or without the P and the hyphens, blanks around it.
_LOOSE_RE = re.compile(r"^\s*(?:P[-\s]?)?([0-9A-Z]{4})[-\s]?([0-9A-Z]{2})\s*$", re.IGNORECASE)


def format_reference(number: int) -> str:
    """The reference of `number` (0 <= number < SPACE): six characters as P-XXXX-XX."""
    if not 0 <= number < SPACE:
        raise ValueError("reference number out of range")
    chars = []
    for _ in range(LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    code = "".join(reversed(chars))
    return f"P-{code[:4]}-{code[4:]}"


def new_reference() -> str:
    """A random reference (collisions are possible: the database refuses them)."""
    return format_reference(secrets.randbelow(SPACE))


def parse_reference(text: str) -> str | None:
    """The canonical reference typed in `text` (any case, hyphens optional), or None."""
    match = _LOOSE_RE.match(text or "")
    if match is None:
        return None
    code = (match.group(1) + match.group(2)).upper()
    if any(ch not in ALPHABET for ch in code):
        return None
    return f"P-{code[:4]}-{code[4:]}"
