"""The sandbox server: every fake mounted under its own prefix on one loopback port (each
registered network's fake under `/<network>`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from t21.platforms import registry
from t21.sandbox.bluesky.oauth import server_metadata_document
from t21.sandbox.github import create_github_app
from t21.sandbox.google import create_google_app
from t21.sandbox.openrouter import create_openrouter_app
from t21.sandbox.persistence import PersistMiddleware, restore, save
from t21.sandbox.platform import NetworkState
from t21.sandbox.resend import create_resend_app
from t21.sandbox.stripe import create_stripe_app

# The fakes of outside services other than the social networks; every registered network's fake
# joins them from the registry, under its own name.
SERVICES = {
    "resend": "Resend email API (POST /resend/emails)",
    "google": "Google OpenID Connect (/google/.well-known/openid-configuration)",
    "github": "GitHub OAuth app login and REST API (/github/login/oauth/authorize, /github/user)",
    "openrouter": "OpenRouter chat completions (/openrouter/api/v1/chat/completions)",
    "stripe": "Stripe Checkout, billing portal, subscriptions and signed webhooks (/stripe/v1)",
}
FAKES = SERVICES | {network.name: network.fake_description for network in registry.NETWORKS}


def create_sandbox_app(
    *,
    refuse_duplicates: bool = True,
    state_path: Path | None = None,
    grow_metrics: bool = False,
) -> Starlette:
    """Every fake under its prefix. `refuse_duplicates` (the sandbox setting): whether the fake
    networks refuse identical posts, as the real ones do. With `state_path`, the fakes' world
    (tokens, users, customers...) is read from that file and kept in it (`persistence`). With
    `grow_metrics`, published posts gather plausible numbers over time (`platform.grown_count`)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if state_path is not None:
            save(app, state_path)

    async def index(_request: Request) -> Response:
        return JSONResponse({"sandbox": "t21", "fakes": FAKES})

    async def bluesky_issuer(request: Request) -> Response:
        """The Bluesky fake's authorization server metadata at the origin's root: atproto OAuth
        wants an issuer with no path, and the fake's endpoints live under `/bluesky`."""
        base = str(request.base_url).rstrip("/") + "/bluesky"
        return JSONResponse(server_metadata_document(base))

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/.well-known/oauth-authorization-server", bluesky_issuer),
            Mount("/resend", app=create_resend_app()),
            Mount("/google", app=create_google_app()),
            Mount("/github", app=create_github_app()),
            *(Mount(f"/{name}", app=registry.fake_app(name)) for name in registry.names()),
            Mount("/openrouter", app=create_openrouter_app()),
            Mount("/stripe", app=create_stripe_app()),
        ],
        lifespan=lifespan,
    )
    if state_path is not None:
        restore(app, state_path)
        app.add_middleware(PersistMiddleware, sandbox=app, path=state_path)
    for state in _network_states(app):
        state.set_refuse_duplicates_default(refuse_duplicates)
        state.grow_metrics = grow_metrics
    return app


def _network_states(app: Starlette) -> list[NetworkState]:
    """The state of every mounted social-network fake (each keeps it on its `app.state`)."""
    found = []
    for route in app.routes:
        fake = route.app if isinstance(route, Mount) else None
        held: State | None = getattr(fake, "state", None)
        if held is not None:
            found += [s for s in vars(held)["_state"].values() if isinstance(s, NetworkState)]
    return found
