"""Per-network recipes for tests and benchmarks that publish to many networks at once (the chaos
test, `bench/publish_throughput.py`): how to connect accounts through T21's API against the
sandbox (no person needed), which request publishes and which faults its fake is given, and how
to read the fake's record of what it published. A new network is one entry in `RECIPES`.

Faults are answers in the network's own shape (its rate limit with the wait it asks for, its
server error), injected by the fakes' common `/_control/faults`; "lost" carries the request out
and holds the answer past T21's timeout. A network whose doubts a person must settle (Telegram:
the Bot API can't list a chat's messages; a LinkedIn member without r_member_social) takes no
fault that leaves a doubt, and fewer targets (a killed worker can still cut its attempts off).

A network whose posts need more than text (a YouTube video with a title, a Pinterest pin on a
board) says so in its recipe: `media` is the file every one of its posts carries (uploaded once
through the API; T21 pushes it to the network, so no network fetches from T21), `options` each
account's target options; `seeding` prepares both for a run. YouTube, Pinterest and Google
Business Profile list what an account posted (the uploads playlist, `GET /v5/pins`,
`localPosts.list`), so their doubts are settled by listing and they take every fault.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.media.files import mp4
from tests.social.conftest import World, query

CONNECT = "/api/v1/social-accounts/connect"
MEDIA = "/api/v1/media"

# How long a lost answer is held: longer than the platform timeout the callers set (2 s).
LOST_RESPONSE_HOLD_S = 3.0

Throttle = Callable[[int], dict[str, Any]]
# A file as uploaded: name, bytes, content type.
MediaFile = tuple[str, bytes, str]


@dataclass(frozen=True)
class Recipe:
    """One network as a many-network run uses it.

    `connect` makes `accounts` accounts through the API and returns their ids; `per_account`
    is how many targets one account takes in a run (under its publishing budget, so nothing is
    deferred past the run by design); `publish_path` is the path (a regular expression) of the
    request that publishes; `throttle(wait)` its rate-limit answer; `server_error` its 5xx body;
    `faults` the kinds it is given; `text_of`/`id_of` read a record of the fake's
    `/_control/published` (the text, and the id T21 stores as the target's external id).
    `publish_method` and `publish_headers` narrow the publishing request further (YouTube's
    last chunk is a `PUT` carrying bytes, beside the status query on the same path); `media`
    makes the file every post of the network carries, `options(world, account_id)` an
    account's target options."""

    name: str
    accounts: int
    per_account: int
    connect: Callable[[World, int], Awaitable[list[str]]]
    publish_path: str
    throttle: Throttle
    server_error: Any
    faults: tuple[str, ...] = ("rate_limited", "server_error", "lost")
    # Whether `connect` makes as many accounts as asked (Pages, channels, handles, instances);
    # otherwise it connects the one account the fake's member has.
    scales: bool = False
    text_of: Callable[[dict[str, Any]], str] = field(default=lambda record: str(record["text"]))
    id_of: Callable[[dict[str, Any]], str] = field(default=lambda record: str(record["id"]))
    publish_method: str = "POST"
    publish_headers: dict[str, str] = field(default_factory=dict)
    media: Callable[[], MediaFile] | None = None
    options: Callable[[World, str], Awaitable[dict[str, Any]]] | None = None

    @property
    def targets(self) -> int:
        return self.accounts * self.per_account

    def fault(self, kind: str, count: int, wait: int) -> dict[str, Any]:
        """A fault for the publishing request: `kind` of `faults`, for the next `count` sends."""
        base: dict[str, Any] = {"path": self.publish_path, "method": self.publish_method}
        if self.publish_headers:
            base["request_headers"] = self.publish_headers
        if kind == "lost":
            return base | {"status": 200, "lose_response": True, "delay_s": LOST_RESPONSE_HOLD_S}
        if kind == "rate_limited":
            return base | {"count": count} | self.throttle(wait)
        assert kind == "server_error", kind
        return base | {"status": 503, "count": count, "body": self.server_error}


def control(world: World, network: str, path: str, body: dict[str, Any]) -> Any:
    return world.control(network, "POST", path, body)


@dataclass(frozen=True)
class Seeding:
    """What a network's targets carry beyond their text in a run: the media ids every post
    of the network has (in order), and each account's target options."""

    media_ids: list[str]
    options: dict[str, dict[str, Any]]


async def seeding(recipe: Recipe, world: World, account_ids: list[str]) -> Seeding:
    """Upload the recipe's file once through the API and read each account's options."""
    media_ids: list[str] = []
    if recipe.media is not None:
        name, data, content_type = recipe.media()
        uploaded = await world.api.post(
            MEDIA,
            data={"brand_id": world.brand_id},
            files={"file": (name, data, content_type)},
            headers=world.owner.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        media_ids.append(str(uploaded.json()["id"]))
    options: dict[str, dict[str, Any]] = {}
    for account_id in account_ids:
        options[account_id] = await recipe.options(world, account_id) if recipe.options else {}
    return Seeding(media_ids, options)


# --- connecting ---------------------------------------------------------------------------------


async def _oauth(world: World, network: str) -> list[str]:
    """The browser's trip through the fake's consent screen; every account it connected."""
    return await world.connected_ids(network)


async def _twitter(world: World, accounts: int) -> list[str]:
    # Retries and lost answers count against the fake's own limits too: lifted, so only the
    # injected faults (and T21's budgets) limit the pace.
    control(world, "twitter", "/settings", {"limits": {"tweets:create": 1_000_000}})
    return await _oauth(world, "twitter")


async def _linkedin(world: World, accounts: int) -> list[str]:
    control(world, "linkedin", "/settings", {"daily_post_limit": 1_000_000})
    return await _oauth(world, "linkedin")


async def _linkedin_page(world: World, accounts: int) -> list[str]:
    control(world, "linkedin_page", "/settings", {"daily_post_limit": 1_000_000})
    for number in range(1, accounts):  # the fake's member administers one page to begin with
        page = {"id": str(5550000 + number), "role": "ADMINISTRATOR", "name": f"Page {number}"}
        control(world, "linkedin_page", "/organizations", page)
    return await _oauth(world, "linkedin_page")


async def _facebook(world: World, accounts: int) -> list[str]:
    pages = [{"name": f"Chaos Page {number}"} for number in range(accounts)]
    control(world, "facebook", "/pages", {"pages": pages})
    return await _oauth(world, "facebook")


async def _threads(world: World, accounts: int) -> list[str]:
    return await _oauth(world, "threads")


async def _with_credentials(world: World, network: str, credentials: dict[str, str]) -> str:
    answer = await world.api.post(
        CONNECT,
        json={"brand_id": world.brand_id, "platform": network, "credentials": credentials},
        headers=world.owner.headers,
    )
    assert answer.status_code == 201, answer.text
    [item] = answer.json()["items"]
    return str(item["id"])


async def _bluesky(world: World, accounts: int) -> list[str]:
    """A handle and an app password each (the fake takes any app password of its shape)."""
    return [
        await _with_credentials(
            world,
            "bluesky",
            {"handle": f"shop{number}.example.com", "app_password": "abcd-efgh-1234-wxyz"},
        )
        for number in range(accounts)
    ]


async def _mastodon(world: World, accounts: int) -> list[str]:
    """One account per instance: T21 registers its app at each, then the browser's trip."""
    found: list[str] = []
    for number in range(accounts):
        started = await world.api.post(
            CONNECT,
            json={
                "brand_id": world.brand_id,
                "platform": "mastodon",
                "instance": f"social{number}.example",
            },
            headers=world.owner.headers,
        )
        assert started.status_code == 200, started.text
        finished = await world.back_to_t21(
            await world.to_network(started.json()["authorization_url"])
        )
        assert finished.status_code == 302, finished.text
        found += query(finished.headers["location"])["connected"].split(",")
    return found


async def _telegram(world: World, accounts: int) -> list[str]:
    """A channel each, proved by its owner posting T21's code (the sandbox's owner does)."""
    return [
        await _with_credentials(world, "telegram", {"chat": f"@chaos_news_{number}"})
        for number in range(accounts)
    ]


async def _youtube(world: World, accounts: int) -> list[str]:
    """The sandbox's creator's channel. The project's quota is lifted at the fake: sessions
    opened by attempts a killed worker cut off spend uploads too."""
    control(world, "youtube", "/quota", {"units": 1_000_000, "uploads": 1_000_000})
    return await _oauth(world, "youtube")


async def _pinterest(world: World, accounts: int) -> list[str]:
    """The sandbox's person; videos processed at the first status read, and the per-minute
    limits lifted (retries register uploads and create pins too)."""
    limits = {"org_read": 1_000_000, "org_write": 1_000_000, "org_analytics": 1_000_000}
    control(world, "pinterest", "/settings", {"processing_polls": 0, "rate_limits": limits})
    return await _oauth(world, "pinterest")


async def _google_business(world: World, accounts: int) -> list[str]:
    """One account per location the person manages: the fake's one, and as many more."""
    control(world, "google_business", "/settings", {"edits_per_minute": 1_000_000})
    for number in range(1, accounts):
        location = {"id": str(7700000000000000000 + number), "title": f"Chaos Shop {number}"}
        control(world, "google_business", "/locations", location)
    return await _oauth(world, "google_business")


def _video() -> MediaFile:
    return "chaos.mp4", mp4(duration_s=12.5, width=1280, height=720), "video/mp4"


async def _youtube_options(world: World, account_id: str) -> dict[str, Any]:
    return {"title": "Chaos", "privacy": "public"}


async def _pinterest_options(world: World, account_id: str) -> dict[str, Any]:
    """The account's first board, as a front end would offer it."""
    answer = await world.api.get(
        f"/api/v1/social-accounts/{account_id}/boards", headers=world.owner.headers
    )
    assert answer.status_code == 200, answer.text
    return {"board_id": answer.json()["items"][0]["id"]}


# --- answers in each network's shape ------------------------------------------------------------


def _x_throttle(wait: int) -> dict[str, Any]:
    reset = str(int(time.time()) + wait)
    return {
        "status": 429,
        "body": {"title": "Too Many Requests", "detail": "Too Many Requests"},
        "headers": {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
    }


def _linkedin_throttle(wait: int) -> dict[str, Any]:
    return {
        "status": 429,
        "body": {"status": 429, "message": "Too many requests"},
        "headers": {"Retry-After": str(wait)},
    }


def _meta_throttle(code: int, message: str) -> Throttle:
    """Meta throttles with an error code in a 400, not with a 429."""

    def answer(wait: int) -> dict[str, Any]:
        error = {"message": message, "code": code, "type": "OAuthException"}
        return {"status": 400, "body": {"error": error}, "headers": {"Retry-After": str(wait)}}

    return answer


def _bluesky_throttle(wait: int) -> dict[str, Any]:
    return {
        "status": 429,
        "body": {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        "headers": {"ratelimit-remaining": "0", "ratelimit-reset": str(int(time.time()) + wait)},
    }


def _mastodon_throttle(wait: int) -> dict[str, Any]:
    return {
        "status": 429,
        "body": {"error": "Too many requests"},
        "headers": {"Retry-After": str(wait)},
    }


def _telegram_throttle(wait: int) -> dict[str, Any]:
    return {
        "status": 429,
        "body": {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {wait}",
            "parameters": {"retry_after": wait},
        },
    }


def _google_error(code: int, message: str, reason: str, state: str) -> dict[str, Any]:
    """Google's error envelope with the Data API's `errors[].reason` and the newer `status`."""
    error = {
        "code": code,
        "message": message,
        "status": state,
        "errors": [{"reason": reason, "message": message}],
    }
    return {"error": error}


def _google_throttle(wait: int) -> dict[str, Any]:
    """Google's 429 (RESOURCE_EXHAUSTED, rateLimitExceeded). Google documents no Retry-After
    for it, and T21 waits a minute without one; the fake adds one so the run stays short."""
    body = _google_error(429, "Rate limit exceeded.", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
    return {"status": 429, "body": body, "headers": {"Retry-After": str(wait)}}


def _pinterest_throttle(wait: int) -> dict[str, Any]:
    return {
        "status": 429,
        "body": {"code": 8, "message": "Rate limit exceeded."},
        "headers": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(wait)},
    }


GOOGLE_ERROR = _google_error(
    503, "The service is currently unavailable.", "backendError", "UNAVAILABLE"
)

META_ERROR = {"error": {"message": "An unknown error occurred", "code": 1, "type": "x"}}

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "facebook",
            scales=True,
            accounts=11,
            per_account=65,  # a Page may publish 200 a day
            connect=_facebook,
            publish_path=r"^/v[0-9.]+/[0-9]+/feed$",
            throttle=_meta_throttle(32, "(#32) Page request limit reached"),
            server_error=META_ERROR,
            text_of=lambda record: str(record["message"]),
        ),
        Recipe(
            "twitter",
            accounts=1,
            per_account=80,  # 100 posts per 15 minutes
            connect=_twitter,
            publish_path=r"^/2/tweets$",
            throttle=_x_throttle,
            server_error={"title": "Service Unavailable", "detail": "Service Unavailable"},
        ),
        Recipe(
            "linkedin",
            accounts=1,
            per_account=60,  # 150 a day
            connect=_linkedin,
            publish_path=r"^/rest/posts$",
            throttle=_linkedin_throttle,
            server_error={"status": 503, "message": "Service Unavailable"},
            # A member's posts can't be listed without r_member_social (an approved app's), so
            # its doubts go to a person: only faults that leave none.
            faults=("rate_limited",),
        ),
        Recipe(
            "linkedin_page",
            scales=True,
            accounts=2,
            per_account=90,
            connect=_linkedin_page,
            publish_path=r"^/rest/posts$",
            throttle=_linkedin_throttle,
            server_error={"status": 503, "message": "Service Unavailable"},
        ),
        Recipe(
            "threads",
            accounts=1,
            per_account=90,  # 250 a day
            connect=_threads,
            publish_path=r"^/v[0-9.]+/[^/]+/threads_publish$",
            throttle=_meta_throttle(4, "(#4) Application request limit reached"),
            server_error=META_ERROR,
        ),
        Recipe(
            "bluesky",
            scales=True,
            accounts=2,
            per_account=90,
            connect=_bluesky,
            publish_path=r"^/xrpc/com\.atproto\.repo\.createRecord$",
            throttle=_bluesky_throttle,
            server_error={"error": "InternalServerError", "message": "Internal Server Error"},
            id_of=lambda record: str(record["uri"]),
        ),
        Recipe(
            "mastodon",
            scales=True,
            accounts=2,
            per_account=90,  # 300 statuses per 3 hours
            connect=_mastodon,
            publish_path=r"^/api/v1/statuses$",
            throttle=_mastodon_throttle,
            server_error={"error": "Service Unavailable"},
        ),
        Recipe(
            "telegram",
            scales=True,
            accounts=1,
            per_account=15,  # 20 messages a minute in one channel
            connect=_telegram,
            publish_path=r"^/bot[^/]+/sendMessage$",
            throttle=_telegram_throttle,
            server_error={"ok": False, "error_code": 502, "description": "Bad Gateway"},
            # Its doubts go to a person (no listing to check): only faults that leave none.
            faults=("rate_limited",),
            id_of=lambda record: f"{record['account']}:{record['message_id']}",
        ),
        Recipe(
            "youtube",
            accounts=1,
            # The project's 100 uploads a day are every channel's; each upload takes two
            # attempts at least (the session, then the file), so few keep the run short.
            per_account=12,
            connect=_youtube,
            # The chunk that completes the file makes the video; a status query (`bytes */N`)
            # on the same path carries no bytes and is left alone.
            publish_path=r"^/upload/youtube/v3/videos$",
            publish_method="PUT",
            publish_headers={"content-range": r"^bytes [0-9]+-"},
            throttle=_google_throttle,
            server_error=GOOGLE_ERROR,
            media=_video,
            options=_youtube_options,
        ),
        Recipe(
            "pinterest",
            accounts=1,
            per_account=15,  # 30 pins a minute (T21's own spacing)
            connect=_pinterest,
            publish_path=r"^/v5/pins$",
            throttle=_pinterest_throttle,
            server_error={"code": 3, "message": "Service unavailable."},
            # A video pin: registered, its file pushed to the upload address, then pinned.
            media=_video,
            options=_pinterest_options,
            text_of=lambda record: str(record["description"]),
            id_of=lambda record: str(record["pin_id"]),
        ),
        Recipe(
            "google_business",
            scales=True,
            accounts=2,
            per_account=8,  # 10 edits a minute per location
            connect=_google_business,
            publish_path=r"^/v4/accounts/[0-9]+/locations/[0-9]+/localPosts$",
            throttle=_google_throttle,
            server_error=GOOGLE_ERROR,
        ),
    )
}


def spread(chosen: list[Recipe], targets: int) -> dict[str, int]:
    """How many accounts each network needs for `targets` targets (a benchmark's burst): the
    networks of one account take their recipe's share, the rest is spread evenly over those
    that connect as many accounts as asked, each account under its recipe's count."""
    fixed = {r.name: r.accounts for r in chosen if not r.scales}
    left = targets - sum(RECIPES[name].targets for name in fixed)
    scaling = [r for r in chosen if r.scales]
    if left < 0 or (left > 0 and not scaling):
        raise ValueError(
            f"{targets} targets don't fit {', '.join(r.name for r in chosen)}: add a network "
            "that connects many accounts (facebook, linkedin_page, bluesky, mastodon, telegram, "
            "google_business)"
        )
    share = -(-left // len(scaling)) if scaling else 0
    return fixed | {r.name: max(1, -(-share // r.per_account)) for r in scaling}


def recipes(names: str | None = None) -> list[Recipe]:
    """The recipes named (comma-separated), or every one."""
    if not names:
        return list(RECIPES.values())
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in RECIPES]
    if unknown:
        raise ValueError(f"no recipe for {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    return [RECIPES[name] for name in chosen]
