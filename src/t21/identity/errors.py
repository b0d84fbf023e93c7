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
