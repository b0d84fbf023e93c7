"""Imports and the duplicate guard: a row repeating an existing post, or another row of the
same file, is a row error (rule `duplicate_content`) unless the row or the request allows it;
an export carries each post's thread, and imports back with it."""

from __future__ import annotations

from typing import Any

from tests.posts.conftest import POSTS, Desk
from tests.posts.test_import_export import (
    csv_file,
    export,
    get,
    later,
    post_count,
    read_csv,
    send,
)

HEADER = "content,scheduled_at,accounts,allow_duplicate"


def by_row(answer: Any) -> dict[int, list[dict[str, Any]]]:
    return {entry["row"]: entry["errors"] for entry in answer["errors"]}


async def test_rows_repeating_a_post_or_another_row_are_row_errors(desk: Desk) -> None:
    x = await desk.account("twitter")
    existing = await desk.create(
        content="Launch day!", targets=[{"social_account_id": x}], scheduled_at=later(24)
    )
    rows = [
        [" Launch   day! ", later(25), x, ""],  # repeats the post
        ["Fresh news", later(30), x, ""],
        ["Fresh news", later(32), x, ""],  # repeats row 2
        ["Launch day!", later(26), x, "true"],  # allowed by its own cell
        ["Fresh news", later(60), x, ""],  # more than 24 hours from row 2
    ]
    data = csv_file(*rows, header=HEADER)
    before = await post_count(desk)

    checked = (await send(desk, data, dry_run="true")).json()
    problems = by_row(checked)
    assert set(problems) == {1, 3}
    [first] = problems[1]
    assert first["rule"] == "duplicate_content"
    assert first["post_id"] == existing.json()["id"]
    assert first["loc"] == ["body", "targets", 0]
    [third] = problems[3]
    assert (third["rule"], third["row"]) == ("duplicate_content", 2)

    refused = await send(desk, data, expect=422)
    assert refused.json()["code"] == "validation_error"
    assert set(by_row(refused.json())) == {1, 3}
    assert await post_count(desk) == before

    kept = (await send(desk, data, partial="true")).json()
    assert kept["created"] == 3
    contents = [(await get(desk, pid))["content"] for pid in kept["post_ids"]]
    assert contents == ["Fresh news", "Launch day!", "Fresh news"]

    # The request's allow_duplicate lets every row through, even against those just made.
    allowed = (await send(desk, data, allow_duplicate="true")).json()
    assert (allowed["created"], allowed["errors"]) == (5, [])
    bad = await send(desk, data, allow_duplicate="sometimes", expect=422)
    assert bad.json()["code"] == "validation_error"
    bad_cell = csv_file(["Other", later(40), x, "sometimes"], header=HEADER)
    assert set(by_row((await send(desk, bad_cell, dry_run="true")).json())) == {1}


async def test_drafts_in_a_file_are_no_duplicates(desk: Desk) -> None:
    x = await desk.account("twitter")
    data = csv_file(["Same draft", "", x, ""], ["Same draft", "", x, ""], header=HEADER)
    assert (await send(desk, data)).json()["created"] == 2


async def test_the_export_carries_each_posts_thread_and_imports_back_with_it(desk: Desk) -> None:
    x = await desk.account("twitter")
    thread = [{"content": "2/3 the details", "media_ids": []}, {"content": "3/3 the end"}]
    made = await desk.create(
        content="1/3 a thread",
        targets=[{"social_account_id": x, "thread": thread}],
        scheduled_at=later(24),
    )
    stored = made.json()["targets"][0]["thread"]
    exported = await export(desk)
    [row] = read_csv(exported.text)
    assert row["thread"].startswith("[")
    as_json = (await export(desk, format="json")).json()
    assert as_json[0]["thread"] == stored
    deleted = await desk.api.delete(f"{POSTS}/{made.json()['id']}", headers=desk.owner.headers)
    assert deleted.status_code == 204
    again = (await send(desk, exported.content)).json()
    assert again["created"] == 1, again
    [post_id] = again["post_ids"]
    assert (await get(desk, post_id))["targets"][0]["thread"] == stored
