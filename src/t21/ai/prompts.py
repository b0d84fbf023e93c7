"""Every prompt T21 sends, as versioned templates in one place.

A template's text changes only with its `version`, so an answer can be traced to the words
that asked for it (the version is logged with each call). Prompts know the brand (description,
voice, audience, industry, keywords, default hashtags) and the platform (its text limit, counted
its way, and its norms). Answers that carry data (variants, hashtags) are asked for as JSON with
a schema; an improved text is asked for as plain text, so it streams as readable text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from t21.ai.client import Messages
from t21.platforms.base import TextCounting


@dataclass(frozen=True)
class BrandVoice:
    """What a prompt knows of a brand (plain values: read once, used after the session)."""

    name: str
    description: str | None = None
    voice: str | None = None
    target_audience: str | None = None
    industry: str | None = None
    keywords: tuple[str, ...] = ()
    default_hashtags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlatformRules:
    name: str
    display_name: str
    max_text: int
    counting: TextCounting
    # The network's norms for a good post, and a good post's length there (its provider's
    # `writing`).
    norms: str
    typical_length: int

    @property
    def target(self) -> int:
        """The length to aim at: a good post's length there, and some room under the limit,
        since models count characters loosely."""
        return min(self.typical_length, int(self.max_text * 0.9))


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    system: str
    user: str

    @property
    def tag(self) -> str:
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True)
class Prompt:
    template: Template
    messages: Messages
    response_format: dict[str, Any] | None = None


COUNTING_NOTES: dict[TextCounting, str] = {
    TextCounting.X_WEIGHTED: (
        " as X counts them: every link counts 23, every emoji and every CJK character 2"
    ),
    TextCounting.GRAPHEMES: " (user-perceived characters)",
    TextCounting.UTF8_EMOJI: " (each emoji counts as 4 characters or more)",
    TextCounting.CHARACTERS: "",
}

_WRITER = """You write social media posts for the brand below. Write in the brand's voice, for \
its audience; never invent facts, prices, dates or claims that aren't given.

{brand}

Platform: {platform_norms}
Length: the text must be at most {max_text} characters{counting_note}; aim for at most \
{target}.
Hashtags: each one word, starting with #, no spaces.{hashtags_hint}"""

GENERATE = Template(
    name="generate_content",
    version=1,
    system=_WRITER
    + """

Answer only with JSON: {{"variants": [{{"content": "...", "hashtags": ["#..."]}}]}} with \
exactly {variants} variants, each a different take. `content` is the post text without its \
hashtags; `hashtags` are the hashtags for it.""",
    user="""Write {variants} {platform} post variant(s) about:
{prompt}{tone}""",
)

SUGGEST_HASHTAGS = Template(
    name="suggest_hashtags",
    version=1,
    system=_WRITER
    + """

Answer only with JSON: {{"hashtags": ["#..."]}} with exactly {count} distinct hashtags, the \
most relevant first, mixing popular and specific ones.""",
    user="""Suggest {count} hashtags for this {platform} post:
{content}""",
)

IMPROVE_CONTENT = Template(
    name="improve_content",
    version=1,
    system=_WRITER
    + """

Improve the post you are given: clearer, more engaging, true to the brand's voice and the \
platform, keeping its meaning, facts, links and mentions. Answer only with the improved post \
text: no quotes, no commentary.""",
    user="""Improve this {platform} post.{instructions}
{content}""",
)

SHORTEN = Template(
    name="shorten",
    version=1,
    system=_WRITER
    + """

Answer only with JSON: {{"texts": ["..."]}}, one shortened text for each text given, in the \
same order.""",
    user="""Each of these {platform} texts is over the limit of {max_text} characters\
{counting_note}. Rewrite each to at most {target}, keeping its meaning, voice and hashtags.
{texts}""",
)


def _brand_block(brand: BrandVoice | None) -> str:
    if brand is None:
        return "Brand: (none given; write in a clear, friendly, neutral voice)"
    lines = [f"Brand: {brand.name}"]
    for label, value in (
        ("About", brand.description),
        ("Voice", brand.voice),
        ("Audience", brand.target_audience),
        ("Industry", brand.industry),
    ):
        if value:
            lines.append(f"{label}: {value}")
    if brand.keywords:
        lines.append("Keywords: " + ", ".join(brand.keywords))
    if brand.default_hashtags:
        lines.append("The brand's own hashtags: " + " ".join(brand.default_hashtags))
    return "\n".join(lines)


def _system(
    template: Template, brand: BrandVoice | None, rules: PlatformRules, **extra: Any
) -> str:
    hint = ""
    if brand is not None and brand.default_hashtags:
        hint = " Include the brand's own hashtags where they fit."
    return template.system.format(
        brand=_brand_block(brand),
        platform_norms=rules.norms,
        max_text=rules.max_text,
        counting_note=COUNTING_NOTES[rules.counting],
        target=rules.target,
        hashtags_hint=hint,
        **extra,
    )


def _json_schema(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def _strings(count: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if count is not None:
        schema.update(minItems=count, maxItems=count)
    return schema


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def generate(
    brand: BrandVoice, rules: PlatformRules, prompt: str, tone: str | None, variants: int
) -> Prompt:
    template = GENERATE
    variant = _object(content={"type": "string"}, hashtags=_strings())
    schema = _object(
        variants={"type": "array", "items": variant, "minItems": variants, "maxItems": variants}
    )
    return Prompt(
        template,
        [
            {"role": "system", "content": _system(template, brand, rules, variants=variants)},
            {
                "role": "user",
                "content": template.user.format(
                    variants=variants,
                    platform=rules.display_name,
                    prompt=prompt,
                    tone=f"\nTone: {tone}" if tone else "",
                ),
            },
        ],
        _json_schema("post_variants", schema),
    )


def suggest_hashtags(
    brand: BrandVoice | None, rules: PlatformRules, content: str, count: int
) -> Prompt:
    template = SUGGEST_HASHTAGS
    return Prompt(
        template,
        [
            {"role": "system", "content": _system(template, brand, rules, count=count)},
            {
                "role": "user",
                "content": template.user.format(
                    count=count, platform=rules.display_name, content=content
                ),
            },
        ],
        _json_schema("hashtags", _object(hashtags=_strings(count))),
    )


def improve_content(
    brand: BrandVoice | None, rules: PlatformRules, content: str, instructions: str | None
) -> Prompt:
    template = IMPROVE_CONTENT
    return Prompt(
        template,
        [
            {"role": "system", "content": _system(template, brand, rules)},
            {
                "role": "user",
                "content": template.user.format(
                    platform=rules.display_name,
                    instructions=f"\nInstructions: {instructions}" if instructions else "",
                    content=content,
                ),
            },
        ],
    )


def shorten(brand: BrandVoice | None, rules: PlatformRules, texts: list[str]) -> Prompt:
    template = SHORTEN
    numbered = "\n".join(f"{number}. {text}" for number, text in enumerate(texts, start=1))
    return Prompt(
        template,
        [
            {"role": "system", "content": _system(template, brand, rules)},
            {
                "role": "user",
                "content": template.user.format(
                    platform=rules.display_name,
                    max_text=rules.max_text,
                    counting_note=COUNTING_NOTES[rules.counting],
                    target=rules.target,
                    texts=numbered,
                ),
            },
        ],
        _json_schema("shortened", _object(texts=_strings(len(texts)))),
    )
