"""Posts: `POST /2/tweets` with X's validation (weighted length, media, replies, quotes,
duplicates), `DELETE /2/tweets/{id}`, lookups with public and non-public metrics, the user's
timeline, `/2/tweets/analytics`, and the permalink pages."""

from __future__ import annotations

import hashlib
import html
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.twitter.counting import weighted_length
from t21.sandbox.twitter.media import EXPIRES_AFTER_S
from t21.sandbox.twitter.state import Tweet, TwitterState, Upload
from t21.sandbox.twitter.wire import (
    PROBLEMS,
    about_blank,
    forbidden,
    invalid_request,
    json_object,
    not_found,
)

REPLY_SETTINGS = frozenset({"following", "mentionedUsers", "subscribers", "verified"})
# Accepted and ignored: the fake doesn't model communities, polls' votes or cards.
OTHER_FIELDS = frozenset(
    {
        "poll", "community_id", "share_with_followers", "made_with_ai", "paid_partnership",
        "for_super_followers_only", "geo", "nullcast", "card_uri", "edit_options",
        "direct_message_deep_link",
    }
)  # fmt: skip
TWEET_FIELDS = frozenset({"text", "media", "reply", "quote_tweet_id", "reply_settings"})
NON_PUBLIC_DAYS = 30
PUBLIC_METRICS = ("retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count",
                  "impression_count")  # fmt: skip
NON_PUBLIC_METRICS = ("impression_count", "url_link_clicks", "user_profile_clicks")
METRIC_NAMES = frozenset(PUBLIC_METRICS + NON_PUBLIC_METRICS + ("view_count",))
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."


def iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_request(f"Invalid {name}: must be RFC 3339 (YYYY-MM-DDTHH:mm:ssZ)",
                              **{name: value}) from None  # fmt: skip


def fields_of(request: Request, *names: str) -> set[str]:
    """A comma-separated fields parameter; X's 2026 spec renames `tweet.fields` `post.fields`."""
    found: set[str] = set()
    for name in names:
        found |= {part for part in request.query_params.get(name, "").split(",") if part}
    return found


