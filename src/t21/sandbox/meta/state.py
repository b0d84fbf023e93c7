"""The part of a Meta fake's world that doesn't depend on the network: T21's app, authorization
codes, 1 h and 60-day tokens, Graph-like ids and trace ids, and the knobs tests turn through
`/_control/config` (the publishing quota, how many status reads a container processes for, how
old a token must be to refresh, scopes the person withholds)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from t21.platforms.registry import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from t21.sandbox.oauth import ControlError, optional
from t21.sandbox.platform import IssuedToken, NetworkState

SHORT_TOKEN_TTL_S = 3600
LONG_TOKEN_TTL_S = 5_184_000  # 60 days
QUOTA_WINDOW_S = 86_400
REFRESH_MIN_AGE_S = 86_400.0


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    account_id: str
    scopes: frozenset[str]
    issued_at: float
    used: bool = False


def default_clients() -> dict[str, str]:
    return {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET}


@dataclass
class GraphState(NetworkState):
    """A Graph network's login world and knobs; the network adds its accounts and posts."""

    # How the network's tokens start (short-lived, long-lived), its trace ids, its ids' width.
    token_prefixes: ClassVar[tuple[str, str]]
    trace_prefix: ClassVar[str]
    id_digits: ClassVar[int]
    default_quota: ClassVar[int]

    clients: dict[str, str] = field(default_factory=default_clients)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    long_lived: set[str] = field(default_factory=set)
    sequence: int = 0
    # Knobs (POST /_control/config); a network sets `quota_total` to its `default_quota`.
    quota_total: int = 0
    processing_polls: int = 0
    refresh_min_age_s: float = REFRESH_MIN_AGE_S
    withheld_scopes: set[str] = field(default_factory=set)

    def next_id(self, prefix: str) -> str:
        """Graph-like numeric ids, deterministic from a reset."""
        self.sequence += 1
        return f"{prefix}{self.sequence:0{self.id_digits}d}"

    def trace(self) -> str:
        return self.trace_prefix + hashlib.sha256(str(self.sequence).encode()).hexdigest()[:20]

    def config(self) -> dict[str, Any]:
        return {
            "quota_total": self.quota_total,
            "processing_polls": self.processing_polls,
            "refresh_min_age_s": self.refresh_min_age_s,
            "withheld_scopes": sorted(self.withheld_scopes),
        }

    def configure(self, body: dict[str, Any]) -> None:
        """`POST /_control/config` for the knobs every Graph fake has."""
        quota = optional(body, "quota_total", int)
        if quota is not None:
            if quota < 1:
                raise ControlError(
                    f"`quota_total` must be positive (the network's is {self.default_quota})."
                )
            self.quota_total = quota
        polls = optional(body, "processing_polls", int)
        if polls is not None:
            if polls < 0:
                raise ControlError("`processing_polls` can't be negative.")
            self.processing_polls = polls
        age = body.get("refresh_min_age_s")
        if age is not None:
            if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
                raise ControlError("`refresh_min_age_s` must be a non-negative number.")
            self.refresh_min_age_s = float(age)
        withheld = optional(body, "withheld_scopes", list)
        if withheld is not None:
            self.withheld_scopes = {str(name) for name in withheld}

    def issue_token(
        self, account_id: str, client_id: str, scopes: frozenset[str], *, long: bool
    ) -> IssuedToken:
        short_prefix, long_prefix = self.token_prefixes
        token = self.issue(
            "access",
            account_id=account_id,
            client_id=client_id,
            scopes=scopes,
            ttl_s=LONG_TOKEN_TTL_S if long else SHORT_TOKEN_TTL_S,
            prefix=long_prefix if long else short_prefix,
        )
        if long:
            self.long_lived.add(token.value)
        return token

    def reset(self) -> None:
        super().reset()
        self.clients = default_clients()
        self.codes.clear()
        self.long_lived.clear()
        self.sequence = 0
        self.quota_total = self.default_quota
        self.processing_polls = 0
        self.refresh_min_age_s = REFRESH_MIN_AGE_S
        self.withheld_scopes = set()


def now() -> float:
    return time.time()
