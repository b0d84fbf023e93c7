"""Bluesky (AT Protocol) through an app password: posts with text, facets and up to 4 images
(else a link card), the account's own records for reconciliation, and per-post counts from the
App View."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from t21.core import clock
from t21.core.outside import Ambiguous, Permanent, Retryable
from t21.platforms.base import (
    Budget,
    Connection,
    Credentials,
    MediaItem,
    MediaKind,
    MediaRule,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    PushedStart,
    RecentPost,
    ReplyTo,
    TextCounting,
    TokenGrant,
    Writing,
    parse_options,
    replies_among_recent,
)
from t21.platforms.bluesky import card, facets, signin, video
from t21.platforms.bluesky.oauth import Dpop, OAuthClient, load_key
from t21.platforms.bluesky.xrpc import Xrpc, failure
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.text import comparable

POST = "app.bsky.feed.post"
LINK_FEATURE = "app.bsky.richtext.facet#link"
IMAGE_MAX_BYTES = 2_000_000  # app.bsky.embed.images#image.image maxSize
GET_POSTS_MAX = 25  # app.bsky.feed.getPosts uris maxLength
LIST_MAX = 100  # com.atproto.repo.listRecords limit maximum
ACCESS_TTL_S = 120 * 60  # the reference PDS's access tokens live 120 minutes
APP_PASSWORD = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$")
HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
PLC_DID = re.compile(r"^did:plc:[a-z2-7]{24}$")
WEB_DID = re.compile(r"^did:web:[a-zA-Z0-9.-]+$")
Language = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")]


class BlueskyOptions(BaseModel):
    """Per-post options of a Bluesky post."""

    model_config = ConfigDict(extra="forbid")

    # The post's languages (BCP-47), the record's `langs` (at most 3).
    languages: Annotated[list[Language], Field(max_length=3)] | None = None


class BlueskyCredentialsIn(BaseModel):
    """What connecting a Bluesky account takes: its handle and an app password."""

    model_config = ConfigDict(extra="forbid")

    handle: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=253)]
    app_password: Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _created_at(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def first_link(found: list[dict[str, object]]) -> str | None:
    """The first link among a post's facets (what its link card shows)."""
    for facet in found:
        features = facet.get("features")
        for feature in features if isinstance(features, list) else []:
            if isinstance(feature, dict) and feature.get("$type") == LINK_FEATURE:
                return str(feature["uri"])
    return None


