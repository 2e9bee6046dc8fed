"""Short references: readable aloud, unambiguous, parsed from what people type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from permit_service.references import (
    ALPHABET,
    REFERENCE_RE,
    SPACE,
    format_reference,
    new_reference,
    parse_reference,
)


def test_the_alphabet_has_no_characters_that_are_misread():
    assert not set("O0I1") & set(ALPHABET)
    assert len(set(ALPHABET)) == 32 and SPACE == 2**30


def test_new_references_have_the_published_shape():
    for _ in range(200):
        assert REFERENCE_RE.fullmatch(new_reference())


@given(st.integers(min_value=0, max_value=SPACE - 1))
def test_every_number_has_its_own_reference_and_any_spelling_finds_it(number):
    ref = format_reference(number)
    assert REFERENCE_RE.fullmatch(ref)
    code = ref[2:].replace("-", "")
    for typed in [
        ref,
        ref.lower(),
        f"  {ref} ",
        code,
        code.lower(),
        "p" + code,
        f"P {code[:4]} {code[4:]}",
    ]:
        assert parse_reference(typed) == ref


@pytest.mark.parametrize(
    "text", ["", "P-", "P-7K3M-Q", "P-7K3M-Q99", "P-OK3M-Q9", "P-7K1M-Q9", "ABC-123"]
)
def test_what_is_not_a_reference_is_none(text):
    assert parse_reference(text) is None
