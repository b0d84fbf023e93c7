"""AI content for a brand: generate posts, suggest hashtags, improve a text.

Each call goes in three steps, and no database transaction is open while the model writes:

1. Check (one short transaction): the caller may write content in the organization, the model
   is in its plan (Free: the small models; else 402 `plan_required`), and the month's AI
   credits have room for at least the prompt (else 402 `quota_exceeded`). Those credits are
   taken from the month at once, in the same transaction (the organization's row locked on
   PostgreSQL), so calls started together can't all pass on the last credit.
2. Ask OpenRouter (`t21.ai.client`), read the answer (`t21.ai.output`) and make every text fit
   the platform: texts over the limit are asked for again, shorter, once; what is still over is
   trimmed on a word boundary.
3. Record (one short transaction): an `AiCall` row for every call, failed or not, and on
   success the credits, ceil(total tokens / 1000) and at least 1, settled against what step 1
   took from the month, in the same transaction. A call the provider failed is charged nothing
   (step 1's credits are given back); a streamed call whose client hung up is charged what was
   generated before it left (`cancelled`): the client has that text and the provider billed
   for it, so hanging up never makes AI free.

A call is charged what it used, which can be more than its prompt's credits taken up front,
so the month's usage can end slightly over the plan's credits, by at most one call's answer.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from t21.ai import client, output, prompts
from t21.ai.client import Completion, Stream, Usage
from t21.ai.credits import choose_model, credits_for, estimated_credits
from t21.ai.models import AiCall
from t21.ai.output import Variant
from t21.ai.prompts import BrandVoice, PlatformRules, Prompt
from t21.ai.schemas import (
    GenerateIn,
    GenerateOut,
    HashtagsIn,
    HashtagsOut,
    ImproveIn,
    ImproveOut,
    UsageOut,
    VariantOut,
)
from t21.billing import plans, usage
from t21.billing.warnings import count_usage
from t21.brands import service as brands_service
from t21.brands.service import _default_organization as default_organization
from t21.core import clock
from t21.core.errors import (
    InternalError,
    NotFound,
    T21Error,
    UpstreamError,
    ValidationFailed,
)
from t21.core.logging import current_request_id, get_logger
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.organizations.models import Organization
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms import registry

log = get_logger("t21.ai")

T = TypeVar("T")
NOT_CHARGED = "Nothing was charged."


class Kind:
    GENERATE_CONTENT = "generate_content"
    SUGGEST_HASHTAGS = "suggest_hashtags"
    IMPROVE_CONTENT = "improve_content"


def rules_for(platform: str) -> PlatformRules:
    provider = registry.provider_class(platform)
    limits = provider.limits
    return PlatformRules(
        platform,
        provider.display_name,
        limits.max_text,
        limits.text_counting,
        norms=provider.writing.norms,
        typical_length=provider.writing.typical_length,
    )


@dataclass(frozen=True)
class Call:
    """One AI call, checked and about to be made."""

    runtime: Runtime
    kind: str
    organization_id: uuid.UUID
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    brand_id: uuid.UUID | None
    brand: BrandVoice | None
    model: str
    rules: PlatformRules
    template: str
    reserved: int  # credits taken from the month when the call was checked
    month: datetime  # the moment they were taken: the call is settled in that month
    started: float = field(default_factory=time.monotonic)


@dataclass
class Tally:
    """What a call has used so far, over every request it made to the model."""

    model: str
    usage: Usage = field(default_factory=Usage)
    recorded: bool = False  # the call's row is written: never record (or charge) it twice

    def add(self, completion: Completion) -> None:
        self.usage.add(completion.usage)
        self.model = completion.model or self.model


@dataclass(frozen=True)
class Recorded:
    call_id: uuid.UUID
    model: str
    usage: UsageOut


async def _prepare(
    runtime: Runtime,
    principal: Principal,
    kind: str,
    *,
    platform: str,
    brand_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    model: str | None,
    build: Callable[[BrandVoice | None, PlatformRules], Prompt],
) -> tuple[Call, Prompt]:
    """Step 1: who pays, with which model, and whether the month's credits have room."""
    client.target(runtime)  # 503 now, not after the checks, when AI isn't configured
    settings = runtime.settings
    rules = rules_for(platform)
    async with session_scope(runtime) as session:
        brand: BrandVoice | None = None
        if brand_id is not None:
            row = await brands_service.get_brand(session, principal, brand_id, Action.WRITE_CONTENT)
            if organization_id is not None and organization_id != row.organization_id:
                message = "The brand belongs to another organization."
                raise ValidationFailed(
                    message, errors=[{"loc": ["body", "organization_id"], "msg": message}]
                )
            organization_id = row.organization_id
            brand = BrandVoice(
                name=row.name,
                description=row.description,
                voice=row.voice,
                target_audience=row.target_audience,
                industry=row.industry,
                keywords=tuple(row.keywords or ()),
                default_hashtags=tuple(row.default_hashtags or ()),
            )
        else:
            organization_id = organization_id or default_organization(principal)
            principal.authorize(organization_id, Action.WRITE_CONTENT)
        organization = await session.get(Organization, organization_id)
        if organization is None:
            raise NotFound("No such organization.")
        chosen = choose_model(settings, plans.plan_for(settings, organization.tier), model)
        prompt = build(brand, rules)
        reserved = estimated_credits(prompt)
        month = clock.now()
        await plans.enforce(
            session, settings, organization_id, plans.Limit.AI_CREDITS, adding=reserved
        )
        await count_usage(
            session, settings, organization_id, usage.Metric.AI_CREDITS, reserved, at=month
        )
    call = Call(
        runtime=runtime,
        kind=kind,
        organization_id=organization_id,
        user_id=principal.user_id if principal.api_key is None else None,
        api_key_id=principal.api_key.id if principal.api_key is not None else None,
        brand_id=brand_id,
        brand=brand,
        model=chosen,
        rules=rules,
        template=prompt.template.tag,
        reserved=reserved,
        month=month,
    )
    return call, prompt


