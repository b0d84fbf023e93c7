"""What a Google Business Profile local post may be: its options (`post_type`, a call to action,
an event, an offer), the limits `GET /api/v1/platforms` shows, and the checks that refuse a post
when it is written, each naming its rule. The local post T21 sends is built here too, so the
rules and the wire shape can't drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from t21.core.outside import Permanent
from t21.platforms.base import (
    MediaKind,
    MediaRule,
    PlatformLimits,
    PublishRequest,
    TextCounting,
    parse_options,
)

# LocalPost.summary: Google's post editor and help take up to 1,500 characters.
MAX_SUMMARY = 1500
# One photo per post, as the Business Profile editor takes (how many `media` the API keeps on a
# post is unconfirmed, so T21 sends one).
MAX_PHOTOS = 1
# Business Profile photos: JPG or PNG, at most 5 MB (Google's photo guidelines; their minimum
# sizes are for the profile's own photos and are not applied to a post's).
PHOTO_MAX_BYTES = 5 * 1024 * 1024
# CallToAction.actionType values T21 offers (GET_OFFER is for offers, which take no button).
ACTION_TYPES = ("BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "CALL")
TOPIC_TYPES = {"standard": "STANDARD", "event": "EVENT", "offer": "OFFER"}

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1500)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]

LIMITS = PlatformLimits(
    max_text=MAX_SUMMARY,
    text_counting=TextCounting.CHARACTERS,
    requires_media=False,
    max_images=MAX_PHOTOS,
    max_videos=0,
    mixed_media=False,
    image=MediaRule(
        content_types=frozenset({"image/jpeg", "image/png"}),
        max_size_bytes=PHOTO_MAX_BYTES,
    ),
    video=None,
    notes=(
        "A post's text (its summary) takes up to 1,500 characters; one JPG or PNG photo of "
        "at most 5 MB, which Google downloads from T21's link.",
        "options.post_type: standard (default), event ({title, start, end}) or offer (an "
        "event's title and dates, plus {coupon_code?, terms?, redeem_url?}).",
        "options.call_to_action {type, url}: BOOK, ORDER, SHOP, LEARN_MORE, SIGN_UP with a "
        "link, or CALL (the location's phone number) without one; offers take none.",
        "Event and offer dates are the location's local times.",
        "Google gives no per-post numbers (local post insights were removed), so T21 "
        "collects none for Business Profile posts.",
    ),
)


class CallToAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Google's ActionType names; "learn more", "sign-up" and other spellings are read as them.
    type: Literal["BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "CALL"]
    url: Url | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _google_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return "_".join(value.strip().upper().replace("-", " ").split())
        return value


class Event(BaseModel):
    """An event's (or an offer's) title and when it runs, in the location's local time."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=58)]
    start: datetime
    end: datetime


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coupon_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=58)] | None = (
        None
    )
    terms: Text | None = None
    # Where the offer is redeemed online (`redeemOnlineUrl`).
    redeem_url: Url | None = None


class GoogleBusinessOptions(BaseModel):
    """Per-post options of a Business Profile local post: its type, a button, an event's (or
    an offer's) title and dates in the location's local time, an offer's coupon, terms and
    link. Google gives no per-post numbers, so these posts have no metrics in T21."""

    model_config = ConfigDict(extra="forbid")

    post_type: Literal["standard", "event", "offer"] = "standard"
    call_to_action: CallToAction | None = None
    event: Event | None = None
    offer: Offer | None = None


def _refuse(message: str, rule: str) -> Permanent:
    return Permanent(message, code=rule)


def _web_url(value: str, what: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _refuse(f"{what} must be an http:// or https:// link.", "invalid_url")


def check(request: PublishRequest) -> GoogleBusinessOptions:
    """The request's options, or `Permanent` naming the rule it breaks."""
    options = parse_options(GoogleBusinessOptions, request.options, "Google Business Profile")
    kind = options.post_type
    if len(request.text) > MAX_SUMMARY:
        raise _refuse(
            f"The text is {len(request.text)} characters; a Google Business Profile post takes "
            f"at most {MAX_SUMMARY}.",
            "text_too_long",
        )
    if kind == "standard" and not request.text.strip():
        raise _refuse("A standard Business Profile post needs text.", "empty")
    if kind != "standard" and options.event is None:
        raise _refuse(
            f"An {kind} post needs options.event {{title, start, end}}.", f"{kind}_needs_event"
        )
    if kind == "standard" and options.event is not None:
        raise _refuse("options.event is for event and offer posts.", "event_not_taken")
    if kind != "offer" and options.offer is not None:
        raise _refuse("options.offer is for offer posts.", "offer_not_taken")
    if options.event is not None and _aware(options.event.start) != _aware(options.event.end):
        raise _refuse("Give start and end both with an offset or both without.", "event_schedule")
    if options.event is not None and options.event.end <= options.event.start:
        raise _refuse("The event must end after it starts.", "event_schedule")
    action = options.call_to_action
    if action is not None:
        if kind == "offer":
            raise _refuse("An offer post takes no call to action.", "call_to_action_on_offer")
        if action.type == "CALL" and action.url is not None:
            raise _refuse("A CALL button dials the location: it takes no url.", "call_takes_no_url")
        if action.type != "CALL":
            if action.url is None:
                raise _refuse(f"A {action.type} button needs a url.", "call_to_action_url")
            _web_url(action.url, "options.call_to_action.url")
    if options.offer is not None and options.offer.redeem_url is not None:
        _web_url(options.offer.redeem_url, "options.offer.redeem_url")
    for item in request.media:
        if item.kind is not MediaKind.IMAGE:
            raise _refuse("Business Profile posts take a photo, not a video.", "media_type")
    return options


def _aware(moment: datetime) -> bool:
    return moment.tzinfo is not None


def _date(moment: datetime) -> dict[str, int]:
    return {"year": moment.year, "month": moment.month, "day": moment.day}


def _time(moment: datetime) -> dict[str, int]:
    return {"hours": moment.hour, "minutes": moment.minute, "seconds": moment.second, "nanos": 0}


def local_post(request: PublishRequest, options: GoogleBusinessOptions) -> dict[str, Any]:
    """The LocalPost to create: wall-clock dates and times as written (the location's own)."""
    post: dict[str, Any] = {"topicType": TOPIC_TYPES[options.post_type]}
    if request.text.strip():
        post["summary"] = request.text
    if options.event is not None:
        start, end = options.event.start, options.event.end
        post["event"] = {
            "title": options.event.title,
            "schedule": {
                "startDate": _date(start),
                "startTime": _time(start),
                "endDate": _date(end),
                "endTime": _time(end),
            },
        }
    if options.offer is not None:
        offer = {
            "couponCode": options.offer.coupon_code,
            "termsConditions": options.offer.terms,
            "redeemOnlineUrl": options.offer.redeem_url,
        }
        post["offer"] = {name: value for name, value in offer.items() if value}
    action = options.call_to_action
    if action is not None:
        post["callToAction"] = {"actionType": action.type}
        if action.url is not None:
            post["callToAction"]["url"] = action.url
    if request.media:
        post["media"] = [{"mediaFormat": "PHOTO", "sourceUrl": item.url} for item in request.media]
    return post
