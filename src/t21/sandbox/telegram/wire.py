"""The Bot API's wire at the Telegram fake: how a method's parameters arrive (query, form,
multipart or JSON), how it answers (`{"ok": true, "result": …}` or a refusal with the HTTP status
of its `error_code`), and the checks every text takes (UTF-16 lengths, entities)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from t21.sandbox.telegram.state import BotApiError, bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024
VIDEO_MAX_BYTES = 50 * 1024 * 1024
ENTITY_TYPES = frozenset(
    {
        "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
        "italic", "underline", "strikethrough", "spoiler", "blockquote",
        "expandable_blockquote", "code", "pre", "text_link", "text_mention", "custom_emoji",
    }
)  # fmt: skip


async def bot_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BotApiError)
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return JSONResponse(body, status_code=exc.code)


def ok(result: Any) -> Response:
    return JSONResponse({"ok": True, "result": result})


def utf16_units(text: str) -> bytes:
    return text.encode("utf-16-le")


async def parameters_of(request: Request) -> dict[str, Any]:
    """The method's parameters, however they came (query, form, multipart or JSON)."""
    found: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return found
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        return found | body
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=20, max_fields=100, max_part_size=VIDEO_MAX_BYTES)
        for name, value in form.multi_items():
            found[name] = value
    return found


def json_field(parameters: dict[str, Any], name: str) -> Any:
    """A parameter that is JSON-serialized in a form (entities, media, allowed_updates)."""
    value = parameters.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


def int_field(parameters: dict[str, Any], name: str) -> int | None:
    value = parameters.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def flag(parameters: dict[str, Any], name: str) -> bool:
    value = parameters.get(name)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def check_entities(text: str, entities: Any) -> list[dict[str, Any]]:
    """`entities` if every one lies inside `text` counted in UTF-16 code units, without
    splitting a surrogate pair; else Telegram's 400."""
    if entities is None:
        return []
    if not isinstance(entities, list):
        raise bad_request("can't parse entities: entities must be an array")
    units = utf16_units(text)
    length = len(units) // 2
    checked = []
    for number, entity in enumerate(entities):
        if not isinstance(entity, dict) or entity.get("type") not in ENTITY_TYPES:
            raise bad_request(f"can't parse entities: unsupported entity type at {number}")
        offset, size = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size <= 0:
            raise bad_request(f"can't parse entities: bad offset or length at {number}")
        if offset + size > length:
            raise bad_request(
                f"can't parse entities: entity {number} ends at {offset + size}, beyond the "
                f"text's {length} UTF-16 code units"
            )
        for edge in (offset, offset + size):
            if (
                edge < length
                and 0xDC00 <= int.from_bytes(units[2 * edge : 2 * edge + 2], "little") <= 0xDFFF
            ):
                raise bad_request(
                    f"can't parse entities: entity {number} splits a character at {edge}"
                )
        if entity["type"] == "text_link":
            url = entity.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
                raise bad_request(f"can't parse entities: wrong URL in entity {number}")
        checked.append(entity)
    return checked