CHARGED_OUTCOMES = frozenset({"ok", "cancelled"})


async def _record(call: Call, tally: Tally, outcome: str) -> Recorded:
    """Step 3: the call's row and its credits (on success, or for what a client that hung up
    was sent) in one short transaction."""
    credits = credits_for(tally.usage) if outcome in CHARGED_OUTCOMES else 0
    cost = tally.usage.cost_usd
    row = AiCall(
        organization_id=call.organization_id,
        user_id=call.user_id,
        api_key_id=call.api_key_id,
        brand_id=call.brand_id,
        kind=call.kind,
        model=tally.model[:128],
        prompt_tokens=tally.usage.prompt_tokens,
        completion_tokens=tally.usage.completion_tokens,
        credits=credits,
        cost_usd_micros=round(cost * 1_000_000) if cost is not None else None,
        latency_ms=round((time.monotonic() - call.started) * 1000),
        outcome=outcome[:32],
    )
    async with session_scope(call.runtime) as session:
        session.add(row)
        settled = credits - call.reserved  # negative: credits taken up front given back
        if settled:
            await count_usage(
                session,
                call.runtime.settings,
                call.organization_id,
                usage.Metric.AI_CREDITS,
                settled,
                at=call.month,
            )
        await session.flush()
    tally.recorded = True
    log.info(
        "ai call",
        kind=call.kind,
        template=call.template,
        model=row.model,
        outcome=outcome,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        credits=credits,
        latency_ms=row.latency_ms,
    )
    return Recorded(
        row.id,
        row.model,
        UsageOut(
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            credits=credits,
        ),
    )


async def _attempt(
    call: Call, work: Callable[[Tally], Awaitable[T]], tally: Tally | None = None
) -> tuple[T, Recorded]:
    """Step 2 and 3: run `work`, and record the call whatever happens."""
    tally = tally or Tally(call.model)
    try:
        result = await work(tally)
    except T21Error as error:
        await _record(call, tally, error.code)
        raise
    except Exception:
        await _record(call, tally, "internal_error")
        raise
    except asyncio.CancelledError:
        # Cut off (a client gone, the server stopping) while the model was asked: recorded,
        # and charged like a stream the client hung up on.
        with anyio.CancelScope(shield=True):
            await _record(call, tally, "cancelled")
        raise
    return result, await _record(call, tally, "ok")


async def _complete(call: Call, prompt: Prompt, tally: Tally) -> Completion:
    completion = await client.complete(
        call.runtime, call.model, prompt.messages, response_format=prompt.response_format
    )
    tally.add(completion)
    return completion


def _unreadable() -> UpstreamError:
    return UpstreamError(f"The AI model's answer had nothing usable in it. {NOT_CHARGED}")


