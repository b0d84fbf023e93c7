"""A fake of OpenRouter's OpenAI-compatible API, faithful enough that T21's client (the `openai`
SDK) runs against it unchanged (PLATFORMS.md §10):

- `POST /api/v1/chat/completions` checks the Bearer key, records the `HTTP-Referer`/`X-Title`
  headers and the body, and answers a deterministic completion built from the last user
  message: when `response_format` asks for a JSON schema (or a JSON object), the answer is an
  instance of that schema (so `variants`, `hashtags` and `content` come back as data). Usage
  (`prompt_tokens`, `completion_tokens`, `total_tokens`, `cost`) is in the answer and the
  generation id in `X-Generation-Id`.
- `stream: true` answers server-sent events: a `: OPENROUTER PROCESSING` comment, one chunk per
  few characters, a last chunk with `finish_reason` and `usage`, then `data: [DONE]`.
- `GET /api/v1/models` and `GET /api/v1/generation?id=`.
- Errors in OpenRouter's envelope `{"error": {"code", "message", "metadata"?}}`, the HTTP
  status equal to `error.code`.

`/_control`:
- `POST /_control/faults` `{status, message?, metadata?, retry_after?, count?, delay_s?,
  in_body?, in_stream?, after_chunks?}`: the next `count` completions fail with `status`
  (`in_body`: inside a 200 answer; `in_stream`: as an error event after `after_chunks` chunks of
  a 200 stream) after waiting `delay_s` (a delay alone, `status` 200, makes a slow answer).
- `POST /_control/replies` `{content, count?}`: the next completions answer exactly `content`
  (a string; a JSON value is sent as its JSON text).
- `POST /_control/settings` `{chunk_size?, chunk_delay_s?}`: how streams are cut and paced.
- `GET /_control/requests`: every completion request received (headers named above and the
  body; never the key). `POST /_control/reset`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODELS = [
    ("openai/gpt-4o-mini", 0.15, 0.6),
    ("google/gemini-2.0-flash-001", 0.1, 0.4),
    ("meta-llama/llama-3.1-8b-instruct", 0.02, 0.05),
    ("openai/gpt-4o", 2.5, 10.0),
    ("anthropic/claude-sonnet-4", 3.0, 15.0),
]
_MODEL_ID = re.compile(r"^[\w.-]+/[\w.:-]+$")
_WORD = re.compile(r"[^\W_]{3,}")
DEFAULT_CHUNK_SIZE = 12


@dataclass
class Fault:
    status: int = 500
    message: str | None = None
    metadata: dict[str, Any] | None = None
    retry_after: float | None = None
    count: int = 1
    delay_s: float = 0.0
    in_body: bool = False
    in_stream: bool = False
    after_chunks: int = 2


@dataclass
class OpenRouterState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    generations: dict[str, dict[str, Any]] = field(default_factory=dict)
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_delay_s: float = 0.0

    def take_fault(self) -> Fault | None:
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.count -= 1
        if fault.count <= 0:
            self.faults.pop(0)
        return fault

    def reset(self) -> None:
        self.requests.clear()
        self.faults.clear()
        self.replies.clear()
        self.generations.clear()
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.chunk_delay_s = 0.0


_MESSAGES = {
    400: "Invalid request",
    401: "No auth credentials found",
    402: "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
    403: "Your input was flagged by moderation",
    408: "Request timed out",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "No endpoints found that can handle the request",
}


def _envelope(status: int, message: str | None, metadata: dict[str, Any] | None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message or _MESSAGES.get(status, "Error")}
    if metadata:
        error["metadata"] = metadata
    return {"error": error}


def _error(status: int, message: str | None = None, **kwargs: Any) -> Response:
    headers = kwargs.pop("headers", None)
    return JSONResponse(
        _envelope(status, message, kwargs.get("metadata")), status_code=status, headers=headers
    )


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _words(messages: list[dict[str, Any]]) -> list[str]:
    """The words of the last user message: what every deterministic answer is built from."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _WORD.findall(_text_of(message.get("content")))
    return []


def _sentence(words: list[str], index: int) -> str:
    chosen = words[index : index + 8] or words[:8] or ["sandbox"]
    return f"Sandbox take {index + 1}: " + " ".join(chosen).capitalize() + "."


def _instance(schema: Any, words: list[str], key: str = "", index: int = 0) -> Any:
    """A deterministic value of a JSON schema, its strings made of `words`."""
    if not isinstance(schema, dict):
        return _sentence(words, index)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: _instance(sub, words, name, index) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items") or {}
        count = schema.get("minItems") or schema.get("maxItems") or 3
        if "hashtag" in key:
            tags = [f"#{word.lower()}" for word in dict.fromkeys(words)] or ["#sandbox"]
            return [tags[i % len(tags)] + ("" if i < len(tags) else str(i)) for i in range(count)]
        return [_instance(items, words, key, i) for i in range(count)]
    if kind in ("integer", "number"):
        return index
    if kind == "boolean":
        return True
    if "hashtag" in key:
        return f"#{(words or ['sandbox'])[index % max(1, len(words))].lower()}"
    return _sentence(words, index)


def _answer(body: dict[str, Any], state: OpenRouterState) -> str:
    if state.replies:
        return state.replies.pop(0)
    messages = body.get("messages") or []
    words = _words(messages)
    response_format = body.get("response_format") or {}
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return json.dumps(_instance(schema, words))
    if kind == "json_object":
        return json.dumps({"content": _sentence(words, 0)})
    return _sentence(words, 0)


