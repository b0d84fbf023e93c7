"""Posts (`/rest/posts` create and find-by-author, legacy `/v2/ugcPosts`), their permalink page,
and their analytics (`memberCreatorPostAnalytics`, `organizationalEntityShareStatistics`)."""

from __future__ import annotations

import html
import re
import time
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.linkedin.state import READING_ROLES, Asset, LinkedInState, Post, analytics_of
from t21.sandbox.linkedin.wire import (
    access_denied,
    bad_request,
    json_of,
    refusal,
    render_little,
    section,
    unprocessable,
)

MAX_COMMENTARY = 3000
PUBLISH_SCOPES = ("w_member_social", "w_organization_social")
READ_SCOPES = ("r_member_social", "r_organization_social")
MAX_COMMENT = 1250
MAX_MULTI_IMAGES = 20
VISIBILITIES = frozenset({"PUBLIC", "CONNECTIONS", "LOGGED_IN"})
QUERY_TYPES = ("IMPRESSION", "MEMBERS_REACHED", "RESHARE", "REACTION", "COMMENT")
# The memberCreatorPostAnalytics entity syntax is unconfirmed (PLATFORMS.md); the fake takes
# the Rest.li tuple with the URN percent-encoded inside it, and nothing else.
ANALYTICS_ENTITY = re.compile(r"\((share|ugc):(urn%3Ali%3A(share|ugcPost)%3A\d+)\)", re.I)
METRIC_TYPE = "com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1"
PAGING = {"start": 0, "count": 10, "links": []}


def check_text(text: str, raw: str) -> None:
    """The limit applies to the text as shown (escapes don't count)."""
    if len(text) <= MAX_COMMENTARY:
        return
    raise bad_request(
        "com.linkedin.content.common.exception.BadRequestResponseException: ShareCommentary "
        f"text length ({len(text)} characters) exceeded the maximum allowed "
        f"({MAX_COMMENTARY} characters)",
        code="FIELD_ARRAY_SIZE_TOO_HIGH",
        description="Size of array cannot be higher than the maxLength",
        input={"value": {"stringValue": raw[:100]}},
        maxLength=MAX_COMMENTARY,
    )


