"""Changes to what authenticated principals are made of, recorded in the transaction that makes
them and applied to the principal caches when it commits (see `organizations.principal_cache`),
and to the other things an API process remembers for as long as a principal (which
organizations have no webhook endpoint, `webhooks.fanout.QuietOrganizations`; the brands and
accounts a draft was checked against, `posts.known.KnownBrands`): one channel across
processes for all.

Most are seen by the cache's flush hook; code that changes them in bulk, where no hook can
tell whose principal it touched, says so with `principals_changed`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

CHANGES_KEY = "t21_principal_changes"
# The share of the TTL, at the end of a kept entry's life, in which one caller reads afresh
# while the others are still served from it: an entry in steady use is renewed before it
# expires, not dropped under every request in flight at once.
REFRESH_WITHIN = 0.2


@dataclass
class PrincipalChanges:
    """What a transaction changed: users and organizations whose principals are stale, or all."""

    users: set[uuid.UUID] = field(default_factory=set)
    organizations: set[uuid.UUID] = field(default_factory=set)
    everything: bool = False
    # Organizations whose webhook endpoints changed (one added, enabled, edited): no principal
    # changes with them.
    endpoints: set[uuid.UUID] = field(default_factory=set)
    # Organizations whose brands or social accounts changed, or (`all_brands`) any of them (a
    # bulk statement): no principal changes with them either.
    brands: set[uuid.UUID] = field(default_factory=set)
    all_brands: bool = False

    def __bool__(self) -> bool:
        return (
            self.everything
            or self.all_brands
            or bool(self.users or self.organizations or self.endpoints or self.brands)
        )

    @property
    def principals(self) -> bool:
        """Whether principals changed (not only webhook endpoints)."""
        return self.everything or bool(self.users or self.organizations)

    def to_json(self) -> str:
        return json.dumps(
            {
                "users": [str(u) for u in self.users],
                "organizations": [str(o) for o in self.organizations],
                "all": self.everything,
                "endpoints": [str(o) for o in self.endpoints],
                "brands": [str(o) for o in self.brands],
                "all_brands": self.all_brands,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> PrincipalChanges:
        data = json.loads(raw)
        return cls(
            users={uuid.UUID(u) for u in data.get("users", [])},
            organizations={uuid.UUID(o) for o in data.get("organizations", [])},
            everything=bool(data.get("all", False)),
            endpoints={uuid.UUID(o) for o in data.get("endpoints", [])},
            brands={uuid.UUID(o) for o in data.get("brands", [])},
            all_brands=bool(data.get("all_brands", False)),
        )


def principals_changed(
    session: Session | Any,
    *,
    users: Iterable[uuid.UUID] = (),
    organizations: Iterable[uuid.UUID] = (),
    everything: bool = False,
) -> None:
    """Record, in `session`'s transaction, a change the flush hook can't see (a bulk update of
    refresh tokens): the principals concerned are dropped when it commits."""
    sync_session: Session = getattr(session, "sync_session", session)
    changes = pending_changes(sync_session)
    changes.users.update(users)
    changes.organizations.update(organizations)
    changes.everything = changes.everything or everything


def pending_changes(session: Session) -> PrincipalChanges:
    """The changes recorded so far in `session`'s transaction."""
    changes: PrincipalChanges | None = session.info.get(CHANGES_KEY)
    if changes is None:
        changes = session.info[CHANGES_KEY] = PrincipalChanges()
    return changes
