"""The v4 local posts of the fake: `POST|GET /v4/accounts/{a}/locations/{l}/localPosts`, with
Google's own rules applied here (not T21's): the fields a LocalPost has, its topic types, an
event for EVENT and OFFER, the call-to-action types (CALL without a url, the others with one),
a summary of at most 1,500 characters, and one photo Google fetches from its `sourceUrl`."""

from __future__ import annotations

import json
import secrets
import time
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.core.tls import tls_context
from t21.sandbox.google_business.state import FakePost, GoogleBusinessState
from t21.sandbox.google_oauth import api_error, authenticated
from t21.sandbox.platform import IssuedToken

SCOPE = "https://www.googleapis.com/auth/business.manage"
FIELDS = frozenset(
    {"name", "languageCode", "summary", "callToAction", "createTime", "updateTime", "event"}
    | {"state", "media", "searchUrl", "topicType", "alertType", "offer"}
)
TOPICS = frozenset({"STANDARD", "EVENT", "OFFER", "ALERT"})
ACTIONS = frozenset({"BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "GET_OFFER", "CALL"})
MAX_SUMMARY = 1500
MAX_MEDIA = 1
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
PHOTO_MAX_BYTES = 5 * 1024 * 1024
MAX_PAGE = 100
DEFAULT_PAGE = 20


class Invalid(Exception):
    """A LocalPost Google refuses with 400 INVALID_ARGUMENT."""


def _web_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _moment(date: Any, clock: Any) -> tuple[int, ...]:
    if not isinstance(date, dict) or not all(isinstance(date.get(k), int) for k in
                                             ("year", "month", "day")):  # fmt: skip
        raise Invalid("event.schedule needs startDate and endDate {year, month, day}.")
    clock = clock if isinstance(clock, dict) else {}
    parts = (clock.get("hours", 0), clock.get("minutes", 0), clock.get("seconds", 0))
    return (date["year"], date["month"], date["day"], *(int(p) for p in parts))


def validate(body: dict[str, Any]) -> dict[str, Any]:
    """`body` as Google keeps it, or `Invalid` saying why it is refused."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Invalid(f'Invalid JSON payload received. Unknown name "{unknown[0]}".')
    post = {k: v for k, v in body.items() if k not in ("name", "createTime", "updateTime",
                                                         "state", "searchUrl")}  # fmt: skip
    topic = post.get("topicType")
    if topic not in TOPICS:
        raise Invalid("topicType is required: STANDARD, EVENT, OFFER or ALERT.")
    summary = post.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise Invalid("summary must be a string.")
    if summary is not None and len(unicodedata.normalize("NFC", summary)) > MAX_SUMMARY:
        raise Invalid(f"summary is longer than {MAX_SUMMARY} characters.")
    if topic == "STANDARD" and not (summary or "").strip():
        raise Invalid("A STANDARD post needs a summary.")
    if topic in ("EVENT", "OFFER"):
        event = post.get("event")
        if not isinstance(event, dict) or not str(event.get("title") or "").strip():
            raise Invalid(f"An {topic} post needs event.title.")
        schedule = event.get("schedule")
        if not isinstance(schedule, dict):
            raise Invalid(f"An {topic} post needs event.schedule.")
        start = _moment(schedule.get("startDate"), schedule.get("startTime"))
        end = _moment(schedule.get("endDate"), schedule.get("endTime"))
        if end <= start:
            raise Invalid("event.schedule must end after it starts.")
    elif "event" in post:
        raise Invalid("event is only for EVENT and OFFER posts.")
    if topic != "OFFER" and "offer" in post:
        raise Invalid("offer is only for OFFER posts.")
    if topic == "OFFER":
        post.pop("callToAction", None)  # ignored for OFFER
        offer = post.get("offer") or {}
        if not isinstance(offer, dict) or set(offer) - {"couponCode", "redeemOnlineUrl",
                                                         "termsConditions"}:  # fmt: skip
            raise Invalid("offer takes couponCode, redeemOnlineUrl and termsConditions.")
        if "redeemOnlineUrl" in offer and not _web_url(offer["redeemOnlineUrl"]):
            raise Invalid("offer.redeemOnlineUrl must be a valid URL.")
    action = post.get("callToAction")
    if action is not None:
        kind = action.get("actionType") if isinstance(action, dict) else None
        if kind not in ACTIONS:
            raise Invalid("callToAction.actionType is not a valid ActionType.")
        if kind == "CALL" and "url" in action:
            raise Invalid("callToAction.url must be unset for CALL.")
        if kind != "CALL" and not _web_url(action.get("url")):
            raise Invalid(f"callToAction.url is required for {kind}.")
    media = post.get("media") or []
    if not isinstance(media, list) or len(media) > MAX_MEDIA:
        raise Invalid(f"A local post takes at most {MAX_MEDIA} media item.")
    for item in media:
        if not isinstance(item, dict) or item.get("mediaFormat") != "PHOTO":
            raise Invalid("media[].mediaFormat must be PHOTO.")
        if not _web_url(item.get("sourceUrl")) or set(item) - {"mediaFormat", "sourceUrl"}:
            raise Invalid("media[].sourceUrl is the only field taken, and it is required.")
    return post


async def _fetch_photo(url: str) -> None:
    """Google downloads the photo itself: it must be there, a JPG or PNG, at most 5 MB."""
    try:
        async with httpx.AsyncClient(timeout=10, verify=tls_context()) as http:
            response = await http.get(url)
    except httpx.HTTPError:
        raise Invalid("The photo at media[].sourceUrl could not be fetched.") from None
    kind = response.headers.get("content-type", "").partition(";")[0].strip()
    data = response.content
    if response.status_code != 200:
        raise Invalid("The photo at media[].sourceUrl could not be fetched.")
    looks = data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"))
    if kind not in PHOTO_TYPES or not looks:
        raise Invalid("The photo must be a JPG or PNG.")
    if len(data) > PHOTO_MAX_BYTES:
        raise Invalid("The photo is larger than 5 MB.")


def post_routes(state: GoogleBusinessState) -> list[Route]:
    def located(request: Request, token: IssuedToken) -> str | Response:
        account = f"accounts/{request.path_params['account']}"
        location = state.locations.get(request.path_params["location"])
        if location is None or location.account != account or account not in state.accounts:
            return api_error(404, "NOT_FOUND", "Requested entity was not found.")
        if not state.approved:
            return api_error(
                429, "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Requests' with limit 'Requests per minute' "
                "of 0.", "RATE_LIMIT_EXCEEDED",
            )  # fmt: skip
        return location.id

    async def create(request: Request) -> Response:
        token = authenticated(state, request, SCOPE)
        if isinstance(token, Response):
            return token
        location = located(request, token)
        if isinstance(location, Response):
            return location
        try:
            body = json.loads(await request.body())
        except ValueError:
            return api_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return api_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        state.received_send(account=location, text=body.get("summary"))
        if not state.edit_allowed(location):
            return api_error(
                429, "RESOURCE_EXHAUSTED", "Too many edits to this Business Profile.",
                "RATE_LIMIT_EXCEEDED",
            )  # fmt: skip
        try:
            post = validate(body)
            if state.fetch_photos:
                for item in post.get("media") or []:
                    await _fetch_photo(item["sourceUrl"])
        except Invalid as refused:
            return api_error(400, "INVALID_ARGUMENT", str(refused))
        prefix = f"accounts/{request.path_params['account']}/locations/{location}"
        name = f"{prefix}/localPosts/{secrets.randbelow(10**18) + 10**18}"
        created = FakePost(name, location, post, time.time())
        state.posts.append(created)
        state.record_publication(id=name, location=location, text=post.get("summary"),
                                 topic=post["topicType"])  # fmt: skip
        return JSONResponse(created.view())

    async def listing(request: Request) -> Response:
        token = authenticated(state, request, SCOPE)
        if isinstance(token, Response):
            return token
        location = located(request, token)
        if isinstance(location, Response):
            return location
        try:
            size = int(request.query_params.get("pageSize", DEFAULT_PAGE))
            start = int(request.query_params.get("pageToken") or 0)
        except ValueError:
            return api_error(400, "INVALID_ARGUMENT", "Invalid pageSize or pageToken.")
        if not 1 <= size <= MAX_PAGE or start < 0:
            return api_error(400, "INVALID_ARGUMENT", "pageSize must be between 1 and 100.")
        mine = [p for p in reversed(state.posts) if p.location == location]
        page = mine[start : start + size]
        body: dict[str, Any] = {"localPosts": [p.view() for p in page]}
        if start + size < len(mine):
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)

    path = "/v4/accounts/{account}/locations/{location}/localPosts"
    return [
        Route(path, create, methods=["POST"]),
        Route(path, listing, methods=["GET"]),
    ]
