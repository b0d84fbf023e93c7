"""What a post's checks read of the database: the brand, the accounts and the media it names,
scoped to the principal's organizations, in as few statements as the data allows (a create's
brand and accounts in one, `brand_and_known`; on the driver's connection, `brand_and_known_on`,
which an API process answers from `KnownBrands` when it read the same a moment ago)."""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.sql.base import Executable

from t21.brands.models import Brand
from t21.core.db import in_list, in_parameters, is_postgres, list_shape, list_values, watch_writes
from t21.core.errors import NotFound
from t21.core.prepared import PooledDriver
from t21.core.principal_changes import REFRESH_WITHIN, PrincipalChanges, pending_changes
from t21.core.rows import row_object
from t21.media.models import MediaAsset
from t21.organizations.permissions import Action
from t21.organizations.tenancy import (
    TENANT_PARAMETER,
    Principal,
    get_scoped,
    scoped,
    scoped_by_parameters,
    tenant_parameters,
)
from t21.posts.schemas import TargetIn
from t21.social.models import AccountStatus, SocialAccount


@dataclass(frozen=True)
class Known:
    """Accounts and media already read from the database, by id: checking many posts of one
    brand (an import) reads them once for all instead of once per post."""

    accounts: dict[uuid.UUID, SocialAccount]
    assets: dict[uuid.UUID, MediaAsset]


async def known_of(
    session: AsyncSession,
    principal: Principal,
    account_ids: Collection[uuid.UUID],
    media_ids: Collection[uuid.UUID],
) -> Known:
    """The accounts and media of these ids that the principal's organizations hold."""
    accounts: dict[uuid.UUID, SocialAccount] = {}
    assets: dict[uuid.UUID, MediaAsset] = {}
    for chunk in _chunks(list(account_ids)):
        for account in await session.scalars(
            scoped(select(SocialAccount), principal, SocialAccount.organization_id).where(
                SocialAccount.id.in_(chunk)
            )
        ):
            accounts[account.id] = account
    for chunk in _chunks(list(media_ids)):
        for asset in await session.scalars(
            scoped(select(MediaAsset), principal, MediaAsset.organization_id).where(
                MediaAsset.id.in_(chunk)
            )
        ):
            assets[asset.id] = asset
    return Known(accounts=accounts, assets=assets)


async def brand_and_known(
    session: AsyncSession,
    principal: Principal,
    brand_id: uuid.UUID,
    action: Action,
    media_ids: Sequence[uuid.UUID],
    wanted: Sequence[TargetIn],
) -> tuple[Brand, Known]:
    """`get_brand(brand_id, action)` and what `checked_content` reads of the accounts and
    media of `wanted` and `media_ids`, the brand and the accounts in one statement (the
    brand's row with each wanted account of the principal's organizations joined, or with
    none): a post's create reads them in one round trip instead of two. The media, if any, in
    a second."""
    account_ids = {target.social_account_id for target in wanted}
    media_ids = [*media_ids, *thread_media_ids(wanted)]
    if not account_ids or len(account_ids) > _CHUNK:
        brand = await get_scoped(session, principal, Brand, brand_id, what="brand", action=action)
        return brand, await known_of(session, principal, account_ids, media_ids)
    postgres = is_postgres(session)
    statement = _brand_and_accounts(postgres, len(principal.organization_ids), len(account_ids))
    parameters = _brand_and_accounts_parameters(principal, brand_id, account_ids, postgres)
    rows = (await session.execute(statement, parameters)).all()
    brand, known = _brand_and_known_of(rows, principal, action)
    if media_ids:
        known = Known(known.accounts, (await known_of(session, principal, (), media_ids)).assets)
    return brand, known


async def brand_and_known_on(
    driver: PooledDriver,
    principal: Principal,
    brand_id: uuid.UUID,
    action: Action,
    wanted: Sequence[TargetIn],
    kept: KnownBrands | None = None,
) -> tuple[Brand, Known]:
    """`brand_and_known` for a post without media (`one_statement`) on the driver's
    connection (PostgreSQL): the same statement's columns, made into objects that belong to
    no session; from `kept` (an API process's `KnownBrands`) when it holds them."""
    account_ids = frozenset(target.social_account_id for target in wanted)
    generation = 0
    if kept is not None:
        hit = kept.get(principal, brand_id, account_ids)
        if hit is not None:
            principal.authorize(hit[0].organization_id, action, what="brand")
            return hit
        generation = kept.generation
    statement = _brand_and_accounts(True, len(principal.organization_ids), len(account_ids), True)
    parameters = _brand_and_accounts_parameters(principal, brand_id, account_ids, True)
    rows = [_brand_and_account(row) for row in await driver.fetch(statement, parameters)]
    brand, known = _brand_and_known_of(rows, principal, action)
    if kept is not None:
        kept.remember(brand, known, account_ids, generation)
    return brand, known


@dataclass(frozen=True, slots=True)
class _Kept:
    brand: Brand
    accounts: dict[uuid.UUID, SocialAccount]
    until: float  # the cache's monotonic clock


class KnownBrands:
    """Brands and the accounts drafts of them target, as `brand_and_known_on` read them a
    moment ago, by (brand, accounts): the next draft of a brand to the same accounts is
    checked without reading them again (the SELECT and its objects, ~0.2 ms of CPU, 2026-12-07).

    Kept in API processes beside the principal cache, and dropped as it is (as
    `webhooks.fanout.QuietOrganizations`): an organization's entries go when a transaction
    that changed one of its brands or social accounts commits (seen by the flush hook; any bulk
    statement on either table drops them all; a change to the workers' bookkeeping columns of
    accounts alone drops nothing), at once in the process that made the change, in the other
    API processes through the principal cache's Redis channel, on which worker processes
    announce theirs too (an account marked for reconnecting when its tokens fail). An entry
    lives `ttl_s` (the principal cache's TTL) at most: the bound for a message lost. In the
    last fifth of its life one caller is told to read the brand and accounts again (and keeps
    what it finds, if it passes) while the others are still served from the entry.
    Only a read that found the brand and every account, active and of that brand, is kept: a
    refusal is read afresh each time. A read made while such a change committed is not kept
    (a generation counter). An entry answers a principal of the brand's organization only;
    another's request is read from the database, and answered as it always was (404)."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.generation = 0
        # Replaceable in tests, to show the bound without waiting it out.
        self.monotonic = time.monotonic
        self._entries: dict[tuple[uuid.UUID, frozenset[uuid.UUID]], _Kept] = {}
        # Entries one caller was told to read again.
        self._renewing: set[tuple[uuid.UUID, frozenset[uuid.UUID]]] = set()

    def get(
        self, principal: Principal, brand_id: uuid.UUID, account_ids: frozenset[uuid.UUID]
    ) -> tuple[Brand, Known] | None:
        key = (brand_id, account_ids)
        entry = self._entries.get(key)
        if entry is None:
            return None
        left = entry.until - self.monotonic()
        if left <= 0:
            del self._entries[key]
            self._renewing.discard(key)
            return None
        if entry.brand.organization_id not in principal.organization_ids:
            return None
        if left <= self.ttl_s * REFRESH_WITHIN and key not in self._renewing:
            self._renewing.add(key)
            return None  # this caller reads them again, and keeps what it finds
        return entry.brand, Known(accounts=dict(entry.accounts), assets={})

    def remember(
        self, brand: Brand, known: Known, account_ids: frozenset[uuid.UUID], generation: int
    ) -> None:
        """Keep what was read at `generation`, if nothing changed since and all was usable; a
        read that found them unusable drops what was kept of them (a change no message told)."""
        if generation != self.generation:
            return
        key = (brand.id, account_ids)
        accounts = known.accounts
        usable = accounts.keys() == account_ids and all(
            account.brand_id == brand.id
            and account.organization_id == brand.organization_id
            and account.status is AccountStatus.ACTIVE
            for account in accounts.values()
        )
        if not usable:
            self.drop(*key)
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
            self._renewing.clear()
        until = self.monotonic() + self.ttl_s
        self._entries[key] = _Kept(brand, dict(accounts), until)
        self._renewing.discard(key)

    def drop(self, brand_id: uuid.UUID, account_ids: frozenset[uuid.UUID]) -> None:
        """Read these again next time (a write that relied on them was refused)."""
        self._entries.pop((brand_id, account_ids), None)
        self._renewing.discard((brand_id, account_ids))

    def forget(self, changes: PrincipalChanges) -> None:
        """Apply committed changes (a follower of the principal cache)."""
        organizations = changes.brands | changes.organizations
        if not (changes.everything or changes.all_brands or organizations):
            return
        self.generation += 1
        if changes.everything or changes.all_brands:
            self._entries.clear()
            self._renewing.clear()
            return
        stale = [
            key
            for key, entry in self._entries.items()
            if entry.brand.organization_id in organizations
        ]
        for key in stale:
            del self._entries[key]
            self._renewing.discard(key)

    def __len__(self) -> int:
        return len(self._entries)

    def install(self, engine: Engine) -> None:
        """Serve the creates on `engine`'s connections (an API process's)."""
        _known_brands[engine] = self

    def uninstall(self, engine: Engine) -> None:
        if _known_brands.get(engine) is self:
            del _known_brands[engine]


_known_brands: weakref.WeakKeyDictionary[Engine, KnownBrands] = weakref.WeakKeyDictionary()


def known_brands_of(engine: AsyncEngine) -> KnownBrands | None:
    """The `KnownBrands` of `engine`'s API process, if it keeps one."""
    return _known_brands.get(engine.sync_engine)


_BRAND_TABLES = frozenset({Brand.__tablename__, SocialAccount.__tablename__})
# Account columns no draft's check reads: the tokens and the workers' bookkeeping (refresh
# claims and dates, errors, rate-limit holds, metrics notes). A change to these alone, which
# workers make all day, leaves what API processes keep as it is.
_ACCOUNT_BOOKKEEPING = frozenset(
    {
        "access_token_encrypted",
        "refresh_token_encrypted",
        "dpop_key_encrypted",
        "token_expires_at",
        "refresh_expires_at",
        "last_refreshed_at",
        "last_error",
        "refresh_claimed_until",
        "refresh_due_at",
        "reauth_notified_at",
        "expiry_warned_at",
        "metrics_unavailable",
        "rate_limited_until",
    }
)


def _bookkeeping_only(obj: SocialAccount, session: Session) -> bool:
    if obj in session.new or obj in session.deleted:
        return False
    state = sa_inspect(obj)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    return changed <= _ACCOUNT_BOOKKEEPING


@sa_event.listens_for(Session, "after_flush")
def _brands_flushed(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, SocialAccount) and _bookkeeping_only(obj, session):
            continue
        if isinstance(obj, Brand | SocialAccount) and obj.organization_id is not None:
            pending_changes(session).brands.add(obj.organization_id)


def _sets_bookkeeping_only(statement: Executable) -> bool:
    """Whether `statement` is an UPDATE of accounts that sets bookkeeping columns alone. Its
    columns are read from `Update._values` (SQLAlchemy 2.x keeps `.values()` there, keyed by
    column); a statement without it is taken as changing anything."""
    if not getattr(statement, "is_update", False):
        return False
    table = getattr(statement, "table", None)
    values = getattr(statement, "_values", None)
    if getattr(table, "name", None) != SocialAccount.__tablename__ or not values:
        return False
    names = {getattr(key, "key", key) for key in values}
    return all(isinstance(name, str) for name in names) and names <= _ACCOUNT_BOOKKEEPING


@watch_writes
def _brands_written(session: Session, statement: Executable) -> None:
    """A bulk statement on the brands or accounts: which organizations it touched is not known
    (one that only keeps the workers' books on accounts changes nothing a draft relies on)."""
    table = getattr(statement, "table", None)
    if not statement.is_dml or getattr(table, "name", None) not in _BRAND_TABLES:
        return
    if not _sets_bookkeeping_only(statement):
        pending_changes(session).all_brands = True


def _brand_and_accounts_parameters(
    principal: Principal, brand_id: uuid.UUID, account_ids: Collection[uuid.UUID], postgres: bool
) -> dict[str, Any]:
    return {
        "brand_id": brand_id,
        **tenant_parameters(principal),
        **list_values("accounts", list(account_ids), postgres),
    }


def _brand_and_known_of(
    rows: Sequence[Any], principal: Principal, action: Action
) -> tuple[Brand, Known]:
    """The brand and accounts of `_brand_and_accounts`' rows (brand, account or None), the
    brand found and the principal allowed `action` on it (404, 403)."""
    if not rows:
        raise NotFound("No such brand.")
    brand: Brand = rows[0][0]
    principal.authorize(brand.organization_id, action, what="brand")
    accounts = {account.id: account for _, account in rows if account is not None}
    return brand, Known(accounts=accounts, assets={})


_CHUNK = 1000
# `brand_and_known`'s statements, built once per shape: (PostgreSQL, the principal's number of
# organizations, `list_shape` of the number of accounts, entities or columns).
_brand_and_accounts_statements: dict[tuple[bool, int, int, bool], Select[*tuple[Any, ...]]] = {}
_brand_columns, _account_columns = Brand.__table__.c, SocialAccount.__table__.c
_BRAND_WIDTH = len(_brand_columns)
_ACCOUNT_ID = _BRAND_WIDTH + list(_account_columns).index(_account_columns.id)


def one_statement(media_ids: Sequence[uuid.UUID], wanted: Sequence[TargetIn]) -> bool:
    """Whether `brand_and_known` reads all it needs in its one statement (no media)."""
    return 0 < len({target.social_account_id for target in wanted}) <= _CHUNK and not (
        media_ids or thread_media_ids(wanted)
    )


def _brand_and_accounts(
    postgres: bool, organizations: int, accounts: int, columns: bool = False
) -> Select[*tuple[Any, ...]]:
    """The brand `:brand_id` of the principal's organizations with each account of `:accounts`
    in them joined (or a row with none): the principal's organizations bound as
    `tenant_parameters`, on the brand and on the accounts alike. `columns`: the tables'
    columns in order (`_brand_and_account`) rather than the two entities."""
    key = (postgres, organizations, list_shape(accounts, postgres), columns)
    statement = _brand_and_accounts_statements.get(key)
    if statement is None:
        accounts_of_principal = and_(
            in_list(_account_columns.id, "accounts", accounts, postgres),
            in_parameters(_account_columns.organization_id, TENANT_PARAMETER, organizations),
        )
        selected = (
            select(*_brand_columns, *_account_columns) if columns else select(Brand, SocialAccount)
        )
        statement = (
            scoped_by_parameters(selected, _brand_columns.organization_id, organizations)
            .outerjoin(SocialAccount.__table__, accounts_of_principal)
            .where(_brand_columns.id == bindparam("brand_id", type_=_brand_columns.id.type))
        )
        _brand_and_accounts_statements[key] = statement
    return statement


def _brand_and_account(row: Sequence[Any]) -> tuple[Brand, SocialAccount | None]:
    """A row of `_brand_and_accounts(..., columns=True)` as its brand and account (None where
    no account was joined)."""
    brand = row_object(Brand, row[:_BRAND_WIDTH])
    if row[_ACCOUNT_ID] is None:
        return brand, None
    return brand, row_object(SocialAccount, row[_BRAND_WIDTH:])


def thread_media_ids(wanted: Sequence[TargetIn]) -> set[uuid.UUID]:
    return {
        media_id for target in wanted for part in target.thread or [] for media_id in part.media_ids
    }


def _chunks(ids: list[uuid.UUID], size: int = _CHUNK) -> list[list[uuid.UUID]]:
    # Bound parameters per statement are limited (SQLite, asyncpg): ask in slices.
    return [ids[start : start + size] for start in range(0, len(ids), size)]
