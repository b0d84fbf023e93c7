"""`POST /posts/import` and `GET /posts/export`: a file of posts in, the schedule out, and the
one taking the other back."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from t21.core import clock
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.posts.importing import AccountIndex, ImportRow, create_body
from t21.posts.models import Post, TargetStatus
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.queue.test_queue import EVERY_DAY, next_slots, set_slots
from tests.support.accounts import register

IMPORT = f"{POSTS}/import"
EXPORT = f"{POSTS}/export"
HEADER = "content,scheduled_at,schedule,accounts,media_ids,first_comment,thread"


def later(hours: int = 24) -> str:
    moment = (clock.now() + timedelta(hours=hours)).replace(microsecond=0)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def csv_file(*rows: list[str], header: str = HEADER) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return (header + "\r\n" + buffer.getvalue()).encode()


async def send(
    desk: Desk,
    data: bytes,
    *,
    name: str = "posts.csv",
    kind: str = "text/csv",
    expect: int | None = 200,
    headers: dict[str, str] | None = None,
    brand_id: str | None = None,
    **form: str,
) -> httpx.Response:
    answer = await desk.api.post(
        IMPORT,
        data={"brand_id": brand_id or desk.brand_id, **form},
        files={"file": (name, data, kind)},
        headers={**desk.owner.headers, **(headers or {})},
    )
    if expect is not None:
        assert answer.status_code == expect, answer.text
    return answer


async def username(desk: Desk, platform: str) -> str:
    account_id = await desk.account(platform)
    answer = await desk.api.get(
        "/api/v1/social-accounts", params={"brand_id": desk.brand_id}, headers=desk.owner.headers
    )
    assert answer.status_code == 200, answer.text
    [found] = [one for one in answer.json()["items"] if one["id"] == account_id]
    name: str = found["username"]
    assert name
    return name


async def post_count(desk: Desk) -> int:
    async with session_scope(desk.world.runtime) as session:
        return int(await session.scalar(select(func.count()).select_from(Post)) or 0)


async def get(desk: Desk, post_id: str) -> Any:
    answer = await desk.api.get(f"{POSTS}/{post_id}", headers=desk.owner.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- importing ----------------------------------------------------------------------------------


async def test_a_csv_file_creates_its_posts_naming_accounts_by_id_or_platform_username(
    desk: Desk,
) -> None:
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    x_name = await username(desk, "twitter")
    photo = await desk.upload()
    when = later()
    data = csv_file(
        [
            "Launch day, with a photo",
            when,
            "",
            f"twitter:@{x_name.upper()};{linkedin}",
            photo,
            "",
            "",
        ],
        ["An idea for later", "", "", x, "", "", ""],
    )
    answer = (await send(desk, data)).json()
    assert answer["dry_run"] is False
    assert (answer["rows"], answer["valid"], answer["created"]) == (2, 2, 2)
    assert answer["errors"] == []
    first, second = [await get(desk, post_id) for post_id in answer["post_ids"]]
    assert first["content"] == "Launch day, with a photo"
    assert first["status"] == "scheduled"
    assert at(first["scheduled_at"]) == at(when)
    assert [t["social_account_id"] for t in first["targets"]] == [x, linkedin]
    assert [m["id"] for m in first["media"]] == [photo]
    assert second["status"] == "draft"
    assert second["scheduled_at"] is None
    assert [t["social_account_id"] for t in second["targets"]] == [x]
    async with session_scope(desk.world.runtime) as session:
        types = list(await session.scalars(select(Event.type).order_by(Event.id)))
    assert types.count("post.created") == 2
    assert types.count("post.scheduled") == 1


async def test_a_json_file_creates_its_posts_and_queued_rows_take_successive_slots(
    desk: Desk,
) -> None:
    x = await desk.account("twitter")
    await set_slots(desk, EVERY_DAY)
    slots = await next_slots(desk, 2)
    rows = [
        {"content": "First in the queue", "schedule": "queue", "accounts": [x]},
        {"content": "Second in the queue", "schedule": "queue", "accounts": [x]},
        {"content": "At a time", "scheduled_at": later(3), "accounts": [x]},
    ]
    answer = (
        await send(desk, json.dumps(rows).encode(), name="posts.json", kind="application/json")
    ).json()
    assert answer["created"] == 3
    posts = [await get(desk, post_id) for post_id in answer["post_ids"]]
    assert [p["content"] for p in posts] == [row["content"] for row in rows]
    assert [at(p["scheduled_at"]) for p in posts[:2]] == [at(slot["at"]) for slot in slots]
    assert all(p["status"] == "scheduled" for p in posts)


async def test_a_dry_run_answers_each_rows_problems_and_stores_nothing(desk: Desk) -> None:
    x = await desk.account("twitter")
    before = await post_count(desk)
    data = csv_file(
        ["Fine", later(), "", x, "", "", ""],
        ["Nobody", later(), "", "twitter:no_such_person", "", "", ""],
        ["x" * 281, later(), "", x, "", "", ""],
        ["Too late", "2001-01-01T00:00:00Z", "", x, "", "", ""],
        ["When?", "next tuesday", "", x, "", "", ""],
        ["Broken thread", later(), "", x, "", "", "[not json"],
    )
    answer = (await send(desk, data, dry_run="true")).json()
    assert answer["dry_run"] is True
    assert (answer["rows"], answer["valid"], answer["created"], answer["post_ids"]) == (6, 1, 0, [])
    problems = {entry["row"]: entry["errors"] for entry in answer["errors"]}
    assert sorted(problems) == [2, 3, 4, 5, 6]
    assert problems[2][0]["loc"] == ["accounts", 0]
    assert problems[2][0]["rule"] == "account"
    assert "no_such_person" in problems[2][0]["msg"]
    assert problems[3][0]["rule"] == "text_too_long"
    assert problems[3][0]["loc"] == ["body", "targets", 0, "content"]
    assert problems[4][0]["loc"] == ["body", "scheduled_at"]
    assert "past" in problems[4][0]["msg"]
    assert problems[5][0]["loc"] == ["body", "scheduled_at"]
    assert problems[6][0]["loc"] == ["thread"]
    assert await post_count(desk) == before


async def test_a_real_import_with_one_bad_row_is_refused_whole(desk: Desk) -> None:
    x = await desk.account("twitter")
    before = await post_count(desk)
    data = csv_file(
        ["Good one", later(), "", x, "", "", ""],
        ["Bad one", later(), "", str(uuid.uuid4()), "", "", ""],
    )
    body = assert_problem(await send(desk, data, expect=422), 422, "validation_error")
    assert body["errors"] == [
        {
            "row": 2,
            "errors": [
                {
                    "loc": ["body", "targets", 0, "social_account_id"],
                    "msg": "No such social account.",
                    "rule": "account",
                    "target": 0,
                }
            ],
        }
    ]
    assert "nothing was imported" in body["detail"]
    assert await post_count(desk) == before


async def test_a_partial_import_keeps_the_valid_rows_and_lists_the_others(desk: Desk) -> None:
    x = await desk.account("twitter")
    data = csv_file(
        ["Kept", later(), "", x, "", "", ""],
        ["Refused", later(), "", "", "", "", ""],
        ["Kept too", "", "", x, "", "", ""],
    )
    answer = (await send(desk, data, partial="true")).json()
    assert (answer["created"], answer["valid"]) == (2, 2)
    assert [entry["row"] for entry in answer["errors"]] == [2]
    assert answer["errors"][0]["errors"][0]["loc"] == ["body", "targets"]
    assert [(await get(desk, pid))["content"] for pid in answer["post_ids"]] == [
        "Kept",
        "Kept too",
    ]


async def test_an_idempotency_key_replays_the_import_without_creating_again(desk: Desk) -> None:
    x = await desk.account("twitter")
    data = csv_file(["Once only", later(), "", x, "", "", ""])
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await send(desk, data, headers=key)
    count = await post_count(desk)
    # A retry is framed by a new multipart boundary; it is still the same request.
    again = await send(desk, data, headers=key)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await post_count(desk) == count
    other = await send(
        desk, csv_file(["Another", later(), "", x, "", "", ""]), headers=key, expect=None
    )
    assert_problem(other, 409, "idempotency_conflict")
    assert await post_count(desk) == count


async def test_files_that_cant_be_read_are_refused_with_422(desk: Desk) -> None:
    x = await desk.account("twitter")
    cases = {
        "encoding": csv_file(["caf\xe9"]).replace("café".encode(), b"caf\xe9"),
        "csv": (HEADER + '\r\n"unterminated, quote\r\n').encode() + b'x"y"z\r\n',
        "columns": b"content,when\r\nhello,tomorrow\r\n",
        "empty": HEADER.encode() + b"\r\n",
    }
    for rule, data in cases.items():
        body = assert_problem(await send(desk, data, expect=422), 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "file"], rule
        assert body["errors"][0]["rule"] == rule, body
    for data in (b'{"content": "not an array"}', b"[{"):
        body = assert_problem(
            await send(desk, data, name="posts.json", expect=422), 422, "validation_error"
        )
        assert body["errors"][0]["rule"] == "json"
    json_rows = [{"content": "hi", "accounts": x}, {"content": "hi", "colour": "red"}, "text"]
    answer = (
        await send(desk, json.dumps(json_rows).encode(), name="p.json", partial="true")
    ).json()
    problems = {entry["row"]: entry["errors"] for entry in answer["errors"]}
    assert problems[1][0]["loc"] == ["accounts"]
    assert problems[2][0]["loc"] == ["colour"]
    assert problems[3][0]["loc"] == []
    assert answer["created"] == 0


async def test_files_over_the_limits_are_refused(desk: Desk) -> None:
    x = await desk.account("twitter")
    settings = desk.world.runtime.settings
    settings.import_max_rows = 2
    rows = [["One", "", "", x, "", "", ""]] * 3
    body = assert_problem(await send(desk, csv_file(*rows), expect=422), 422, "validation_error")
    assert body["errors"][0]["rule"] == "too_many_rows"
    settings.import_max_bytes = 100
    assert_problem(await send(desk, csv_file(*rows[:2]), expect=413), 413, "payload_too_large")


async def test_another_organizations_brand_cant_be_imported_into(desk: Desk) -> None:
    stranger = await register(desk.api)
    brand = await desk.api.post("/api/v1/brands", json={"name": "S"}, headers=stranger.headers)
    data = csv_file(["Hi", "", "", "", "", "", ""])
    answer = await send(desk, data, brand_id=brand.json()["id"], expect=404)
    assert_problem(answer, 404, "not_found")


def test_a_row_maps_first_comment_and_thread_onto_every_target_of_the_create_body() -> None:
    brand_id, one, two = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    accounts = AccountIndex({("instagram", "acme"): [two]})
    row = ImportRow(
        content="Hello",
        scheduled_at="2030-01-01T09:00:00Z",
        accounts=[str(one), "instagram:@Acme"],
        media_ids=["m1"],
        first_comment="Link in bio",
        thread=[{"content": "2/2"}],
    )
    body, problems = create_body(row, brand_id, accounts)
    assert problems == []
    assert body == {
        "brand_id": str(brand_id),
        "content": "Hello",
        "media_ids": ["m1"],
        "scheduled_at": "2030-01-01T09:00:00Z",
        "targets": [
            {
                "social_account_id": str(account),
                "options": {"first_comment": "Link in bio"},
                "thread": [{"content": "2/2"}],
            }
            for account in (one, two)
        ],
        "allow_duplicate": False,
    }
    _, problems = create_body(ImportRow(accounts=["instagram"]), brand_id, accounts)
    assert problems[0]["loc"] == ["accounts", 0]


# --- exporting ----------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def export(desk: Desk, **params: str) -> httpx.Response:
    answer = await desk.api.get(
        EXPORT, params={"brand_id": desk.brand_id, **params}, headers=desk.owner.headers
    )
    assert answer.status_code == 200, answer.text
    return answer


async def test_the_csv_export_defuses_formulas_and_imports_back_as_it_was(desk: Desk) -> None:
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    photo = await desk.upload()
    texts = ['=HYPERLINK("http://evil.example","click")', "+1 to this", "-5% today", "@here"]
    texts += ["\tindented", "'=already quoted", "Plain text, with a comma"]
    for index, text in enumerate(texts):
        await desk.create(
            content=text,
            targets=[{"social_account_id": x}, {"social_account_id": linkedin}],
            media_ids=[photo] if index == 0 else [],
            scheduled_at=later(10 + index),
        )
    exported = await export(desk)
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="posts.csv"' in exported.headers["content-disposition"]
    rows = read_csv(exported.text)
    assert list(rows[0]) == HEADER.split(",")
    assert [row["content"] for row in rows] == [
        "'" + text if text[:1] in "=+-@\t" or text.startswith("'=") else text for text in texts
    ]
    assert rows[0]["accounts"] == f"{x};{linkedin}"
    assert rows[0]["media_ids"] == photo
    before = [(row["content"], row["scheduled_at"], row["accounts"]) for row in rows]
    # The export imports back: delete the posts, import the file, export again.
    ids = [p["id"] for p in (await desk.api.get(POSTS, headers=desk.owner.headers)).json()["items"]]
    deleted = await desk.api.post(
        f"{POSTS}/bulk", json={"action": "delete", "post_ids": ids}, headers=desk.owner.headers
    )
    assert len(deleted.json()["done"]) == len(texts)
    answer = (await send(desk, exported.content)).json()
    assert answer["created"] == len(texts)
    assert [(await get(desk, pid))["content"] for pid in answer["post_ids"]] == texts
    again = read_csv((await export(desk)).text)
    assert [(row["content"], row["scheduled_at"], row["accounts"]) for row in again] == before


async def test_the_export_streams_every_post_in_list_order_and_follows_the_filters(
    desk: Desk,
) -> None:
    x = await desk.account("twitter")
    rows = [[f"Draft number {n}", "", "", x, "", "", ""] for n in range(1, 1201)]
    rows.append(["The only scheduled one", later(), "", x, "", "", ""])
    assert (await send(desk, csv_file(*rows))).json()["created"] == 1201
    exported = await export(desk, format="json")
    assert exported.headers["content-type"] == "application/json"
    assert "content-length" not in exported.headers
    items = exported.json()
    assert len(items) == 1201
    # Scheduled first, drafts after in creation order: the list's order.
    assert items[0]["content"] == "The only scheduled one"
    assert [item["content"] for item in items[1:]] == [row[0] for row in rows[:-1]]
    assert items[1] == {
        "content": "Draft number 1",
        "scheduled_at": None,
        "schedule": None,
        "accounts": [x],
        "media_ids": [],
        "first_comment": None,
        "thread": None,
    }
    scheduled = read_csv((await export(desk, status="scheduled")).text)
    assert [row["content"] for row in scheduled] == ["The only scheduled one"]
    assert read_csv((await export(desk, platform="linkedin")).text) == []


async def test_an_export_of_another_organizations_brand_is_not_found(desk: Desk) -> None:
    stranger = await register(desk.api)
    brand = await desk.api.post("/api/v1/brands", json={"name": "S"}, headers=stranger.headers)
    answer = await desk.api.get(
        EXPORT, params={"brand_id": brand.json()["id"]}, headers=desk.owner.headers
    )
    assert_problem(answer, 404, "not_found")
    bad = await desk.api.get(EXPORT, params={"format": "xlsx"}, headers=desk.owner.headers)
    assert_problem(bad, 422, "validation_error")
    mine = await desk.api.get(EXPORT, params={"format": "json"}, headers=stranger.headers)
    assert mine.json() == []


async def test_an_imported_scheduled_post_is_due_like_one_written_by_hand(desk: Desk) -> None:
    x = await desk.account("twitter")
    when = later(2)
    answer = (await send(desk, csv_file(["Due soon", when, "", x, "", "", ""]))).json()
    post = await get(desk, answer["post_ids"][0])
    [target] = post["targets"]
    assert target["status"] == TargetStatus.SCHEDULED.value
    assert at(target["next_attempt_at"]) == at(when)
