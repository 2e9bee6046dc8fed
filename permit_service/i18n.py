"""Languages of the pages (Flask-Babel): English and German; the JSON API stays English.

The language is the one the visitor chose with the switch on every page (a cookie), else the
best match of the browser's Accept-Language, else English. Domain messages (domain.Message)
are English strings that remember their template and values; `translate` renders them in the
page's language.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_babel import get_locale, gettext

from permit_service.extensions import babel

# Language code -> its own name (shown in the switch, never translated).
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"
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


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel with our language choice; `{% trans %}` blocks collapse whitespace."""
    babel.init_app(app, locale_selector=select_language)
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.context_processor(lambda: {"page_language": page_language, "languages": LANGUAGES})
