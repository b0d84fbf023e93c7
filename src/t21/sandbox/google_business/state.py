"""What the Business Profile fake knows: its one signed-in Google person, the business accounts
they manage and the locations of each, the local posts, and the per-location edit log behind
Google's 10 edits a minute."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from t21.sandbox.google_oauth import GoogleNetworkState

PERSON = "112233445566778899001"
DEFAULT_ACCOUNT = "accounts/1100000000000000001"
DEFAULT_LOCATION = "2200000000000000001"
EDITS_PER_MINUTE = 10


@dataclass
class FakeAccount:
    name: str
    account_name: str
    type: str = "PERSONAL"

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accountName": self.account_name,
            "type": self.type,
            "role": "PRIMARY_OWNER",
            "verificationState": "VERIFIED",
            "vettedState": "NOT_VETTED",
        }


@dataclass
class FakeLocation:
    id: str
    account: str
    title: str
    locality: str = "London"

    def view(self, fields: list[str]) -> dict[str, Any]:
        known: dict[str, Any] = {
            "name": f"locations/{self.id}",
            "title": self.title,
            "storefrontAddress": {
                "regionCode": "GB",
                "locality": self.locality,
                "addressLines": ["1 High Street"],
            },
            "metadata": {"mapsUri": f"https://maps.google.com/maps?cid={self.id}"},
        }
        return {name: known[name] for name in fields if name in known}


@dataclass
class FakePost:
    name: str
    location: str
    body: dict[str, Any]
    created_at: float

    def view(self) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.created_at))
        stamp += f".{int(self.created_at % 1 * 1_000_000):06d}Z"
        return {
            **self.body,
            "name": self.name,
            "languageCode": self.body.get("languageCode", "en"),
            "createTime": stamp,
            "updateTime": stamp,
            "state": "LIVE",
            "searchUrl": f"https://local.google.com/place?id={self.location}&use=posts"
            f"&lpsid={self.name.rsplit('/', 1)[-1]}",
        }


def _default_accounts() -> dict[str, FakeAccount]:
    return {DEFAULT_ACCOUNT: FakeAccount(DEFAULT_ACCOUNT, "Sandbox User")}


def _default_locations() -> dict[str, FakeLocation]:
    return {DEFAULT_LOCATION: FakeLocation(DEFAULT_LOCATION, DEFAULT_ACCOUNT, "Sandbox Bakery")}


@dataclass
class GoogleBusinessState(GoogleNetworkState):
    accounts: dict[str, FakeAccount] = field(default_factory=_default_accounts)
    locations: dict[str, FakeLocation] = field(default_factory=_default_locations)
    posts: list[FakePost] = field(default_factory=list)
    edits: dict[str, list[float]] = field(default_factory=dict)
    # Whether T21's project was approved for the Business Profile APIs (else its quota is 0).
    approved: bool = True
    # Whether the photo behind a post's sourceUrl is fetched and checked.
    fetch_photos: bool = True
    # Google's edits a minute per Business Profile; lifted by a test that must meet only the
    # faults it injects.
    edits_per_minute: int = EDITS_PER_MINUTE

    def edit_allowed(self, location: str) -> bool:
        """Count one edit of `location`; False past `edits_per_minute` in the last minute."""
        now = time.time()
        recent = [t for t in self.edits.get(location, []) if now - t < 60]
        if len(recent) >= self.edits_per_minute:
            self.edits[location] = recent
            return False
        self.edits[location] = [*recent, now]
        return True

    def forget_world(self) -> None:
        self.forget_consent()
        self.accounts = _default_accounts()
        self.locations = _default_locations()
        self.posts.clear()
        self.edits.clear()
        self.approved = True
        self.fetch_photos = True
        self.edits_per_minute = EDITS_PER_MINUTE