async def _fit(call: Call, tally: Tally, texts: list[str]) -> list[str]:
    """Every text within the platform's limit: those over it asked for again, shorter, once;
    then whatever is still over trimmed on a word boundary."""
    rules = call.rules
    over = [
        i for i, text in enumerate(texts) if not output.fits(text, rules.max_text, rules.counting)
    ]
    fitted = list(texts)
    if over:
        prompt = prompts.shorten(call.brand, rules, [texts[i] for i in over])
        try:
            completion = await _complete(call, prompt, tally)
        except T21Error as error:
            log.warning("asking for shorter texts failed", error=error.code)
        else:
            shorter = output.read_texts(completion.text, len(over))
            for index, text in zip(over, shorter or [], strict=False):
                fitted[index] = text
    return [output.trim(text, rules.max_text, rules.counting) for text in fitted]


async def _variants(call: Call, tally: Tally, completion: Completion, wanted: int) -> list[Variant]:
    variants = output.read_variants(completion.text)[:wanted]
    if not variants:
        raise _unreadable()
    rules = call.rules
    contents = await _fit(call, tally, [variant.content for variant in variants])
    for variant, content in zip(variants, contents, strict=True):
        variant.content = content
        variant.hashtags = output.fit_hashtags(
            content, variant.hashtags, rules.max_text, rules.counting
        )
    return variants


def _hashtags(call: Call, completion: Completion, count: int) -> list[str]:
    suggested = output.read_hashtags(completion.text)
    if call.brand is not None and len(suggested) < count:
        suggested = output.normalise_hashtags([*suggested, *call.brand.default_hashtags])
    if not suggested:
        raise _unreadable()
    return suggested[:count]


async def _improved(call: Call, tally: Tally, completion: Completion) -> str:
    content = output.read_content(completion.text)
    if not content:
        raise _unreadable()
    [fitted] = await _fit(call, tally, [content])
    return fitted


# --- the three calls ----------------------------------------------------------------------------


async def _prepare_generate(
    runtime: Runtime, principal: Principal, fields: GenerateIn
) -> tuple[Call, Prompt]:
    def build(brand: BrandVoice | None, rules: PlatformRules) -> Prompt:
        assert brand is not None
        return prompts.generate(brand, rules, fields.prompt, fields.tone, fields.variants)

    return await _prepare(
        runtime,
        principal,
        Kind.GENERATE_CONTENT,
        platform=fields.platform,
        brand_id=fields.brand_id,
        organization_id=None,
        model=fields.model,
        build=build,
    )


def _generate_out(variants: list[Variant], recorded: Recorded) -> GenerateOut:
    return GenerateOut(
        id=recorded.call_id,
        model=recorded.model,
        usage=recorded.usage,
        variants=[VariantOut(content=v.content, hashtags=v.hashtags) for v in variants],
    )


async def generate_content(
    runtime: Runtime, principal: Principal, fields: GenerateIn
) -> GenerateOut:
    """`fields.variants` posts for the brand on the platform, each within its limit."""
    call, prompt = await _prepare_generate(runtime, principal, fields)

    async def work(tally: Tally) -> list[Variant]:
        completion = await _complete(call, prompt, tally)
        return await _variants(call, tally, completion, fields.variants)

    variants, recorded = await _attempt(call, work)
    return _generate_out(variants, recorded)


async def generate_content_events(
    runtime: Runtime, principal: Principal, fields: GenerateIn
) -> AsyncIterator[bytes]:
    """`generate_content` as server-sent events (see `events`)."""
    call, prompt = await _prepare_generate(runtime, principal, fields)
    stream = await _open(call, prompt)

    async def finish(tally: Tally, completion: Completion) -> GenerateOut:
        variants = await _variants(call, tally, completion, fields.variants)
        return _generate_out(variants, await _record(call, tally, "ok"))

    return events(call, stream, finish)


async def suggest_hashtags(
    runtime: Runtime, principal: Principal, fields: HashtagsIn
) -> HashtagsOut:
    """Up to `fields.count` hashtags for the text, normalised, the most relevant first."""

    def build(brand: BrandVoice | None, rules: PlatformRules) -> Prompt:
        return prompts.suggest_hashtags(brand, rules, fields.content, fields.count)

    call, prompt = await _prepare(
        runtime,
        principal,
        Kind.SUGGEST_HASHTAGS,
        platform=fields.platform,
        brand_id=fields.brand_id,
        organization_id=fields.organization_id,
        model=fields.model,
        build=build,
    )

    async def work(tally: Tally) -> list[str]:
        return _hashtags(call, await _complete(call, prompt, tally), fields.count)

    hashtags, recorded = await _attempt(call, work)
    return HashtagsOut(
        id=recorded.call_id, model=recorded.model, usage=recorded.usage, hashtags=hashtags
    )


