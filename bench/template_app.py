"""The FastAPI full-stack template's request pattern, written for `request_path.py` to compare
T21 with (not a copy of the template: the same shape of work per request).

Per request, as the template does it: a JWT decoded with PyJWT, the user loaded with
`Session.get(User)`, and for the list a `count(*)` and an `OFFSET`/`LIMIT` query ordered by an
unindexed column; answers are Pydantic models. One session per request from a dependency, the
pool pinging on checkout (the template's `create_engine` defaults plus `pool_pre_ping`).

Run by `request_path.py` as `uvicorn template_app:app --loop uvloop --http httptools`, with
`TPL_DATABASE_URL` (postgresql+asyncpg://…) and `TPL_SECRET` in the environment.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET = os.environ.get("TPL_SECRET", "template-secret-" + "x" * 32)
engine = create_async_engine(
    os.environ.get("TPL_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/postgres"),
    pool_pre_ping=True,
)
sessions = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "tpl_user"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    full_name: Mapped[str | None] = mapped_column(String(255))
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    is_superuser: Mapped[bool] = mapped_column(default=False)


class Item(Base):
    __tablename__ = "tpl_item"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tpl_user.id", ondelete="CASCADE"))


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    email: str
    full_name: str | None
    is_active: bool
    is_superuser: bool


class ItemCreate(BaseModel):
    title: str
    description: str | None = None


class ItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    title: str
    description: str | None
    owner_id: uuid.UUID


class ItemsPublic(BaseModel):
    data: list[ItemPublic]
    count: int


async def get_db() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_db)]


async def get_current_user(request: Request, session: SessionDep) -> User:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise HTTPException(401, "Not authenticated")
    try:
        payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        raise HTTPException(403, "Could not validate credentials") from None
    user = await session.get(User, uuid.UUID(payload["sub"]))
    if user is None or not user.is_active:
        raise HTTPException(404, "User not found")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
app = FastAPI()


@app.get("/api/v1/items/", response_model=ItemsPublic)
async def read_items(
    session: SessionDep, current_user: CurrentUser, skip: int = 0, limit: int = 100
) -> ItemsPublic:
    count = await session.scalar(
        select(func.count()).select_from(Item).where(Item.owner_id == current_user.id)
    )
    items = await session.scalars(
        select(Item)
        .where(Item.owner_id == current_user.id)
        .order_by(Item.title)
        .offset(skip)
        .limit(limit)
    )
    return ItemsPublic(
        data=[ItemPublic.model_validate(item) for item in items], count=int(count or 0)
    )


@app.post("/api/v1/items/", response_model=ItemPublic)
async def create_item(session: SessionDep, current_user: CurrentUser, item_in: ItemCreate) -> Item:
    item = Item(title=item_in.title, description=item_in.description, owner_id=current_user.id)
    session.add(item)
    await session.commit()
    await session.refresh(item)
    return item


@app.get("/api/v1/users/me", response_model=UserPublic)
async def read_user_me(current_user: CurrentUser) -> User:
    return current_user


def token_for(user_id: uuid.UUID, secret: str = SECRET) -> str:
    return jwt.encode({"sub": str(user_id), "exp": 4_102_444_800}, secret, algorithm="HS256")
