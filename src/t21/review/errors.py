"""The errors of review links."""

from __future__ import annotations

from t21.core.errors import T21Error


class LinkExpired(T21Error):
    """A genuine review link past its time: the sender can make a new one."""

    status = 410
    code = "link_expired"
    title = "Link expired"