async def _prepare_improve(
    runtime: Runtime, principal: Principal, fields: ImproveIn
) -> tuple[Call, Prompt]:
    def build(brand: BrandVoice | None, rules: PlatformRules) -> Prompt:
        return prompts.improve_content(brand, rules, fields.content, fields.instructions)

    return await _prepare(
        runtime,
        principal,
        Kind.IMPROVE_CONTENT,
        platform=fields.platform,
        brand_id=fields.brand_id,
        organization_id=fields.organization_id,
        model=fields.model,
        build=build,
    )


def _improve_out(content: str, recorded: Recorded) -> ImproveOut:
    return ImproveOut(
        id=recorded.call_id, model=recorded.model, usage=recorded.usage, content=content
    )


async def improve_content(runtime: Runtime, principal: Principal, fields: ImproveIn) -> ImproveOut:
    """The text improved for the platform (and brand), within the platform's limit."""
    call, prompt = await _prepare_improve(runtime, principal, fields)

    async def work(tally: Tally) -> str:
        return await _improved(call, tally, await _complete(call, prompt, tally))

    content, recorded = await _attempt(call, work)
    return _improve_out(content, recorded)


async def improve_content_events(
    runtime: Runtime, principal: Principal, fields: ImproveIn
) -> AsyncIterator[bytes]:
    """`improve_content` as server-sent events (see `events`)."""
    call, prompt = await _prepare_improve(runtime, principal, fields)
    stream = await _open(call, prompt)

    async def finish(tally: Tally, completion: Completion) -> ImproveOut:
        content = await _improved(call, tally, completion)
        return _improve_out(content, await _record(call, tally, "ok"))

    return events(call, stream, finish)


# --- streaming ----------------------------------------------------------------------------------


async def _open(call: Call, prompt: Prompt) -> Stream:
    """The model's streamed answer, once it has started (a refusal is recorded and raised)."""
    try:
        return await client.open_stream(
            call.runtime, call.model, prompt.messages, response_format=prompt.response_format
        )
    except T21Error as error:
        await _record(call, Tally(call.model), error.code)
        raise


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def events(
    call: Call,
    stream: Stream,
    finish: Callable[[Tally, Completion], Awaitable[BaseModel]],
) -> AsyncIterator[bytes]:
    """The answer as server-sent events: `token` `{"text"}` for each piece of the model's
    answer as it arrives, then `result` (the endpoint's JSON answer, usage included) or
    `error` (a problem document: nothing was charged). A client that leaves before the
    result is charged for the prompt and the answer generated so far (the provider's usage
    when it reported it, else a count of what arrived)."""
    tally = Tally(call.model)
    streamed = finished = False
    try:
        try:
            async for piece in stream.deltas():
                yield sse("token", {"text": piece})
        finally:
            with anyio.CancelScope(shield=True):
                await stream.close()
        completion = stream.completion()
        tally.add(completion)
        streamed = True
        result = await finish(tally, completion)  # records the call as charged
        finished = True
        yield sse("result", result.model_dump(mode="json"))
    except T21Error as error:
        if not streamed:
            tally.add(stream.completion())  # what arrived before the failure, estimated
        await _record(call, tally, error.code)
        yield sse("error", _streamed_problem(error))
    except (asyncio.CancelledError, GeneratorExit):
        if not finished and not tally.recorded:  # the client left mid-answer: charged for it
            with anyio.CancelScope(shield=True):
                if not streamed:
                    tally.add(stream.completion())
                await _record(call, tally, "cancelled")
        raise
    except Exception:
        if finished:
            raise
        log.exception("streamed AI call failed", kind=call.kind)
        await _record(call, tally, "internal_error")
        yield sse("error", _streamed_problem(InternalError()))


def _streamed_problem(error: T21Error) -> dict[str, Any]:
    """An error event's data: the problem a non-streamed call would answer, request id included,
    so a stream's failure can be quoted and found in the logs like any other."""
    problem = error.problem()
    request_id = current_request_id()
    if request_id is not None:
        problem["request_id"] = request_id
    return problem
