"""The templates' shortcuts (issue 16) give exactly what Flask and Jinja give without them:
`query_url` against `url_for`, the kept `_`/`gettext` against Jinja's newstyle gettext."""

from __future__ import annotations

import pytest
from flask import Flask, url_for
from flask_babel import force_locale
from jinja2.ext import _make_new_gettext

from permit_service.i18n import page_gettext, page_ngettext, page_translations

AWKWARD = [
    "/admin/permits",
    "/admin/permits?status=all&q=ÄÖ ü+1#x",
    "/admin/permits?q=%3Cscript%3E&zone=N/1;a:b@c$d!e'f(g)h*i,j",
    "",
]


@pytest.mark.parametrize("script_root", ["", "/behind/a/proxy"])
@pytest.mark.parametrize("here", AWKWARD)
def test_query_url_is_url_for(app: Flask, script_root: str, here: str) -> None:
    query_url = app.jinja_env.globals["query_url"]
    with app.test_request_context("/admin/permits", environ_base={"SCRIPT_NAME": script_root}):
        for lang in ["en", "de"]:
            assert query_url("web.set_language", lang=lang, next=here) == url_for(
                "web.set_language", lang=lang, next=here
            )
        for zone in [None, "CITY", "A&B"]:
            since = "2026-12-03T12:00:00+00:00"
            assert query_url("admin.new_applications", since=since, zone=zone) == url_for(
                "admin.new_applications", since=since, zone=zone
            )
        assert query_url("admin.queue") == url_for("admin.queue")


@pytest.mark.parametrize("lang", ["en", "de"])
def test_kept_template_gettext_is_jinjas(app: Flask, lang: str) -> None:
    """Rendered through the kept `_` and `gettext`, twice (the second from what was kept), in
    HTML (autoescaped) and in text, the same as Jinja's own newstyle gettext."""
    jinja = app.jinja_env
    own = jinja.overlay()
    own.globals["gettext"] = _make_new_gettext(lambda s: page_translations().ugettext(s))
    own.globals["_"] = own.globals["gettext"]
    source = (
        "{{ _('Review queue') }}|{{ gettext('Sign out') }}|{{ _('100%% sure <b>') }}"
        "|{% trans %}Zones{% endtrans %}|{% trans n=3 %}Page {{ n }}{% endtrans %}"
    )
    with app.test_request_context("/admin/permits", headers={"Cookie": f"lang={lang}"}):
        for autoescape in [True, False]:
            kept = jinja.from_string(
                ("{% autoescape true %}" if autoescape else "")
                + source
                + ("{% endautoescape %}" if autoescape else "")
            )
            plain = own.from_string(
                ("{% autoescape true %}" if autoescape else "")
                + source
                + ("{% endautoescape %}" if autoescape else "")
            )
            assert kept.render() == kept.render() == plain.render()
        with force_locale("de" if lang == "en" else "en"):  # another locale: its own words
            assert (
                jinja.from_string("{{ _('Sign out') }}").render()
                == own.from_string("{{ _('Sign out') }}").render()
            )


def test_page_gettext_is_flask_babels(app: Flask) -> None:
    from flask_babel import gettext, ngettext

    for lang in ["en", "de"]:
        with app.test_request_context("/admin/permits", headers={"Cookie": f"lang={lang}"}):
            assert page_gettext("Whole city") == gettext("Whole city")
            assert page_gettext("%(zone)s (free)", zone="N") == gettext("%(zone)s (free)", zone="N")
            for n in [0, 1, 2, 21]:
                words = ("%(num)d of this plate", "%(num)d of this plate")
                assert page_ngettext(*words, n) == ngettext(*words, n)
                summary = (
                    "Showing %(first)d–%(last)d of %(num)d permit.",
                    "Showing %(first)d–%(last)d of %(num)d permits.",
                )
                assert page_ngettext(*summary, n, first=1, last=2) == ngettext(
                    *summary, n, first=1, last=2
                )
