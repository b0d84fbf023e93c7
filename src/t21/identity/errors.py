"""Errors of the identity domain."""

from __future__ import annotations

from t21.core.errors import NotAuthenticated, T21Error


class InvalidCredentials(T21Error):
    """Wrong email or password; the same answer whether or not the account exists."""

    status = 401
    code = "invalid_credentials"
    title = "Invalid credentials"

    def __init__(self) -> None:
        super().__init__("The email or the password is wrong.")


class TokenExpired(NotAuthenticated):
    code = "token_expired"
    title = "Access token expired"

    def __init__(self) -> None:
        super().__init__("The access token has expired; refresh it.")


class InvalidSecondFactor(T21Error):
    """A wrong, reused or expired authenticator code or recovery code."""

    status = 401
    code = "invalid_second_factor"
    title = "Invalid second factor"


class ChallengeInvalid(T21Error):
    """The sign-in's second step is unknown, used, expired or ended by too many wrong codes."""

    status = 401
    code = "challenge_invalid"
    title = "Sign-in challenge invalid"

    def __init__(self) -> None:
        super().__init__("This sign-in step has expired or was used; sign in again.")