def tweet_routes(state: TwitterState) -> list[Route]:
    def ready_media(ids: Any, owner: str) -> list[Upload]:
        if not isinstance(ids, list) or not 1 <= len(ids) <= 4:
            raise invalid_request("media.media_ids: size must be between 1 and 4",
                                  media_ids=ids)  # fmt: skip
        uploads = []
        for media_id in ids:
            upload = state.uploads.get(str(media_id))
            expired = upload is not None and time.time() > upload.created_at + EXPIRES_AFTER_S
            if upload is None or upload.owner != owner or expired or not upload.finalized:
                raise invalid_request("Your media IDs are invalid.", media_ids=ids)
            if not upload.ready():
                # X doesn't document the words for media still processing (unconfirmed).
                raise invalid_request(f"Media {media_id} is not ready to be used yet.",
                                      media_ids=ids)  # fmt: skip
            uploads.append(upload)
        if len(uploads) > 1 and any(upload.kind != "photo" for upload in uploads):
            raise invalid_request(
                "Your media IDs are invalid: a post takes up to 4 photos, or 1 animated GIF, "
                "or 1 video.",
                media_ids=ids,
            )
        return uploads

    def target(tweet_id: Any, action: str) -> str:
        if not isinstance(tweet_id, str) or state.visible_tweet(tweet_id) is None:
            # "reply" is X's documented answer; "quote" is the same words (unconfirmed).
            raise forbidden(f"You attempted to {action} a Tweet that is deleted or not "
                            "visible to you.")  # fmt: skip
        return tweet_id

    async def create(request: Request) -> Response:
        caller = state.caller(request, "tweet.read", "tweet.write", "users.read")
        body = await json_object(request)
        unknown = sorted(set(body) - TWEET_FIELDS - OTHER_FIELDS)
        if unknown:
            raise invalid_request(f"The `{unknown[0]}` field is not allowed.",
                                  **{unknown[0]: body[unknown[0]]})  # fmt: skip
        text = body.get("text")
        reply = body.get("reply")
        answers = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        state.received_send(account=caller.account_id, text=text, reply_to=answers)
        media = body.get("media")
        if text is not None and not isinstance(text, str):
            raise invalid_request("text must be a string", text=text)
        if not text and media is None:
            raise invalid_request("text is required unless media is present", text=text)
        if text and weighted_length(text) > state.max_text:
            raise invalid_request(
                f"Your Tweet text is too long: it is {weighted_length(text)} characters, the "
                f"limit is {state.max_text}.",
                text=text,
            )
        uploads: list[Upload] = []
        if media is not None:
            if not isinstance(media, dict):
                raise invalid_request("media must be an object", media=media)
            uploads = ready_media(media.get("media_ids"), caller.account_id)
        reply = body.get("reply")
        reply_to = None
        if reply is not None:
            if not isinstance(reply, dict) or "in_reply_to_tweet_id" not in reply:
                raise invalid_request("reply.in_reply_to_tweet_id is required", reply=reply)
            reply_to = target(reply["in_reply_to_tweet_id"], "reply to")
        quote_of = target(body["quote_tweet_id"], "quote") if "quote_tweet_id" in body else None
        settings = body.get("reply_settings")
        if settings is not None and settings not in REPLY_SETTINGS:
            raise invalid_request(
                "reply_settings must be one of [following, mentionedUsers, subscribers, verified]",
                reply_settings=settings,
            )
        if (
            text
            and any(
                t.text == text and t.author_id == caller.account_id and not t.deleted
                for t in state.tweets.values()
            )
            and state.refuses_duplicate()
        ):
            raise forbidden(DUPLICATE)
        tweet = Tweet(
            id=state.ids.next(),
            author_id=caller.account_id,
            text=text or "",
            created_at=time.time(),
            media_keys=[upload.media_key for upload in uploads],
            reply_to=reply_to,
            quote_of=quote_of,
            reply_settings=settings,
        )
        state.tweets[tweet.id] = tweet
        state.record_publication(
            id=tweet.id,
            author_id=tweet.author_id,
            text=tweet.text,
            media=[_media_summary(upload) for upload in uploads],
            reply_to=reply_to,
            quote_of=quote_of,
            reply_settings=settings,
        )
        return JSONResponse(
            {"data": {"id": tweet.id, "text": tweet.text, "edit_history_post_ids": [tweet.id]}},
            status_code=201,
        )

    async def delete(request: Request) -> Response:
        caller = state.caller(request, "tweet.read", "tweet.write", "users.read")
        tweet = state.visible_tweet(request.path_params["tweet_id"])
        if tweet is None:
            raise about_blank(404, "Not Found Error", "Could not find the post.")
        if tweet.author_id != caller.account_id:
            raise forbidden("You are not allowed to delete this Tweet.")
        tweet.deleted = True
        return JSONResponse({"data": {"deleted": True}})

    def render(tweet: Tweet, fields: set[str], caller_id: str, errors: list[Any]) -> Any:
        data: dict[str, Any] = {
            "id": tweet.id,
            "text": tweet.text,
            "edit_history_post_ids": [tweet.id],
        }
        if "created_at" in fields:
            data["created_at"] = iso(tweet.created_at)
        if "author_id" in fields:
            data["author_id"] = tweet.author_id
        if tweet.reply_to and "referenced_tweets" in fields:
            data["referenced_tweets"] = [{"type": "replied_to", "id": tweet.reply_to}]
        if tweet.media_keys and "attachments" in fields:
            data["attachments"] = {"media_keys": list(tweet.media_keys)}
        state.grow(
            tweet.metrics, post_key=tweet.id, published_at=tweet.created_at, names=METRIC_NAMES
        )
        if "public_metrics" in fields:
            data["public_metrics"] = {name: tweet.metrics.get(name, 0) for name in PUBLIC_METRICS}
        private = fields & {"non_public_metrics", "organic_metrics"}
        young = time.time() - tweet.created_at <= NON_PUBLIC_DAYS * 86_400
        refused = [] if young and tweet.author_id == caller_id else sorted(private)
        if refused:
            # Only the author's posts, and only for 30 days; X then leaves the whole post out
            # of `data` and names each refused field in `errors` (a 200 all the same).
            errors.extend(_field_refused(tweet.id, name) for name in refused)
            return None
        for name in sorted(private):
            data[name] = {key: tweet.metrics.get(key, 0) for key in NON_PUBLIC_METRICS}
        return data

    async def lookup(request: Request) -> Response:
        caller = state.caller(request, "tweet.read", "users.read")
        ids = [part for part in request.query_params.get("ids", "").split(",") if part]
        if not 1 <= len(ids) <= 100 or not all(part.isdigit() for part in ids):
            raise invalid_request("ids must be 1 to 100 comma-separated post ids", ids=ids)
        fields = fields_of(request, "tweet.fields", "post.fields")
        expansions = fields_of(request, "expansions")
        if "attachments.media_keys" in expansions:
            fields.add("attachments")
        media_fields = fields_of(request, "media.fields")
        data, errors, media = [], [], []
        for tweet_id in ids:
            tweet = state.visible_tweet(tweet_id)
            if tweet is None:
                errors.append(not_found("tweet", tweet_id, "ids"))
                continue
            rendered = render(tweet, fields, caller.account_id, errors)
            if rendered is None:
                continue
            data.append(rendered)
            if "attachments.media_keys" in expansions:
                media += [_media_object(state, tweet, k, media_fields) for k in tweet.media_keys]
        answer: dict[str, Any] = {"data": data} if data else {}
        if media:
            answer["includes"] = {"media": media}
        if errors:
            answer["errors"] = errors
        return JSONResponse(answer)

    async def timeline(request: Request) -> Response:
        caller = state.caller(request, "tweet.read", "users.read")
        user_id = request.path_params["user_id"]
        if user_id not in state.users:
            return JSONResponse({"errors": [not_found("user", user_id, "id")]})
        raw_max = request.query_params.get("max_results", "10")
        if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
            raise invalid_request("max_results must be between 5 and 100", max_results=raw_max)
        start = parse_time(request.query_params.get("start_time"), "start_time")
        end = parse_time(request.query_params.get("end_time"), "end_time")
        fields = fields_of(request, "tweet.fields", "post.fields")
        posts = sorted(
            (t for t in state.tweets.values() if t.author_id == user_id and not t.deleted
             and (start is None or t.created_at >= start) and (end is None or t.created_at < end)),
            key=lambda t: int(t.id), reverse=True,
        )  # fmt: skip
        token = request.query_params.get("pagination_token")
        if token:
            posts = [t for t in posts if int(t.id) < int(token)] if token.isdigit() else []
        page = posts[: int(raw_max)]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0].id, "oldest_id": page[-1].id}
        if len(posts) > len(page):
            meta["next_token"] = page[-1].id
        errors: list[Any] = []
        answer: dict[str, Any] = {"meta": meta}
        if page:
            rendered = [render(t, fields, caller.account_id, errors) for t in page]
            answer["data"] = [item for item in rendered if item is not None]
        return JSONResponse(answer)

    async def analytics(request: Request) -> Response:
        """The 2026 analytics endpoint, answered as one bucket whatever the granularity."""
        caller = state.caller(request, "tweet.read", "users.read")
        ids = [part for part in request.query_params.get("ids", "").split(",") if part]
        if not 1 <= len(ids) <= 100:
            raise invalid_request("ids must be 1 to 100 comma-separated post ids", ids=ids)
        for name in ("start_time", "end_time"):
            if name not in request.query_params:
                raise invalid_request(f"{name} is required", **{name: None})
            parse_time(request.query_params[name], name)
        wanted = fields_of(request, "analytics.fields")
        data, errors = [], []
        for tweet_id in ids:
            tweet = state.visible_tweet(tweet_id)
            if tweet is None or tweet.author_id != caller.account_id:
                errors.append(not_found("tweet", tweet_id, "ids"))
                continue
            state.grow(
                tweet.metrics, post_key=tweet.id, published_at=tweet.created_at, names=METRIC_NAMES
            )
            numbers = _analytics(tweet)
            metrics = {k: v for k, v in numbers.items() if not wanted or k in wanted}
            bucket = {"timestamp": request.query_params["start_time"], "metrics": metrics}
            data.append({"id": tweet.id, "timestamped_metrics": [bucket]})
        answer: dict[str, Any] = {"data": data} if data else {}
        if errors:
            answer["errors"] = errors
        return JSONResponse(answer)

    async def page(request: Request) -> Response:
        tweet = state.visible_tweet(request.path_params["tweet_id"])
        username = request.path_params.get("username")
        author = state.users.get(tweet.author_id) if tweet is not None else None
        if tweet is None or author is None or username not in (None, author.username):
            return HTMLResponse("<!doctype html><title>X</title><p>This post doesn't exist.",
                                status_code=404)  # fmt: skip
        return HTMLResponse(
            f"<!doctype html><title>{html.escape(author.name)} on X</title>"
            f"<article><p>{html.escape(tweet.text)}</p><p>@{html.escape(author.username)}</p>"
            "</article>"
        )

    return [
        Route("/2/tweets", create, methods=["POST"]),
        Route("/2/tweets", lookup, methods=["GET"]),
        Route("/2/tweets/analytics", analytics, methods=["GET"]),
        Route("/2/tweets/{tweet_id}", delete, methods=["DELETE"]),
        Route("/2/users/{user_id}/tweets", timeline, methods=["GET"]),
        Route("/i/web/status/{tweet_id}", page, methods=["GET"]),
        Route("/{username}/status/{tweet_id}", page, methods=["GET"]),
    ]


