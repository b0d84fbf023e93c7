"""Email templates: `<name>.subject.txt`, `<name>.txt` and `<name>.html` in `templates/`.

HTML is autoescaped; a variable the template uses but the caller did not give is an error,
not an empty string, so a broken email is caught when it is queued rather than read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound, select_autoescape

from t21.core.settings import Settings

PRODUCT_NAME = "T21"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


def duration(seconds: int | float) -> str:
    """'7 days', '1 hour', '30 minutes': the largest whole unit, for "expires in ..."."""
    seconds = int(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("t21.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["duration"] = duration
    return environment


def render_email(name: str, context: dict[str, Any], settings: Settings) -> RenderedEmail:
    """Render template `name` with `context` plus the product name and the public URLs."""
    env = _environment()
    values = {
        "product": PRODUCT_NAME,
        "frontend_url": settings.resolved_frontend_url,
        "public_url": settings.resolved_public_url,
        **context,
    }
    subject = env.get_template(f"{name}.subject.txt").render(values)
    text = env.get_template(f"{name}.txt").render(values)
    try:
        html: str | None = env.get_template(f"{name}.html").render(values)
    except TemplateNotFound:
        html = None
    # A subject is one line, whatever the template's whitespace.
    return RenderedEmail(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)