def post_routes(state: LinkedInState) -> list[Route]:
    def usable_media(urn: Any, kinds: tuple[str, ...], author: str) -> Asset:
        asset = state.assets.get(urn) if isinstance(urn, str) else None
        if asset is None or asset.kind not in kinds:
            raise unprocessable(f"/content: media {urn} does not exist or can't be used here")
        if asset.owner != author:
            raise access_denied(f"Not enough permissions to use {urn}")
        state.settle(asset)
        if asset.status != "AVAILABLE":
            raise unprocessable(f"/content: media {urn} is {asset.status}, not AVAILABLE")
        return asset

    def content_media(content: Any, author: str) -> tuple[str, list[Asset]]:
        if content is None:
            return "text", []
        if not isinstance(content, dict) or len(content) != 1:
            raise unprocessable("/content must hold exactly one of media, multiImage, article")
        if "media" in content:
            asset = usable_media(section(content, "media").get("id"), ("image", "video"), author)
            return asset.kind, [asset]
        if "multiImage" in content:
            entries = section(content, "multiImage").get("images") or []
            if not 2 <= len(entries) <= MAX_MULTI_IMAGES:
                raise unprocessable(
                    f"/content/multiImage/images: {len(entries)} images given; a multi-image "
                    f"post takes 2 to {MAX_MULTI_IMAGES}"
                )
            images = [usable_media(entry.get("id"), ("image",), author) for entry in entries]
            return "multi_image", images
        raise unprocessable(f"/content: {next(iter(content))} is not supported by this sandbox")

    def publish(post: Post, kind: str, assets: list[Asset], **recorded: Any) -> str:
        day = state.take_quota()
        for other in state.posts.values():
            same = (other.author, other.text, other.media) == (post.author, post.text, post.media)
            if same and post.text and state.refuses_duplicate():
                raise unprocessable(f"Content is a duplicate of {other.urn}", "DUPLICATE_POST")
        # Video and multi-image posts come back as ugcPosts, the rest as shares (unconfirmed).
        noun = "ugcPost" if kind in ("video", "multi_image") else "share"
        post.urn = f"urn:li:{noun}:{state.new_id()}"
        post.created_ms = int(time.time() * 1000)
        state.posts[post.urn] = post
        state.daily_posts[day] = state.daily_posts.get(day, 0) + 1
        state.record_publication(
            id=post.urn,
            author=post.author,
            kind=kind,
            text=post.text,
            commentary=post.commentary,
            visibility=post.visibility,
            reshare_disabled=post.reshare_disabled,
            media=[asset.summary() for asset in assets],
            **recorded,
        )
        return post.urn

    async def create_post(request: Request) -> Response:
        state.rest(request, PUBLISH_SCOPES, "partnerApiPostsExternal.CREATE.20260101")
        state.take_quota()
        body = await json_of(request)
        state.received_send(account=str(body.get("author")), text=body.get("commentary"))
        author = state.check_owner(body.get("author"), request)
        if body.get("lifecycleState") != "PUBLISHED":
            raise unprocessable("/lifecycleState: only PUBLISHED is supported by this sandbox")
        visibility = body.get("visibility")
        if visibility not in VISIBILITIES:
            raise unprocessable(f"/visibility: {visibility!r} is not a visibility")
        if not isinstance(body.get("distribution"), dict):
            raise unprocessable("/distribution is required")
        raw = body.get("commentary", "")
        if not isinstance(raw, str):
            raise unprocessable("/commentary must be a string")
        text = render_little(raw)
        check_text(text, raw)
        kind, assets = content_media(body.get("content"), author)
        if not text and not assets:
            raise unprocessable("/commentary is required for a post without content")
        post = Post(
            urn="",
            author=author,
            commentary=raw,
            text=text,
            visibility=str(visibility),
            content=body.get("content"),
            media=[asset.urn for asset in assets],
            reshare_disabled=bool(body.get("isReshareDisabledByAuthor")),
        )
        urn = publish(post, kind, assets)
        return Response(status_code=201, headers={"x-restli-id": urn})

    async def find_posts(request: Request) -> Response:
        # Reading a member's posts needs r_member_social, a restricted permission (the posting
        # scope w_member_social doesn't read); a page's need r_organization_social and a role on
        # the page: learn.microsoft.com/linkedin/marketing/community-management/shares/
        # posts-api, permissions table.
        token = state.rest(request, READ_SCOPES, "partnerApiPostsExternal.FINDER-author.20260101")
        query = request.query_params
        if query.get("q") != "author":
            raise bad_request("Unsupported finder: use q=author.")
        author = query.get("author") or ""
        organization = state.organization_of(author)
        if organization is not None:
            role = organization.role_of(state.member.urn)
            readable = "r_organization_social" in token.scopes and role in READING_ROLES
        else:
            readable = author == state.member.urn and "r_member_social" in token.scopes
        if not readable:
            raise access_denied("Not enough permissions to read the posts of this author")
        try:
            start, count = int(query.get("start", 0)), min(int(query.get("count", 10)), 100)
        except ValueError:
            raise bad_request("start and count must be integers.") from None
        mine = sorted(
            (post for post in state.posts.values() if post.author == author),
            key=lambda post: (post.created_ms, post.urn),
            reverse=True,
        )
        paging = {"start": start, "count": count, "links": [], "total": len(mine)}
        elements = [post.element() for post in mine[start : start + count]]
        return JSONResponse({"paging": paging, "elements": elements})

    async def create_comment(request: Request) -> Response:
        """`POST /rest/socialActions/{urn}/comments` {actor, object, message: {text}}
        (community-management/shares/comments-api, "Create a Comment"): 201 with the comment.
        Commenting takes the posting permission of the actor; the text limit (1,250) is
        unconfirmed in LinkedIn's documentation."""
        state.rest(request, PUBLISH_SCOPES, "partnerApiSocialActions.CREATE.20260101")
        urn = unquote(request.path_params["urn"])
        body = await json_of(request)
        message = body.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        state.received_send(account=str(body.get("actor")), text=text, reply_to=urn, kind="comment")
        actor = state.check_owner(body.get("actor"), request)
        post = state.posts.get(urn)
        if post is None:
            raise refusal(404, f"Not found: {urn}", "NOT_FOUND")
        if body.get("object") != urn:
            raise unprocessable("/object must be the post the comment is on")
        if not isinstance(text, str) or not text.strip():
            raise unprocessable("/message/text is required")
        if len(text) > MAX_COMMENT:
            raise unprocessable(f"/message/text is longer than {MAX_COMMENT} characters")
        number = len(post.comments) + 1 + sum(len(p.comments) for p in state.posts.values())
        comment_id = str(7_100_000_000_000_000_000 + number)
        comment = {
            "id": comment_id,
            "commentUrn": f"urn:li:comment:({urn},{comment_id})",
            "actor": actor,
            "object": urn,
            "message": {"text": text},
            "created": {"time": int(time.time() * 1000), "actor": actor},
        }
        post.comments.append(comment)
        return JSONResponse(comment, status_code=201, headers={"x-restli-id": comment_id})

    async def list_comments(request: Request) -> Response:
        """`GET /rest/socialActions/{urn}/comments`: the post's comments (reading needs
        r_member_social or r_organization_social, as reading posts does)."""
        state.rest(request, READ_SCOPES, "partnerApiSocialActions.GET_ALL.20260101")
        post = state.posts.get(unquote(request.path_params["urn"]))
        if post is None:
            raise refusal(404, "Not found: the post", "NOT_FOUND")
        paging = {"start": 0, "count": len(post.comments), "total": len(post.comments)}
        return JSONResponse({"paging": paging, "elements": list(post.comments)})

    async def permalink(request: Request) -> Response:
        post = state.posts.get(request.path_params["urn"])
        if post is None:
            return HTMLResponse("<h1>This post cannot be displayed</h1>", 404)
        page = state.organization_of(post.author)
        shown = page.name if page is not None else state.member.name
        name, text = html.escape(shown), html.escape(post.text)
        return HTMLResponse(f"<article><h1>{name}</h1><p>{text}</p></article>")

    async def member_analytics(request: Request) -> Response:
        state.rest(request, "r_member_postAnalytics", "memberCreatorPostAnalytics.FINDER-entity")
        query, raw = request.query_params, request.scope.get("query_string", b"").decode()
        entity = next((pair[7:] for pair in raw.split("&") if pair.startswith("entity=")), "")
        match = ANALYTICS_ENTITY.fullmatch(entity)
        if query.get("q") != "entity" or match is None or (
            (match.group(1).lower() == "ugc") != (match.group(3) == "ugcPost")
        ):  # fmt: skip
            raise bad_request(
                "Invalid value for param entity: expected (share:<urn>) or (ugc:<urn>) with "
                "the URN encoded"
            )
        query_type = query.get("queryType")
        if query_type not in QUERY_TYPES:
            raise bad_request(f"Invalid value for param queryType: {query_type}")
        if query.get("aggregation", "TOTAL") not in ("TOTAL", "DAILY"):
            raise bad_request(f"Invalid value for param aggregation: {query.get('aggregation')}")
        urn = unquote(match.group(2))
        post = state.posts.get(urn)
        if post is None:
            raise refusal(404, f"{urn} does not exist", "NOT_FOUND")
        if post.author != state.member.urn:
            raise access_denied("Not enough permissions to read this post's analytics")
        count = analytics_of(state, post).get(query_type)
        # No element at all until LinkedIn has numbers for the post.
        elements = []
        if count is not None:
            target = "ugcPost" if ":ugcPost:" in urn else "share"
            elements.append(
                {"count": count, "metricType": {METRIC_TYPE: query_type},
                 "targetEntity": {target: urn}}
            )  # fmt: skip
        return JSONResponse({"paging": PAGING, "elements": elements})

    async def ugc_post(request: Request) -> Response:
        """Legacy ugcPosts: plain-text commentary, media from `/v2/assets`."""
        state.authenticate(request, PUBLISH_SCOPES, "ugcPosts.CREATE")
        state.take_quota()
        body = await json_of(request)
        author = state.check_owner(body.get("author"), request)
        share = section(section(body, "specificContent"), "com.linkedin.ugc.ShareContent")
        text = section(share, "shareCommentary").get("text", "")
        if not isinstance(text, str):
            raise unprocessable("/specificContent/.../shareCommentary/text must be a string")
        check_text(text, text)
        category = share.get("shareMediaCategory", "NONE")
        entries = share.get("media") or []
        if category not in ("NONE", "ARTICLE", "IMAGE", "VIDEO") or (category == "NONE") != (
            not entries
        ):
            raise unprocessable("/specificContent/.../shareMediaCategory doesn't match the media")
        uploaded = [] if category == "ARTICLE" else entries
        assets = [usable_media(entry.get("media"), ("asset",), author) for entry in uploaded]
        visibility = section(body, "visibility").get("com.linkedin.ugc.MemberNetworkVisibility")
        post = Post("", author, text, text, str(visibility), None, [a.urn for a in assets])
        urn = publish(post, category.lower(), assets, legacy=True)
        return JSONResponse({"id": urn}, status_code=201, headers={"X-RestLi-Id": urn})

    return [
        Route("/rest/posts", create_post, methods=["POST"]),
        Route("/rest/posts", find_posts, methods=["GET"]),
        Route("/rest/socialActions/{urn}/comments", create_comment, methods=["POST"]),
        Route("/rest/socialActions/{urn}/comments", list_comments, methods=["GET"]),
        Route("/feed/update/{urn}", permalink, methods=["GET"]),
        Route("/rest/memberCreatorPostAnalytics", member_analytics, methods=["GET"]),
        Route("/v2/ugcPosts", ugc_post, methods=["POST"]),
    ]