def _usage(body: dict[str, Any], content: str, model: str) -> dict[str, Any]:
    prompt = _tokens(
        " ".join(_text_of(message.get("content")) for message in body.get("messages") or [])
    )
    completion = _tokens(content)
    prices = {name: (inp, out) for name, inp, out in MODELS}.get(model, (1.0, 1.0))
    cost = (prompt * prices[0] + completion * prices[1]) / 1_000_000
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost": round(cost, 9),
        "cost_details": {"upstream_inference_cost": None},
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def create_openrouter_app(state: OpenRouterState | None = None) -> Starlette:
    state = state or OpenRouterState()

    async def completions(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "The body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        state.requests.append(
            {
                "http_referer": request.headers.get("http-referer"),
                "x_title": request.headers.get("x-title"),
                "body": body,
            }
        )
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header.removeprefix("Bearer ").strip():
            return _error(401)
        model = body.get("model") or MODELS[0][0]
        if not isinstance(model, str) or not _MODEL_ID.match(model):
            return _error(400, f"{model} is not a valid model ID")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, 'Input required: specify "messages".')
        fault = state.take_fault()
        if fault is not None and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        headers: dict[str, str] = {}
        if fault is not None and fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault is not None and fault.status >= 400 and not (fault.in_body or fault.in_stream):
            return _error(fault.status, fault.message, metadata=fault.metadata, headers=headers)
        if fault is not None and fault.in_body and fault.status >= 400:
            return JSONResponse(_envelope(fault.status, fault.message, fault.metadata))
        content = _answer(body, state)
        generation = f"gen-{uuid.uuid4().hex}"
        usage = _usage(body, content, model)
        created = int(time.time())
        state.generations[generation] = {
            "id": generation,
            "model": model,
            "created_at": created,
            "tokens_prompt": usage["prompt_tokens"],
            "tokens_completion": usage["completion_tokens"],
            "total_cost": usage["cost"],
            "streamed": bool(body.get("stream")),
        }
        headers["X-Generation-Id"] = generation
        if body.get("stream"):
            broken = fault if fault is not None and fault.in_stream else None
            return StreamingResponse(
                _stream(state, generation, model, created, content, usage, broken),
                media_type="text/event-stream",
                headers=headers,
            )
        return JSONResponse(
            {
                "id": generation,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "provider": "Sandbox",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "native_finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
            headers=headers,
        )

    async def models(_request: Request) -> Response:
        return JSONResponse(
            {
                "data": [
                    {
                        "id": name,
                        "name": name,
                        "context_length": 128_000,
                        "pricing": {"prompt": f"{inp / 1e6:.9f}", "completion": f"{out / 1e6:.9f}"},
                    }
                    for name, inp, out in MODELS
                ]
            }
        )

    async def generation(request: Request) -> Response:
        found = state.generations.get(request.query_params.get("id", ""))
        if found is None:
            return _error(404, "Generation not found")
        return JSONResponse({"data": found})

    async def control_faults(request: Request) -> Response:
        body = await request.json()
        known = {k: v for k, v in body.items() if k in Fault.__dataclass_fields__}
        state.faults.append(Fault(**known))
        return JSONResponse({"queued": len(state.faults)})

    async def control_replies(request: Request) -> Response:
        body = await request.json()
        content = body.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        state.replies.extend([text] * int(body.get("count", 1)))
        return JSONResponse({"queued": len(state.replies)})

    async def control_settings(request: Request) -> Response:
        body = await request.json()
        if "chunk_size" in body:
            state.chunk_size = max(1, int(body["chunk_size"]))
        if "chunk_delay_s" in body:
            state.chunk_delay_s = max(0.0, float(body["chunk_delay_s"]))
        return JSONResponse({"chunk_size": state.chunk_size, "chunk_delay_s": state.chunk_delay_s})

    async def control_requests(_request: Request) -> Response:
        return JSONResponse({"requests": state.requests})

    async def control_reset(_request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    app = Starlette(
        routes=[
            Route("/api/v1/chat/completions", completions, methods=["POST"]),
            Route("/api/v1/models", models, methods=["GET"]),
            Route("/api/v1/generation", generation, methods=["GET"]),
            Route("/_control/faults", control_faults, methods=["POST"]),
            Route("/_control/replies", control_replies, methods=["POST"]),
            Route("/_control/settings", control_settings, methods=["POST"]),
            Route("/_control/requests", control_requests, methods=["GET"]),
            Route("/_control/reset", control_reset, methods=["POST"]),
        ]
    )
    app.state.openrouter = state
    return app


async def _stream(
    state: OpenRouterState,
    generation: str,
    model: str,
    created: int,
    content: str,
    usage: dict[str, Any],
    fault: Fault | None,
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        payload = {
            "id": generation,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "provider": "Sandbox",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield b": OPENROUTER PROCESSING\n\n"
    size = state.chunk_size
    pieces = [content[i : i + size] for i in range(0, len(content), size)]
    for number, piece in enumerate(pieces):
        if fault is not None and number == fault.after_chunks:
            error = _envelope(fault.status, fault.message, fault.metadata)
            yield chunk({"content": ""}, "error", **error)
            return
        if state.chunk_delay_s:
            await asyncio.sleep(state.chunk_delay_s)
        delta = {"role": "assistant", "content": piece} if number == 0 else {"content": piece}
        yield chunk(delta)
        if number % 4 == 3:
            yield b": OPENROUTER PROCESSING\n\n"
    if fault is not None:
        yield chunk({"content": ""}, "error", **_envelope(fault.status, fault.message, None))
        return
    yield chunk({}, "stop")
    final = {
        "id": generation,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "provider": "Sandbox",
        "choices": [],
        "usage": usage,
    }
    yield f"data: {json.dumps(final)}\n\n".encode()
    yield b"data: [DONE]\n\n"
