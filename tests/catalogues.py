"""The pages' message catalogues for tests: compile stale .po files, extract the current strings."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "permit_service"
TRANSLATIONS = PACKAGE / "translations"
# As the Makefile's `translations` target: pybabel's default keywords plus these.
KEYWORDS = ("_l", "lazy_gettext")


def po_files() -> list[Path]:
    """Every language's catalogue source."""
    return sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def compile_stale() -> None:
    """Compile each .po whose .mo is missing or older (what `make test` did, for bare pytest)."""
    for po in po_files():
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source)
        with mo.open("wb") as target:
            write_mo(target, catalog)


def extracted() -> Catalog:
    """The strings marked for translation in the package today (as `make translations`)."""
    from babel.messages.extract import DEFAULT_KEYWORDS

    keywords = dict(DEFAULT_KEYWORDS) | {k: None for k in KEYWORDS}
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options = parse_mapping_cfg(cfg)
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), method_map=method_map, options_map=options, keywords=keywords
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog
