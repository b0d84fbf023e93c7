"""What a post's checks read of the database: the brand, the accounts and the media it names,
scoped to the principal's organizations, in as few statements as the data allows (a create's
brand and accounts in one, `brand_and_known`; on the driver's connection, `brand_and_known_on`)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands.models import Brand
from t21.core.db import in_list, in_parameters, is_postgres, list_shape, list_values
from t21.core.errors import NotFound
from t21.core.prepared import PooledDriver
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
from t21.social.models import SocialAccount


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
) -> tuple[Brand, Known]:
    """`brand_and_known` for a post without media (`one_statement`) on the driver's
    connection (PostgreSQL): the same statement's columns, made into objects that belong to
    no session."""
    account_ids = {target.social_account_id for target in wanted}
    statement = _brand_and_accounts(True, len(principal.organization_ids), len(account_ids), True)
    parameters = _brand_and_accounts_parameters(principal, brand_id, account_ids, True)
    rows = [_brand_and_account(row) for row in await driver.fetch(statement, parameters)]
    return _brand_and_known_of(rows, principal, action)


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
