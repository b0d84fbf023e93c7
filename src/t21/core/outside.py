"""How a call to an outside service (email, a social network, AI, Stripe) can fail.

Each adapter turns its service's failures into exactly one of these classes, once, where it
knows the wire protocol. Callers decide on the class, never on a status code or a message.
"""

from __future__ import annotations


class OutsideFailure(Exception):
    """A call to an outside service did not succeed. `message` is safe to show a user."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.message = message
        self.code = code
        super().__init__(message)


class Retryable(OutsideFailure):
    """Nothing happened; the same call may succeed later (not before `after` seconds if set)."""

    def __init__(
        self, message: str, *, after: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.after = after


class Permanent(OutsideFailure):
    """The service refused the request itself; repeating it will fail the same way."""


class NotPermitted(OutsideFailure):
    """The connection wasn't granted a permission this read needs (one the network gives only
    to approved apps, or that T21 wasn't configured to ask for): nothing was asked, and asking
    again won't help until the account is reconnected with it. Posting may still work."""


class ReauthRequired(OutsideFailure):
    """The credentials are expired, revoked or lack a permission; a person must reconnect."""


class Ambiguous(OutsideFailure):
    """The request may have taken effect (timeout or error after sending): never repeat blindly.

    `reference` is whatever the network already gave that may identify the result (an upload or
    publish id), for reconciliation."""

    def __init__(
        self, message: str, *, code: str | None = None, reference: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.reference = reference
