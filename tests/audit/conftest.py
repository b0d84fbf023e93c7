"""The audit-log tests reuse the organization tests' `team` and the social tests' `world`."""

from tests.organizations.conftest import team, team_snapshot
from tests.social.conftest import sandbox, world

__all__ = ["sandbox", "team", "team_snapshot", "world"]
