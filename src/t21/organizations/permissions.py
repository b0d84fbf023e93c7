"""Who may do what in an organization: the one table of roles and permissions.

Every check in T21 asks `allows(role, action)`; no other module compares roles.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def outranks(self, other: Role) -> bool:
        return self.rank > other.rank


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Action(StrEnum):
    READ = "read"  # the organization, its members, brands, posts, media, analytics
    WRITE_CONTENT = "write_content"  # posts, media, templates; AI generation
    READ_EVENTS = "read_events"  # the event log and its live stream
    MANAGE_BRANDS = "manage_brands"
    MANAGE_SOCIAL_ACCOUNTS = "manage_social_accounts"
    UPDATE_ORGANIZATION = "update_organization"  # rename
    MANAGE_MEMBERS = "manage_members"  # invite, change and remove members below one's own role
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_WEBHOOKS = "manage_webhooks"  # endpoints, their secrets and deliveries
    MANAGE_BILLING = "manage_billing"
    DELETE_ORGANIZATION = "delete_organization"
    # Approve or reject posts of brands that require approval, and hand out review links.
    APPROVE_POSTS = "approve_posts"
    READ_AUDIT_LOG = "read_audit_log"  # who did what, and its export


# The weakest role allowed to perform each action.
MINIMUM_ROLE: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.WRITE_CONTENT: Role.MEMBER,
    Action.READ_EVENTS: Role.MEMBER,
    Action.MANAGE_BRANDS: Role.ADMIN,
    Action.MANAGE_SOCIAL_ACCOUNTS: Role.ADMIN,
    Action.UPDATE_ORGANIZATION: Role.ADMIN,
    Action.MANAGE_MEMBERS: Role.ADMIN,
    Action.MANAGE_API_KEYS: Role.ADMIN,
    Action.MANAGE_WEBHOOKS: Role.ADMIN,
    Action.MANAGE_BILLING: Role.OWNER,
    Action.DELETE_ORGANIZATION: Role.OWNER,
    Action.APPROVE_POSTS: Role.ADMIN,
    Action.READ_AUDIT_LOG: Role.ADMIN,
}

# Actions an API key may never perform, whatever its role: administering who and what can act
# for the organization stays with people.
USER_ONLY: frozenset[Action] = frozenset(
    {
        Action.MANAGE_MEMBERS,
        Action.MANAGE_API_KEYS,
        Action.MANAGE_BILLING,
        Action.DELETE_ORGANIZATION,
    }
)


def allows(role: Role, action: Action) -> bool:
    return role.rank >= MINIMUM_ROLE[action].rank


def may_grant(granter: Role, role: Role) -> bool:
    """Whether someone with `granter` may give (invite to, change to, create a key with) `role`:
    owners grant any role; others only roles below their own."""
    if granter is Role.OWNER:
        return True
    return allows(granter, Action.MANAGE_MEMBERS) and granter.outranks(role)


def may_create_key(creator: Role, role: Role) -> bool:
    """Whether `creator` may create an API key acting with `role`: up to their own role (a key
    never manages members or keys, see `USER_ONLY`), except that only owners make owner keys."""
    if not allows(creator, Action.MANAGE_API_KEYS):
        return False
    return creator is Role.OWNER or (not role.outranks(creator) and role is not Role.OWNER)


def may_manage(manager: Role, target: Role) -> bool:
    """Whether `manager` may change or remove a member who has `target`: owners manage anyone;
    admins manage members below them."""
    if manager is Role.OWNER:
        return True
    return allows(manager, Action.MANAGE_MEMBERS) and manager.outranks(target)