def rkey_of(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


class BlueskyProvider:
    """Bluesky accounts: text up to 300 graphemes with facets, or up to 4 images."""

    name: ClassVar[str] = "bluesky"
    display_name: ClassVar[str] = "Bluesky"
    uses_pkce: ClassVar[bool] = False
    # An app password (not OAuth): the account connects with credentials, no redirect.
    connects_with_credentials: ClassVar[bool] = True
    # Threads are replies carrying root and parent strong references (`publish_reply`).
    supports_threads: ClassVar[bool] = True
    scopes: ClassVar[tuple[str, ...]] = ()
    limits: ClassVar[PlatformLimits] = PlatformLimits(
        max_text=300,  # app.bsky.feed.post text maxGraphemes 300 (maxLength 3000 bytes)
        text_counting=TextCounting.GRAPHEMES,
        requires_media=False,
        max_images=4,  # app.bsky.embed.images images maxLength 4
        max_videos=1,  # app.bsky.embed.video: one video, no images beside it
        mixed_media=False,
        image=MediaRule(
            content_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
            max_size_bytes=IMAGE_MAX_BYTES,
        ),
        video=MediaRule(
            content_types=frozenset({"video/mp4"}),
            max_size_bytes=video.VIDEO_MAX_BYTES,
            max_duration_s=video.VIDEO_MAX_S,
        ),
        notes=(
            "Links, mentions and hashtags become facets; a mention of a handle that doesn't "
            "resolve stays plain text.",
            "Each image carries its alt text (empty when none is given).",
            "A post with a link and no media carries the link's card (its page's title, "
            "description and image), as the Bluesky app makes it.",
            "A video (mp4, up to 3 minutes) is processed by Bluesky's video service before the "
            "post; accounts must have a verified email, and may post 25 videos or 10 GB a day.",
            "Writes cost points: 5,000 per hour and 35,000 per day per account (a post is 3).",
        ),
    )
    options: ClassVar[type[BaseModel]] = BlueskyOptions
    # 5,000 points per hour, a created record costs 3 [docs.bsky.app rate limits].
    publish_budget: ClassVar[Budget | None] = Budget(1666, timedelta(hours=1))
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "Bluesky: conversational and genuine, like early Twitter. Plain words, a link or a "
        "hashtag at most, no marketing tone.",
        240,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    def permalink(self, uri: str, handle: str | None, did: str) -> str:
        return f"https://bsky.app/profile/{handle or did}/post/{rkey_of(uri)}"

    # --- connecting ----------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        raise Permanent(
            "Bluesky connects with a handle and an app password (`credentials`), not a redirect.",
            code="credentials_required",
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        raise Permanent(
            "Bluesky connects with a handle and an app password, not a code.",
            code="credentials_required",
        )

    @property
    def pushes_authorization(self) -> bool:
        """Whether AT Protocol OAuth is configured (`T21_BLUESKY_OAUTH`)."""
        return OAuthClient.of(self.config) is not None

    async def begin_authorization(
        self, *, login_hint: str | None, state: str, redirect_uri: str, code_verifier: str
    ) -> PushedStart:
        return await signin.begin(
            self,
            login_hint=login_hint,
            state=state,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )

    async def finish_authorization(
        self, handoff: dict[str, Any], *, code: str, redirect_uri: str, code_verifier: str
    ) -> list[Connection]:
        return await signin.finish(
            self, handoff, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )

    def client_metadata(self, redirect_uri: str, client_uri: str) -> dict[str, Any]:
        return signin.client_of(self).metadata(redirect_uri, client_uri)

    def client_jwks(self) -> dict[str, Any]:
        return signin.client_of(self).jwks()

    async def connect_with_credentials(self, credentials: dict[str, str]) -> list[Connection]:
        """Resolve the handle to its DID and PDS, then start a session there with the app
        password. `Permanent` for credentials that can't work."""
        try:
            given = BlueskyCredentialsIn.model_validate(credentials)
        except ValueError:
            raise Permanent(
                "Bluesky needs `credentials` {handle, app_password}.", code="invalid_credentials"
            ) from None
        handle = given.handle.removeprefix("@").lower()
        if not HANDLE.match(handle):
            raise Permanent(f"{handle!r} isn't a Bluesky handle.", code="invalid_handle")
        if not APP_PASSWORD.match(given.app_password):
            raise Permanent(
                "An app password looks like xxxx-xxxx-xxxx-xxxx (Settings → Privacy and "
                "security → App passwords).",
                code="invalid_app_password",
            )
        async with PlatformHttp(self.config) as http:
            did = await self.resolve(http, handle)
            pds = await self.pds_of(http, did)
            session = await Xrpc(http, pds, None).call(
                "POST",
                "com.atproto.server.createSession",
                json={"identifier": handle, "password": given.app_password},
            )
            grant = self._grant(session)
            if session.get("active") is False:
                status = session.get("status")
                raise Permanent(
                    f"This Bluesky account is {status if isinstance(status, str) else 'inactive'}"
                    " and can't post.",
                    code="account_inactive",
                )
            if session.get("did") != did:
                raise Permanent("The session is for another account.", code="wrong_account")
            profile = await self.read_profile(Xrpc(http, pds, grant.access_token), did)
        return [Connection(profile=profile, grant=grant)]

    async def resolve(self, http: PlatformHttp, handle: str) -> str:
        """The DID of `handle` (`com.atproto.identity.resolveHandle` at the entryway); a DID
        stands for itself."""
        handle = handle.strip().removeprefix("@").lower()
        if PLC_DID.match(handle) or WEB_DID.match(handle):
            return handle
        if not HANDLE.match(handle):
            raise Permanent(f"{handle!r} isn't a Bluesky handle.", code="invalid_handle")
        entry = Xrpc(http, self.config.api_base, None)
        resolved = await entry.call(
            "GET", "com.atproto.identity.resolveHandle", params={"handle": handle}
        )
        did = resolved.get("did")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise Permanent(f"{handle} resolves to no DID.", code="invalid_handle")
        return did

    def api(self, http: PlatformHttp, pds: str, credentials: Credentials) -> Xrpc:
        """XRPC to the account's PDS with its token: DPoP-bound when it connected through
        OAuth (its key is kept with the tokens), a session's Bearer token otherwise."""
        dpop = Dpop(http, load_key(credentials.dpop_key)) if credentials.dpop_key else None
        return Xrpc(http, pds, credentials.access_token, dpop)

    async def pds_of(self, http: PlatformHttp, did: str) -> str:
        """The PDS of `did`, from its DID document (did:plc from the PLC directory, did:web
        from the host's /.well-known/did.json), read each time so a migrated account follows."""
        if PLC_DID.match(did):
            url = f"{self.config.auth_base}/{did}"
        elif WEB_DID.match(did):
            url = f"https://{did.removeprefix('did:web:')}/.well-known/did.json"
        else:
            raise Permanent(f"Unsupported DID method: {did}.", code="invalid_did")
        response = await http.request("GET", url)
        if response.status_code == 404:
            raise Permanent(f"{did} has no DID document.", code="invalid_did")
        if response.status_code != 200:
            raise failure(response)
        document = json_body(response)
        for service in (document or {}).get("service") or [] if isinstance(document, dict) else []:
            if (
                isinstance(service, dict)
                and str(service.get("id", "")).endswith("#atproto_pds")
                and service.get("type") == "AtprotoPersonalDataServer"
                and isinstance(service.get("serviceEndpoint"), str)
            ):
                return str(service["serviceEndpoint"]).rstrip("/")
        raise Permanent(f"{did} names no PDS.", code="invalid_did")

    @staticmethod
    def _grant(session: dict[str, Any]) -> TokenGrant:
        access, refresh = session.get("accessJwt"), session.get("refreshJwt")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise Retryable("Bluesky's session answer had no tokens.", code="bad_answer")
        return TokenGrant(access_token=access, refresh_token=refresh, expires_in=ACCESS_TTL_S)

    async def read_profile(self, api: Xrpc, did: str) -> Profile:
        body = await api.call("GET", "app.bsky.actor.getProfile", params={"actor": did})
        handle, name, avatar = body.get("handle"), body.get("displayName"), body.get("avatar")
        return Profile(
            external_id=did,
            username=handle if isinstance(handle, str) else None,
            display_name=name if isinstance(name, str) and name else None,
            avatar_url=avatar if isinstance(avatar, str) and avatar else None,
        )

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """A new session from the refresh token, which rotates: the new one replaces it."""
        if credentials.dpop_key:
            return await signin.refresh(self, credentials)
        if not credentials.refresh_token:
            return None
        async with PlatformHttp(self.config) as http:
            pds = await self.pds_of(http, credentials.external_id)
            session = await Xrpc(http, pds, None).call(
                "POST", "com.atproto.server.refreshSession", token=credentials.refresh_token
            )
        return self._grant(session)

    async def revoke(self, credentials: Credentials) -> bool:
        """End the session (`deleteSession` with the refresh token). The app password itself
        stays valid until its owner revokes it in Bluesky's settings. An OAuth session is
        revoked at its authorization server."""
        if credentials.dpop_key:
            return await signin.revoke(self, credentials)
        if not credentials.refresh_token:
            return False
        async with PlatformHttp(self.config) as http:
            pds = await self.pds_of(http, credentials.external_id)
            await Xrpc(http, pds, None).call(
                "POST", "com.atproto.server.deleteSession", token=credentials.refresh_token
            )
        return True

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            pds = await self.pds_of(http, credentials.external_id)
            api = self.api(http, pds, credentials)
            return await self.read_profile(api, credentials.external_id)

    # --- publishing ----------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        parse_options(BlueskyOptions, request.options, "Bluesky")
        if len(request.text.encode("utf-8")) > 3000:
            raise Permanent("A Bluesky post's text is at most 3,000 bytes.", code="text_bytes")
        if not request.text and not request.media:
            raise Permanent("A Bluesky post needs text, images or a video.", code="empty_post")

    async def publish(self, credentials: Credentials, request: PublishRequest) -> Published:
        return await self._create(credentials, request, None)

    async def publish_reply(
        self, credentials: Credentials, request: PublishRequest, reply_to: ReplyTo
    ) -> Published:
        """A thread's part: a post whose `reply` names the thread's first post (`root`) and the
        part before it (`parent`), each as a strong reference {uri, cid}
        (https://docs.bsky.app/docs/advanced-guides/posts#replies)."""
        return await self._create(credentials, request, reply_to)

    async def _cids(self, api: Xrpc, reply_to: ReplyTo) -> dict[str, str]:
        """The cid of the parent and the root, as recorded or else read back (`getPosts`)."""
        known: dict[str, str] = {}
        for uri, ref in (
            (reply_to.parent_id, reply_to.parent_ref),
            (reply_to.root_id, reply_to.root_ref),
        ):
            cid = ref.get("cid")
            if isinstance(cid, str) and cid:
                known[uri] = cid
        missing = [uri for uri in {reply_to.parent_id, reply_to.root_id} if uri not in known]
        if missing:
            body = await api.call("GET", "app.bsky.feed.getPosts", params={"uris": missing})
            for post in body.get("posts") or []:
                if isinstance(post, dict) and isinstance(post.get("cid"), str):
                    known[str(post.get("uri"))] = post["cid"]
        for uri in (reply_to.parent_id, reply_to.root_id):
            if uri not in known:
                raise Permanent(
                    "The post this part answers is gone from Bluesky.", code="parent_missing"
                )
        return known

    async def _create(
        self, credentials: Credentials, request: PublishRequest, reply_to: ReplyTo | None
    ) -> Published:
        self.check(request)
        options = BlueskyOptions.model_validate(request.options)
        did = credentials.external_id
        async with PlatformHttp(self.config) as http:
            pds = await self.pds_of(http, did)
            api = self.api(http, pds, credentials)
            record: dict[str, Any] = {
                "$type": POST,
                "text": request.text,
                "createdAt": clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            }
            found = await self._facets(api, request.text)
            if found:
                record["facets"] = found
            if options.languages:
                record["langs"] = options.languages
            if reply_to is not None:
                cids = await self._cids(api, reply_to)
                record["reply"] = {
                    "root": {"uri": reply_to.root_id, "cid": cids[reply_to.root_id]},
                    "parent": {"uri": reply_to.parent_id, "cid": cids[reply_to.parent_id]},
                }
            videos = [item for item in request.media if item.kind == MediaKind.VIDEO]
            if videos:
                record["embed"] = await video.upload(
                    http,
                    api,
                    service=self.config.upload_base or video.VIDEO_SERVICE,
                    pds=pds,
                    did=did,
                    item=videos[0],
                    poll_interval_s=self.config.poll_interval_s,
                    poll_timeout_s=self.config.poll_timeout_s,
                )
            elif request.media:
                images = [await self._upload(api, item) for item in request.media]
                record["embed"] = {"$type": "app.bsky.embed.images", "images": images}
            else:
                link = first_link(found)
                embed = (
                    None
                    if link is None
                    else await card.build(api, link, sandbox=self.config.sandbox)
                )
                if embed is not None:
                    record["embed"] = embed
            created = await api.call(
                "POST",
                "com.atproto.repo.createRecord",
                publishing=True,
                json={"repo": did, "collection": POST, "record": record},
            )
        uri = created.get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise Ambiguous("Bluesky accepted the post without naming it.", code="no_id")
        cid = created.get("cid")
        return Published(
            external_id=uri,
            permalink=self.permalink(uri, credentials.username, did),
            published_at=clock.now(),
            ref={"cid": cid} if isinstance(cid, str) else {},
        )

    async def _facets(self, api: Xrpc, text: str) -> list[dict[str, object]]:
        result: list[dict[str, object]] = []
        for item in facets.detect(text):
            did: str | None = None
            if item.kind == "mention":
                try:
                    body = await api.call(
                        "GET", "com.atproto.identity.resolveHandle", params={"handle": item.value}
                    )
                except Permanent:
                    continue  # an unknown handle stays plain text, as the Bluesky app does
                did = body.get("did") if isinstance(body.get("did"), str) else None
                if did is None:
                    continue
            result.append(facets.facet(text, item, did))
        return result

    async def _upload(self, api: Xrpc, item: MediaItem) -> dict[str, Any]:
        if item.size > IMAGE_MAX_BYTES:
            raise Permanent("A Bluesky image is at most 2,000,000 bytes.", code="image_size")
        data = await item.read(0, item.size)
        body = await api.call(
            "POST",
            "com.atproto.repo.uploadBlob",
            content=data,
            headers={"Content-Type": item.content_type},
        )
        blob = body.get("blob")
        if not isinstance(blob, dict):
            raise Retryable("Bluesky's upload answer had no blob.", code="bad_answer")
        image: dict[str, Any] = {"image": blob, "alt": item.alt_text or ""}
        if item.width and item.height:
            image["aspectRatio"] = {"width": item.width, "height": item.height}
        return image

    # --- reading back --------------------------------------------------------------------------

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    async def find_replies(
        self, credentials: Credentials, reply_to: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The account's replies to the part before: its recent posts that answer it."""
        return await replies_among_recent(self, credentials, reply_to, since)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # an account's records are public

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        """The account's post records, newest first (`listRecords` pages by record key, and
        record keys are timestamps), until one older than `since`."""
        did = credentials.external_id
        found: list[RecentPost] = []
        params = {"repo": did, "collection": POST, "limit": str(min(max(limit, 1), LIST_MAX))}
        async with PlatformHttp(self.config) as http:
            pds = await self.pds_of(http, did)
            api = self.api(http, pds, credentials)
            while len(found) < limit:
                page = await api.call("GET", "com.atproto.repo.listRecords", params=params)
                records = [r for r in page.get("records") or [] if isinstance(r, dict)]
                older = False
                for item in records:
                    uri, value = item.get("uri"), item.get("value")
                    if not isinstance(uri, str) or not isinstance(value, dict):
                        continue
                    created = _created_at(value.get("createdAt"))
                    if created is not None and created < since:
                        older = True
                        continue
                    text = value.get("text")
                    reply = value.get("reply")
                    parent = reply.get("parent") if isinstance(reply, dict) else None
                    answers = parent.get("uri") if isinstance(parent, dict) else None
                    found.append(
                        RecentPost(
                            external_id=uri,
                            text=text if isinstance(text, str) else None,
                            created_at=created,
                            permalink=self.permalink(uri, credentials.username, did),
                            reply_to=answers if isinstance(answers, str) else None,
                        )
                    )
                cursor = page.get("cursor")
                if older or not records or not isinstance(cursor, str) or not cursor:
                    break
                params["cursor"] = cursor
        epoch = datetime.min.replace(tzinfo=UTC)
        found.sort(key=lambda post: post.created_at or epoch, reverse=True)
        return found[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        """Likes, replies, and reposts plus quotes as shares, from `app.bsky.feed.getPosts`
        (through the PDS, which hands it to the App View); a post it doesn't return: None."""
        results: dict[str, PostMetrics | None] = dict.fromkeys(external_ids)
        async with PlatformHttp(self.config) as http:
            pds = await self.pds_of(http, credentials.external_id)
            api = self.api(http, pds, credentials)
            for start in range(0, len(external_ids), GET_POSTS_MAX):
                uris = external_ids[start : start + GET_POSTS_MAX]
                body = await api.call("GET", "app.bsky.feed.getPosts", params={"uris": uris})
                for post in body.get("posts") or []:
                    if not isinstance(post, dict) or post.get("uri") not in results:
                        continue
                    reposts, quotes = _int(post.get("repostCount")), _int(post.get("quoteCount"))
                    results[post["uri"]] = PostMetrics(
                        likes=_int(post.get("likeCount")),
                        comments=_int(post.get("replyCount")),
                        shares=None
                        if reposts is None and quotes is None
                        else (reposts or 0) + (quotes or 0),
                    )
        return results
