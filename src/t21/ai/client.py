"""OpenRouter through the `openai` SDK: a client built per call from the settings, and every
failure of the call turned, once, into the error the API answers (PLATFORMS.md §10).

With `T21_OPENROUTER_API_KEY` the client talks to OpenRouter; without it (outside production)
to the sandbox's fake OpenRouter; in production without it, AI answers 503. Transient failures
(a 429 asking for a short wait, a 5xx, a timeout) are tried once more by the SDK; a 429 asking
for a longer wait is answered at once with its `Retry-After` rather than held.

How failures map (nothing is charged for any of them):

- 400, 404, 422: 502 `upstream_error` (the provider refused what T21 sent; the client can't
  fix that).
- 401: 503 `unavailable` (T21's key is wrong or disabled; an operator must fix the setting).
- 402: 503 `unavailable`. T21's OpenRouter account is out of credits, so AI is down for every
  organization until an operator tops it up; the client did nothing wrong and may try later.
  A 502 would blame a bad answer, and a 402 would tell the client that *it* must pay.
- 403: 422 `validation_error` (moderation flagged the input: the client must change it).
- 408 and timeouts: 504 `upstream_timeout`.
- 429: 429 `rate_limited` with `Retry-After` (OpenRouter's, else 10 s).
- 503: 503 `unavailable` with OpenRouter's `Retry-After` (no provider can serve the model now).
- Other 5xx, or OpenRouter unreachable: 502 `upstream_error`.
- An error inside a 200 answer or mid-stream: 502 `upstream_error`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from t21.core.errors import (
    RateLimited,
    T21Error,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from t21.core.logging import get_logger
from t21.core.runtime import Runtime
from t21.platforms.registry import sandbox_url

log = get_logger("t21.ai")

SANDBOX_KEY = "sk-or-v1-t21-sandbox"
# A 429 or 503 asking to wait longer than this is answered at once instead of retried.
MAX_RETRY_WAIT_S = 2.0
DEFAULT_RATE_LIMIT_WAIT_S = 10
NOTHING_CHARGED = "Nothing was charged."

Messages = list[ChatCompletionMessageParam]


@dataclass
class Usage:
    """Tokens the provider counted, and what it says the call cost (US dollars), if it says."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        if other.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + other.cost_usd


@dataclass
class Completion:
    text: str
    model: str
    usage: Usage
    finish_reason: str | None = None


class _OpenRouter(AsyncOpenAI):
    """The SDK's client, except that it won't sleep through a long `Retry-After`: the caller
    answers 429 (or 503) with it instead of holding the request."""

    def _should_retry(self, response: Any) -> bool:
        wait = self._parse_retry_after_header(response.headers)
        if wait is not None and wait > MAX_RETRY_WAIT_S:
            return False
        return super()._should_retry(response)


def target(runtime: Runtime) -> tuple[str, str]:
    """Where AI calls go and with which key: OpenRouter with T21's key, else the sandbox's
    fake (outside production); 503 when neither is there."""
    settings = runtime.settings
    key = settings.openrouter_api_key
    if key is not None and key.get_secret_value():
        return settings.openrouter_api_base.rstrip("/"), key.get_secret_value()
    fake = sandbox_url(runtime) if settings.sandbox_enabled else None
    if fake is None:
        raise Unavailable(
            "AI isn't configured on this server: an operator must set T21_OPENROUTER_API_KEY."
        )
    return f"{fake}/openrouter/api/v1", SANDBOX_KEY


def client_for(runtime: Runtime) -> AsyncOpenAI:
    """A client for one call (never shared: it holds its own connections)."""
    base, api_key = target(runtime)
    settings = runtime.settings
    return _OpenRouter(
        base_url=base,
        api_key=api_key,
        default_headers={"HTTP-Referer": settings.resolved_public_url, "X-Title": "T21"},
        timeout=settings.openrouter_timeout_s,
        max_retries=1,
    )