def _media_summary(upload: Upload) -> dict[str, Any]:
    data = upload.data()
    return {
        "media_key": upload.media_key,
        "type": upload.kind,
        "media_type": upload.media_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "segments": len(upload.segments),
        "alt_text": upload.alt_text,
    }


def _media_object(state: TwitterState, tweet: Tweet, key: str, fields: set[str]) -> Any:
    upload = next((u for u in state.uploads.values() if u.media_key == key), None)
    kind = upload.kind if upload is not None else "photo"
    media: dict[str, Any] = {"media_key": key, "type": kind}
    if "public_metrics" in fields and kind != "photo":
        media["public_metrics"] = {"view_count": tweet.metrics.get("view_count", 0)}
    if "alt_text" in fields and upload is not None and upload.alt_text:
        media["alt_text"] = upload.alt_text
    return media


def _field_refused(tweet_id: str, field: str) -> dict[str, Any]:
    """The partial error of a 200 when a field may not be read (someone else's post, or its
    non-public numbers after 30 days)."""
    return {
        "value": tweet_id,
        "resource_id": tweet_id,
        "resource_type": "tweet",
        "field": field,
        "section": "data",
        "parameter": field,
        "title": "Field Authorization Error",
        "detail": f"Sorry, you are not authorized to access '{field}' on a Tweet.",
        "type": PROBLEMS + "not-authorized-for-field",
    }


def _analytics(tweet: Tweet) -> dict[str, int]:
    numbers = tweet.metrics
    return {
        "impressions": numbers.get("impression_count", 0),
        "likes": numbers.get("like_count", 0),
        "retweets": numbers.get("retweet_count", 0),
        "replies": numbers.get("reply_count", 0),
        "quote_tweets": numbers.get("quote_count", 0),
        "bookmarks": numbers.get("bookmark_count", 0),
        "url_clicks": numbers.get("url_link_clicks", 0),
        "user_profile_clicks": numbers.get("user_profile_clicks", 0),
        "media_views": numbers.get("view_count", 0),
    }
