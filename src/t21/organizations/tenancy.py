"""The authenticated principal of a request, and the one helper that scopes queries to it.

Tenant data is only ever read through `scoped()` (or `scoped_by_parameters()`, its form for a
statement built once): a query that forgets it is a bug. Anything of an
organization the principal doesn't belong to answers 404, never 403, so existence doesn't leak.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from t21.core.db import in_parameters, in_values
from t21.core.errors import Forbidden, NotFound
from t21.identity.models import User
from t21.organizations.models import ApiKey
from t21.organizations.permissions import USER_ONLY, Action, Role, allows

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")

# A model of tenant data: its rows have an `id` and an `organization_id`.
R = TypeVar("R")


class TwoFactorRequired(Forbidden):
    code = "two_factor_required"
    title = "Two-factor sign-in required"

    def __init__(self) -> None:
        super().__init__(
            "This organization requires two-factor sign-in: turn it on with "
            "POST /api/v1/auth/2fa/totp and confirm it."
        )


@dataclass(frozen=True)
class Principal:
    """A signed-in user, or an API key acting for one organization."""

    user: User | None
    api_key: ApiKey | None
    roles: Mapping[uuid.UUID, Role] = field(default_factory=dict)
    personal_organization_id: uuid.UUID | None = None
    # Organizations that require two-factor sign-in while this user hasn't turned it on: they
    # stay listed (with their requirement), but nothing else there is reachable until they do.
    two_factor_locked: frozenset[uuid.UUID] = frozenset()
    # One of T21's operators acting from the console: an owner of the one organization it
    # names, so the domain's own services (and their checks) do the work, and the audit log and
    # the events name the actor as staff.
    staff: bool = False

    @classmethod
    def for_staff(cls, user: User, organization_id: uuid.UUID) -> Principal:
        """A staff member acting in `organization_id` (from the operator console)."""
        assert user.is_staff
        return cls(user=user, api_key=None, roles={organization_id: Role.OWNER}, staff=True)

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.user.id if self.user is not None else None

    @property
    def organization_ids(self) -> list[uuid.UUID]:
        """The organizations the principal may act in (every membership but those locked until
        two-factor sign-in is on)."""
        return [org for org in self.roles if org not in self.two_factor_locked]

    @property
    def membership_ids(self) -> list[uuid.UUID]:
        """Every organization the principal belongs to, locked ones included (for listing)."""
        return list(self.roles)

    @property
    def subject(self) -> str:
        """A stable name for rate limits and idempotency keys."""
        if self.api_key is not None:
            return f"key:{self.api_key.id}"
        assert self.user is not None
        return f"user:{self.user.id}"

    def role_in(self, organization_id: uuid.UUID) -> Role | None:
        return self.roles.get(organization_id)

    def authorize(
        self, organization_id: uuid.UUID, action: Action, *, what: str = "organization"
    ) -> Role:
        """The principal's role in the organization, if it may perform `action` there.

        Not a member (or an API key of another organization): 404 `not_found`. A member whose
        role doesn't allow it, or an API key asking for what only people may do: 403.
        """
        role = self.roles.get(organization_id)
        if role is None:
            raise NotFound(f"No such {what}.")
        if organization_id in self.two_factor_locked:
            raise TwoFactorRequired()
        if self.api_key is not None and action in USER_ONLY:
            raise Forbidden("API keys can't do this; sign in as a member of the organization.")
        if not allows(role, action):
            raise Forbidden(f"Your role ({role.value}) doesn't allow this.")
        return role


def scoped(
    statement: S,
    principal: Principal,
    organization_column: InstrumentedAttribute[uuid.UUID],
) -> S:
    """`statement` restricted to rows of the principal's organizations."""
    restricted: S = statement.where(organization_column.in_(principal.organization_ids))
    return restricted


# The bound parameters that name the principal's organizations in a statement built once.
TENANT_PARAMETER = "tenant"


def scoped_by_parameters(
    statement: S, organization_column: ColumnElement[uuid.UUID], count: int
) -> S:
    """`scoped()` for a statement built once and run for any principal with `count`
    organizations: they are bound at execution, by `tenant_parameters(principal)`."""
    restricted: S = statement.where(in_parameters(organization_column, TENANT_PARAMETER, count))
    return restricted


def tenant_partitions(
    organization_column: ColumnElement[uuid.UUID], count: int
) -> list[ColumnElement[bool]]:
    """One condition per organization of `scoped_by_parameters(..., count)`, e.g. to read a
    page as one indexed walk per organization (`core.pagination.keyset_statement`)."""
    return [
        organization_column == bindparam(f"{TENANT_PARAMETER}_{i}", type_=organization_column.type)
        for i in range(count)
    ]


def tenant_parameters(principal: Principal) -> dict[str, Any]:
    """The values of `scoped_by_parameters` and `tenant_partitions` for `principal`."""
    return in_values(TENANT_PARAMETER, principal.organization_ids)


async def get_scoped(
    session: AsyncSession,
    principal: Principal,
    model: type[R],
    object_id: uuid.UUID,
    *,
    what: str,
    action: Action = Action.READ,
) -> R:
    """The `model` row `object_id` if it belongs to one of the principal's organizations and
    the principal may perform `action` there: else 404 `No such <what>.` (403 for a role that
    doesn't allow `action`)."""
    table = cast(Any, model)
    row = await session.scalar(
        scoped(select(model), principal, table.organization_id).where(table.id == object_id)
    )
    if row is None:
        raise NotFound(f"No such {what}.")
    principal.authorize(cast(Any, row).organization_id, action, what=what)
    return row
