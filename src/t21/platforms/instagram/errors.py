"""Instagram's failures, classified once (PLATFORMS.md §1 and §2 "Errors seen in practice").

Graph's envelope and common codes are read by `platforms.meta.errors`; what is Instagram's own
comes first: the subcode decides (code 4 with subcode 2207051 is a spam refusal, not
throttling), a server code with a subcode is that subcode's failure, code 9007 is media not
ready yet, code 100/33 or `REVOKED_ACCESS_TOKEN` a dead token, 341 and 80000–80014 throttling.
"""

from __future__ import annotations

import re
from typing import ClassVar

from t21.core.outside import OutsideFailure, Permanent, Retryable
from t21.platforms.meta.errors import (
    SERVER_CODES,
    THROTTLE_CODES,
    GraphError,
    GraphErrors,
)

PUBLISHING_LIMIT_SUBCODE = 2207042
# Transient media failures: download timeout, server error, media not found, builder expired,
# media expired, not ready yet, container creation failed, fetch failed, upload errors.
# 2207001 is "Instagram server error. Try again." in Meta's error table (postiz reads it as spam;
# the official table wins).
RETRY_SUBCODES = frozenset(
    {2207001, 2207003, 2207006, 2207008, 2207020, 2207027, 2207032, 2207052, 2207053, 2207082}
)
NOT_READY_CODE = 9007
NOT_READY_AFTER_S = 30.0
_SUBCODE_IN_TEXT = re.compile(r"\b(2207\d{3})\b")


class InstagramErrors(GraphErrors):
    network: ClassVar[str] = "Instagram"
    throttle_codes: ClassVar[frozenset[int]] = THROTTLE_CODES | {341, *range(80000, 80015)}

    def is_server(self, error: GraphError) -> bool:
        # A subcode names the failure more precisely than an unknown/service code.
        return error.code in SERVER_CODES and not error.subcode

    def dead_token(self, error: GraphError) -> bool:
        return (
            super().dead_token(error)
            or (error.code == 100 and error.subcode == 33)
            or "REVOKED_ACCESS_TOKEN" in error.raw
        )

    def specific(self, error: GraphError, message: str) -> OutsideFailure | None:
        if error.subcode == PUBLISHING_LIMIT_SUBCODE:
            # When a slot frees is known only to the caller (it reads the account's posts).
            return Retryable(message, code="publishing_limit")
        if error.subcode in RETRY_SUBCODES:
            after = NOT_READY_AFTER_S if error.subcode == 2207027 else None
            return Retryable(message, after=after, code="media_retry")
        if error.subcode is not None and 2207000 <= error.subcode < 2208000:
            return Permanent(message, code="media_refused")
        if error.code == NOT_READY_CODE and not self.dead_token(error):
            return Retryable(message, after=NOT_READY_AFTER_S, code="not_ready")
        return None


ERRORS = InstagramErrors()
parse = ERRORS.parse
classify = ERRORS.classify


def container_failure(status: str | None) -> OutsideFailure:
    """A container that ended in ERROR: its `status` text carries the subcode."""
    text = status or "the media could not be processed"
    match = _SUBCODE_IN_TEXT.search(text)
    message = f"Instagram could not process the media: {text}"
    if match is not None and int(match.group(1)) in RETRY_SUBCODES:
        return Retryable(message, code="media_retry")
    return Permanent(message, code="media_refused")