def _options(response_format: dict[str, Any] | None, max_tokens: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {"extra_body": {"usage": {"include": True}}}
    if response_format is not None:
        options["response_format"] = response_format
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    return options


def _usage_of(raw: Any) -> Usage | None:
    if raw is None:
        return None
    extra = getattr(raw, "model_extra", None) or {}
    cost = extra.get("cost")
    return Usage(
        prompt_tokens=int(getattr(raw, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(raw, "completion_tokens", 0) or 0),
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )


def _estimated(messages: Messages, text: str) -> Usage:
    """Usage when the provider gave none: about four characters a token."""
    prompt = sum(len(str(message.get("content") or "")) for message in messages)
    return Usage(math.ceil(prompt / 4), math.ceil(len(text) / 4))


async def complete(
    runtime: Runtime,
    model: str,
    messages: Messages,
    *,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
) -> Completion:
    """One chat completion; raises the T21 error its failure maps to."""
    client = client_for(runtime)
    try:
        async with client:
            answer = await client.chat.completions.create(
                model=model, messages=messages, **_options(response_format, max_tokens)
            )
    except openai.OpenAIError as exc:
        raise failure(exc, runtime) from None
    extra = answer.model_extra or {}
    if extra.get("error") is not None:
        raise _in_answer(extra["error"])
    choices = getattr(answer, "choices", None) or []
    if not choices:
        raise UpstreamError(f"The AI provider answered without a completion. {NOTHING_CHARGED}")
    choice = choices[0]
    if choice.finish_reason == "error":
        raise _in_answer(None)
    text = (choice.message.content if choice.message else None) or ""
    usage = _usage_of(answer.usage) or _estimated(messages, text)
    return Completion(text, answer.model or model, usage, choice.finish_reason)


@dataclass
class Stream:
    """An open streamed completion: iterate for the text as it arrives; then `completion()`."""

    model: str
    messages: Messages
    _client: AsyncOpenAI
    _chunks: AsyncIterator[Any]
    _runtime: Runtime
    _parts: list[str] = field(default_factory=list)
    _usage: Usage | None = None
    _finish_reason: str | None = None
    _answered_model: str | None = None

    async def deltas(self) -> AsyncIterator[str]:
        try:
            async for chunk in self._chunks:
                self._answered_model = getattr(chunk, "model", None) or self._answered_model
                usage = _usage_of(getattr(chunk, "usage", None))
                if usage is not None:
                    self._usage = usage
                for choice in getattr(chunk, "choices", None) or []:
                    if choice.finish_reason == "error":
                        raise _in_answer(None)
                    if choice.finish_reason:
                        self._finish_reason = choice.finish_reason
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        self._parts.append(piece)
                        yield piece
        except openai.OpenAIError as exc:
            raise failure(exc, self._runtime, streaming=True) from None

    def completion(self) -> Completion:
        text = "".join(self._parts)
        usage = self._usage or _estimated(self.messages, text)
        return Completion(text, self._answered_model or self.model, usage, self._finish_reason)

    async def close(self) -> None:
        await self._client.close()


async def open_stream(
    runtime: Runtime,
    model: str,
    messages: Messages,
    *,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
) -> Stream:
    """Start a streamed completion. Returns once OpenRouter has answered 200, so a refusal is
    raised here, before anything is sent to T21's client."""
    client = client_for(runtime)
    try:
        chunks = await client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **_options(response_format, max_tokens),
        )
    except openai.OpenAIError as exc:
        await client.close()
        raise failure(exc, runtime) from None
    return Stream(model, messages, client, chunks.__aiter__(), runtime)


def _in_answer(error: Any) -> T21Error:
    message = error.get("message") if isinstance(error, dict) else None
    said = f": {message}" if isinstance(message, str) and message else ""
    return UpstreamError(f"The AI provider failed while answering{said}. {NOTHING_CHARGED}")


def _retry_after(response: Any) -> int | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(1, math.ceil(float(value))) if value is not None else None
    except ValueError:
        return None


def failure(exc: openai.OpenAIError, runtime: Runtime, *, streaming: bool = False) -> T21Error:
    """The error T21 answers for a failed OpenRouter call."""
    timeout = runtime.settings.openrouter_timeout_s
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout(
            f"The AI provider didn't answer within {timeout:g} s. {NOTHING_CHARGED}"
        )
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError(f"The AI provider couldn't be reached. {NOTHING_CHARGED}")
    if not isinstance(exc, openai.APIStatusError):
        if isinstance(exc, openai.APIError) and (streaming or exc.body is not None):
            return _in_answer(exc.body)
        return UpstreamError(f"The AI provider's answer couldn't be read. {NOTHING_CHARGED}")
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else None
    said = f" ({message})" if message else ""
    wait = _retry_after(exc.response)
    if status == 401:
        log.error("OpenRouter refused the API key", status=status)
        return Unavailable(
            "AI is unavailable: the AI provider refused this server's API key; an operator "
            f"must check T21_OPENROUTER_API_KEY. {NOTHING_CHARGED}"
        )
    if status == 402:
        log.error("OpenRouter account out of credits", status=status)
        headers = {"Retry-After": str(wait)} if wait is not None else None
        return Unavailable(
            "AI is unavailable: this server's account at the AI provider is out of credits "
            f"until an operator tops it up. {NOTHING_CHARGED}",
            headers=headers,
        )
    if status == 403:
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        reasons = metadata.get("reasons") if metadata else None
        why = f": {', '.join(map(str, reasons))}" if isinstance(reasons, list) and reasons else ""
        text = f"The AI provider's moderation refused this request{why}. {NOTHING_CHARGED}"
        return ValidationFailed(text, errors=[{"loc": ["body"], "msg": text}])
    if status == 408:
        return UpstreamTimeout(f"The AI provider timed out{said}. {NOTHING_CHARGED}")
    if status == 429:
        after = wait or DEFAULT_RATE_LIMIT_WAIT_S
        return RateLimited(
            after,
            f"The AI provider is rate limiting this server's requests; retry in {after} s. "
            f"{NOTHING_CHARGED}",
        )
    if status == 503:
        headers = {"Retry-After": str(wait)} if wait is not None else None
        return Unavailable(
            f"No AI provider can serve this model right now{said}. {NOTHING_CHARGED}",
            headers=headers,
        )
    if status >= 500:
        return UpstreamError(f"The AI provider failed{said}. {NOTHING_CHARGED}")
    return UpstreamError(f"The AI provider refused the request{said}. {NOTHING_CHARGED}")
