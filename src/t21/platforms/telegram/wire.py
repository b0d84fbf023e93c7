"""The Bot API exchange: `POST {base}/bot<token>/<method>`, JSON or multipart in, `{"ok": true,
"result": …}` or `{"ok": false, "error_code", "description", "parameters"}` out, and each
failure classified once.

Files are sent as `multipart/form-data` streamed from storage in chunks (never whole in
memory); the token is part of the URL, so no URL is ever put in a message or a log.

Source: https://core.telegram.org/bots/api#making-requests (the envelope, `parameters`),
https://core.telegram.org/bots/api#responseparameters (`retry_after`, `migrate_to_chat_id`),
https://core.telegram.org/bots/api#sending-files (multipart uploads),
https://core.telegram.org/bots/faq (429 "Too Many Requests: retry after N").
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.platforms.base import ReadRange
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

CHUNK_BYTES = 1024 * 1024
# Descriptions of a 400 that mean the bot lost its rights in the chat: a person must give them
# back (unconfirmed wording beyond the two the Bot API is commonly seen to answer).
_RIGHTS_LOST = (
    "not enough rights",
    "need administrator rights",
    "chat_write_forbidden",
    "chat_admin_required",
    "have no rights to send",
)
# How long to wait before trying again with a bot token Telegram refused (the operator's to fix).
TOKEN_REFUSED_RETRY_S = 600.0

Failure = Retryable | Permanent | ReauthRequired | Ambiguous


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request, read from storage as it is sent."""

    field: str
    filename: str
    content_type: str
    size: int
    read: ReadRange


def failure(response: httpx.Response, *, publishing: bool = False) -> Failure:
    """One failed Bot API answer, classified: a rate limit with its wait, a bot removed or
    stripped of its rights (a person must act), a refused request, or Telegram failing."""
    answer = json_body(response)
    body: dict[str, Any] = answer if isinstance(answer, dict) else {}
    status = response.status_code
    given = body.get("error_code")
    code: int = given if isinstance(given, int) else status
    description = body.get("description")
    described = f"Telegram answered {code}: {description or 'no description'}"
    held = body.get("parameters")
    parameters: dict[str, Any] = held if isinstance(held, dict) else {}
    if code == 429:
        after = parameters.get("retry_after")
        wait = float(after) if isinstance(after, int | float) else retry_after_seconds(response)
        return Retryable(described, after=wait, code="rate_limited")
    if code in (401, 404):
        return Retryable(
            "Telegram refused T21's bot token; the operator must check T21_TELEGRAM_BOT_TOKEN.",
            after=TOKEN_REFUSED_RETRY_S,
            code="bot_token_refused",
        )
    if code == 403:
        return ReauthRequired(described, code="bot_removed")
    lowered = str(description or "").lower()
    if code == 400 and any(words in lowered for words in _RIGHTS_LOST):
        return ReauthRequired(described, code="bot_rights")
    if code == 409:
        return Permanent(
            f"{described} (T21 reads its bot's updates itself: remove the bot's webhook).",
            code="webhook_set",
        )
    if status >= 500 or code >= 500:
        if publishing:
            return Ambiguous(described, code="server_error")
        return Retryable(described, code="server_error")
    if "migrate_to_chat_id" in parameters:
        return Permanent(
            f"{described} (the group became a supergroup: connect it again)", code="chat_migrated"
        )
    return Permanent(described, code=f"http_{code}")


class BotApi:
    """Calls to the Bot API as one bot."""

    def __init__(self, http: PlatformHttp, base: str, token: str) -> None:
        self.http, self._url = http, f"{base}/bot{token}"

    async def call(
        self, method: str, payload: Mapping[str, Any] | None = None, *, publishing: bool = False
    ) -> Any:
        """`method` with a JSON body; its `result`."""
        response = await self.http.request(
            "POST", f"{self._url}/{method}", publishing=publishing, json=dict(payload or {})
        )
        return self._result(method, response, publishing)

    async def upload(self, method: str, fields: Mapping[str, Any], files: list[Upload]) -> Any:
        """`method` with files, streamed as multipart/form-data; its `result`. Sending files
        always publishes something, so a lost answer is a doubt."""
        boundary = "t21-" + secrets.token_hex(16)
        texts = {
            name: value if isinstance(value, str) else json.dumps(value)
            for name, value in fields.items()
            if value is not None
        }
        length = _multipart_length(boundary, texts, files)
        response = await self.http.request(
            "POST",
            f"{self._url}/{method}",
            publishing=True,
            content=_multipart(boundary, texts, files),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length),
            },
        )
        return self._result(method, response, True)

    @staticmethod
    def _result(method: str, response: httpx.Response, publishing: bool) -> Any:
        body = json_body(response)
        if response.status_code != 200 or not isinstance(body, dict) or body.get("ok") is not True:
            if response.status_code == 200:
                message = f"Telegram answered {method} without a result."
                if publishing:
                    raise Ambiguous(message, code="bad_answer")
                raise Retryable(message, code="bad_answer")
            raise failure(response, publishing=publishing)
        return body.get("result")


def _field_head(boundary: str, name: str) -> bytes:
    return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()


def _file_head(boundary: str, upload: Upload) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{upload.field}"; '
        f'filename="{upload.filename}"\r\nContent-Type: {upload.content_type}\r\n\r\n'
    ).encode()


def _multipart_length(boundary: str, texts: dict[str, str], files: list[Upload]) -> int:
    total = sum(len(_field_head(boundary, k)) + len(v.encode()) + 2 for k, v in texts.items())
    total += sum(len(_file_head(boundary, f)) + f.size + 2 for f in files)
    return total + len(f"--{boundary}--\r\n")


async def _multipart(
    boundary: str, texts: dict[str, str], files: list[Upload]
) -> AsyncIterator[bytes]:
    for name, value in texts.items():
        yield _field_head(boundary, name) + value.encode() + b"\r\n"
    for upload in files:
        yield _file_head(boundary, upload)
        offset = 0
        while offset < upload.size:
            chunk = await upload.read(offset, min(CHUNK_BYTES, upload.size - offset))
            if not chunk:
                raise Retryable("A media file ended early in storage.", code="media_short")
            yield chunk
            offset += len(chunk)
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
