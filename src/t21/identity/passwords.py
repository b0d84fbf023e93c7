"""The password rules: 8 to 128 characters, not a common password, not the email address."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from t21.core.errors import ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 128


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    text = files("t21.identity").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password must have at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in _common():
        return "This password is too common; choose one that is harder to guess."
    if len(set(password)) <= 2:
        return "The password repeats the same characters; choose one that is harder to guess."
    if email:
        address = email.lower()
        if lowered in (address, address.split("@", 1)[0]):
            return "The password must not be your email address."
    return None


def check_password(password: str, email: str | None = None, *, field: str = "password") -> None:
    """Raise a 422 naming `field` when the password breaks a rule."""
    problem = password_problem(password, email)
    if problem is not None:
        raise ValidationFailed(problem, errors=[{"loc": ["body", field], "msg": problem}])
