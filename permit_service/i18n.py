"""Languages of the pages (Flask-Babel): English and German; the JSON API stays English.

The language is the one the visitor chose with the switch on every page (a cookie), else the
best match of the browser's Accept-Language, else English. Domain messages (domain.Message)
are English strings that remember their template and values; `translate` renders them in the
page's language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask_babel import get_locale, get_translations, gettext
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from permit_service.extensions import babel

# Language code -> its own name (shown in the switch, never translated).
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"
T = TypeVar("T")
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


def select_language() -> str:
    """The page language of this request: API English; else the cookie, then Accept-Language."""
    from permit_service.errors import API_BLUEPRINTS

    if request.blueprint in current_app.extensions.get(API_BLUEPRINTS, ()):
        return DEFAULT_LANGUAGE
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE


def translate(message: str) -> str:
    """A domain message in the page's language (other strings are returned as they are)."""
    template = getattr(message, "template", None)
    if template is None:
        return message
    return gettext(template, **getattr(message, "params", {}))


def page_language() -> str:
    """The language code of the page being rendered ("en", "de"), for `<html lang>`."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else "en"


def page_translations() -> Any:
    """Flask-Babel's translations of the request's locale, looked up once per locale.

    Flask-Babel finds them anew for every string (the request context, the domain, the locale,
    a cache key made of the locale's name): a queue page asks some sixty times (issue 17). They
    are kept on Flask-Babel's own per-request namespace next to the locale they belong to; a
    `force_locale` block (e-mails in the resident's language) sets another locale object, so
    the identity check looks them up again for it, and again after it.
    """
    ctx = g.get("_flask_babel")
    if ctx is not None:
        kept = getattr(ctx, "permit_translations", None)
        locale = getattr(ctx, "babel_locale", None)
        if kept is not None and locale is not None and kept[0] is locale:
            return kept[1]
    translations = get_translations()
    ctx = g.get("_flask_babel")
    locale = getattr(ctx, "babel_locale", None) if ctx is not None else None
    if locale is not None:
        ctx.permit_translations = (locale, translations)
    return translations


def page_gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's `gettext`, with the page's translations looked up once per request
    (`page_translations`): the same text, without Flask-Babel's lookup per string."""
    text = page_translations().ugettext(string)
    return text % variables if variables else text


def page_ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Flask-Babel's `ngettext` (`%(num)d` is the number), as `page_gettext`."""
    variables.setdefault("num", num)
    return page_translations().ungettext(singular, plural, num) % variables


def per_language(build: Callable[[], T]) -> Callable[[], T]:
    """`build()` (words of a page, translated) once per language, then kept: the catalogues do
    not change while the process runs. Kept with the translations object and the locale it was
    built for, so another app (tests) or a `force_locale` block builds its own."""
    kept: dict[int, tuple[Any, Any, T]] = {}

    def words() -> T:
        translations = page_translations()
        locale = get_locale()
        entry = kept.get(id(translations))
        if entry is None or entry[0] is not translations or entry[1] != locale:
            if len(kept) > 100:  # a server has two languages; test apps come and go
                kept.clear()
            entry = kept[id(translations)] = (translations, locale, build())
        return entry[2]

    return words


def _kept_template_gettext(general: Callable[..., Any]) -> Callable[..., Any]:
    """The templates' `_` and `gettext`: Jinja's newstyle gettext (`general`), except that a
    string without values is looked up once per language and autoescape setting and kept.

    Through Jinja, `{{ _('Zones') }}` is three calls deep (the `_` alias, the newstyle wrapper,
    our lookup), then a Markup and its `%` formatting: a queue page has some forty (issue 16).
    What is kept is exactly what `general` returns for the same string (it is called once to
    make it), for the translations object of the page's locale (`page_translations`: a
    `force_locale` block or another app has its own)."""
    kept: dict[int, tuple[Any, dict[tuple[str, bool], str]]] = {}

    @pass_context
    def template_gettext(context: Context, string: str, **variables: Any) -> str:
        if variables:
            return general(context, string, **variables)
        # One render is in one locale (a `force_locale` block renders its own templates, with
        # their own contexts): the words are found once per render, kept on its context.
        words = getattr(context, "_permit_words", None)
        if words is None:
            translations = page_translations()
            entry = kept.get(id(translations))
            if entry is None or entry[0] is not translations:
                if len(kept) > 100:  # a server has two languages; test apps come and go
                    kept.clear()
                entry = kept[id(translations)] = (translations, {})
            words = context._permit_words = entry[1]  # type: ignore[attr-defined]
        key = (string, context.eval_ctx.autoescape)
        text = words.get(key)
        if text is None:
            text = general(context, string)
            if isinstance(string, str) and type(text) in (str, Markup) and len(words) < 5000:
                words[key] = text
        return text

    return template_gettext


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel with our language choice; `{% trans %}` blocks collapse whitespace."""
    babel.init_app(app, locale_selector=select_language)
    # Flask-Babel's own callables, with the translations looked up once per locale.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
    )
    fast = _kept_template_gettext(app.jinja_env.globals["gettext"])
    app.jinja_env.globals.update(gettext=fast, _=fast)
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.context_processor(lambda: {"page_language": page_language, "languages": LANGUAGES})
