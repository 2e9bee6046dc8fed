"""Every string a person reads is marked for translation, and the German catalogue is complete.

Templates: Jinja parses each template with the i18n extension; what `{% trans %}` and `_()` mark
becomes a gettext call, so any word left in the template's own text (outside tags), in a
person-facing attribute (aria-label, title, alt, placeholder) or in a string constant of the
template code is unmarked. Python: the modules that build pages are read with `ast`; prose in a
string literal outside `_()`/`gettext()`/`lazy_gettext()`/`N_()`/`Message()`, a docstring or a
log call is unmarked. Catalogue: the strings extracted today (as `make translations` does) must
each have a German translation that is not fuzzy, nothing in the catalogue may be stale, and
placeholders must match.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from tests.catalogues import PACKAGE, extracted, po_files

TEMPLATES = sorted(PACKAGE.glob("**/templates/**/*.html"))
# Python modules that produce what people read on pages (the API and CLI speak English).
PAGE_MODULES = sorted(
    [
        *PACKAGE.glob("web/*.py"),
        PACKAGE / "errors.py",
        PACKAGE / "i18n.py",
        PACKAGE / "localtime.py",
        # What staff read in the monthly report's PDF (its e-mail: services/reports.py, whose
        # other messages are the API's and the CLI's, in English).
        PACKAGE / "services" / "report_pdf.py",
    ]
)
GETTEXT_CALLS = {"_", "gettext", "ngettext", "lazy_gettext", "_l", "N_", "Message", "pgettext"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{2,}")
PROSE = re.compile(r"[A-Za-z]{2,}[ ,;:]+[A-Za-z]{2,}|^[A-Z][a-z]+\W*$")
PERSON_ATTRIBUTES = re.compile(r'\b(?:aria-label|title|alt|placeholder)="([^"{]*)"')


def _environment() -> Environment:
    env = Environment(extensions=["jinja2.ext.i18n"])  # noqa: S701 - parsing only, nothing rendered
    env.policies["ext.i18n.trimmed"] = True
    return env


def _unmarked_in_template(source: str) -> list[str]:
    """Words in a template that no `{% trans %}` or `_()` marks."""
    pieces: list[str] = []  # the template's own text, in document order
    found: list[str] = []

    def visit(node: nodes.Node, in_gettext: bool) -> None:
        if isinstance(node, nodes.TemplateData):
            pieces.append(node.data)
            return
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and not in_gettext:
            if PROSE.search(node.value):
                found.append(node.value)
            return
        if isinstance(node, nodes.Block) and node.name == "main_class":
            return  # a CSS class name, not text
        pieces.append("\x00")  # an expression or tag: tags may span it
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            in_gettext = in_gettext or node.node.name in GETTEXT_CALLS
        for child in node.iter_child_nodes():
            visit(child, in_gettext)

    visit(_environment().parse(source), False)
    html = "".join(pieces)
    html = re.sub(r"<!--.*?-->|<script\b.*?</script>|<style\b.*?</style>", " ", html, flags=re.S)
    attributes = [a for a in PERSON_ATTRIBUTES.findall(html) if WORD.search(a)]
    text = re.sub(r"<[^>]*>", " ", html)
    text = re.sub(r"&[a-z]+;|&#\d+;", " ", text)
    words = [p.strip() for p in text.split("\x00") if WORD.search(p)]
    return attributes + words + found


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _unmarked_in_python(source: str) -> list[str]:
    """Prose in string literals that is neither marked, a docstring, nor a log message."""
    tree = ast.parse(source)
    exempt: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            exempt.add(id(first.value))  # docstring
        if isinstance(node, ast.Call):
            name = _call_name(node)
            is_log = name in LOG_METHODS and isinstance(node.func, ast.Attribute)
            if name in GETTEXT_CALLS or is_log:
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    exempt.update(id(n) for n in ast.walk(arg))
    found = []
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        # Markup built in Python (web/queue_rows.py) is not prose: its tags, and the pieces of
        # a tag an f-string splits, are dropped; text between tags is still checked.
        prose = re.sub(r"<[^>]*>|<[^>]*$|^[^<]*>", " ", node.value) if is_text else ""
        if is_text and re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", prose):
            found.append(node.value)
    return found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_templates_mark_every_string_a_person_reads(path: Path) -> None:
    assert _unmarked_in_template(path.read_text()) == []


@pytest.mark.parametrize("path", PAGE_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_page_modules_mark_every_string_a_person_reads(path: Path) -> None:
    assert _unmarked_in_python(path.read_text()) == []


def test_the_checks_find_unmarked_strings() -> None:
    # The two scanners above would prove nothing if they found nothing: show that they do.
    template = (
        '<h1>Review queue</h1><p title="Open it">{{ _("Fine") }}</p>'
        "{% set label = 'All permits' %}{% trans %}Marked text{% endtrans %}"
    )
    assert _unmarked_in_template(template) == ["Open it", "Review queue", "All permits"]
    python = (
        'def f():\n    """A docstring is fine."""\n    log.info("log lines are fine")\n'
        '    flash(_("Marked and fine."))\n    flash("Signed in as someone.")\n'
    )
    assert _unmarked_in_python(python) == ["Signed in as someone."]


def test_domain_rules_raise_translatable_messages() -> None:
    # The input rules' messages reach pages: each ValueError carries a domain.Message.
    tree = ast.parse((PACKAGE / "domain.py").read_text())
    raised = [
        node.exc
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and _call_name(node.exc) == "ValueError"
    ]
    assert raised, "no ValueError found: the check proves nothing"
    for call in raised:
        assert call.args and isinstance(call.args[0], ast.Call), ast.unparse(call)
        assert _call_name(call.args[0]) == "Message", ast.unparse(call)


@pytest.mark.parametrize("po", po_files(), ids=lambda p: p.parts[-3])
def test_catalogue_translates_every_string_and_nothing_is_fuzzy_or_stale(po: Path) -> None:
    with po.open("rb") as source:
        catalogue = read_po(source)
    wanted = {m.id for m in extracted() if m.id}
    have = {m.id: m for m in catalogue if m.id}
    missing = sorted(str(i) for i in wanted - have.keys())
    assert not missing, f"not in {po} (run `make translations`): {missing}"
    stale = sorted(str(i) for i in have.keys() - wanted)
    assert not stale, f"no longer used, in {po} (run `make translations`): {stale}"
    fuzzy = sorted(str(i) for i, m in have.items() if m.fuzzy)
    assert not fuzzy, f"fuzzy in {po}: {fuzzy}"
    untranslated = sorted(
        str(i)
        for i, m in have.items()
        if not (all(m.string) if isinstance(m.string, tuple) else m.string)
    )
    assert not untranslated, f"untranslated in {po}: {untranslated}"
    problems = [(str(m.id), [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert not problems, problems


def test_catalogue_has_the_strings_the_pages_use() -> None:
    # A sanity floor: extraction found the templates and the Python code.
    ids = {m.id for m in extracted() if m.id}
    assert "Apply for a residential parking permit" in ids  # a template
    assert "Signed in as %(email)s." in ids  # Python
    assert "Enter the licence plate." in ids  # the domain's N_()
    assert len(ids) > 150
