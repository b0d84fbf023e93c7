"""The ASGI application: middleware, error handling, routers, and the process runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from t21 import __version__
from t21.core.docs import install_docs
from t21.core.logging import get_logger
from t21.core.middleware import (
    LOCAL_ORIGINS,
    BodyLimitMiddleware,
    CORSMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from t21.core.openapi import install_openapi, operation_id
from t21.core.ops import router as ops_router
from t21.core.problems import (
    PROBLEM_RESPONSES,
    UnhandledErrorMiddleware,
    install_exception_handlers,
)
from t21.core.ratelimit import RateLimiter, RateLimitMiddleware
from t21.core.routing import APIRouter
from t21.core.settings import Settings, get_settings
from t21.core.tracing import FASTAPI_TELEMETRY, TracingMiddleware
from t21.organizations.auth import cached_subject, idempotency_owner
from t21.organizations.principal_cache import PrincipalCache
from t21.posts.known import KnownBrands
from t21.runtime import open_runtime
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from t21.webhooks.fanout import QuietOrganizations

log = get_logger("t21.api")

API_PREFIX = "/api/v1"
# What a multipart upload may carry besides the file itself (boundaries, headers, brand_id).
MULTIPART_OVERHEAD = 64 * 1024
EXPOSED_HEADERS = [
    "X-Request-ID",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "Location",
]


def api_routers() -> list[APIRouter]:
    """Every domain's router, each served under `API_PREFIX`."""
    from t21.ai.router import router as ai_router
    from t21.analytics.router import router as analytics_router
    from t21.audit.router import router as audit_router
    from t21.billing.router import plans_router, subscriptions_router, webhooks_router
    from t21.brands.router import router as brands_router
    from t21.events.router import router as events_router
    from t21.identity.passkey_router import router as passkeys_router
    from t21.identity.router import router as auth_router
    from t21.media.router import router as media_router
    from t21.organizations.router import invitations_router
    from t21.organizations.router import router as organizations_router
    from t21.posts.router import router as posts_router
    from t21.posts.templates.router import router as templates_router
    from t21.publishing.router import router as publishing_router
    from t21.queue.router import router as queue_router
    from t21.review.router import review_router
    from t21.review.router import router as approvals_router
    from t21.social.router import platforms_router
    from t21.social.router import router as social_router
    from t21.webhooks.router import router as outgoing_webhooks_router

    return [
        auth_router,
        passkeys_router,
        organizations_router,
        invitations_router,
        brands_router,
        queue_router,
        plans_router,
        subscriptions_router,
        webhooks_router,
        outgoing_webhooks_router,
        social_router,
        platforms_router,
        media_router,
        posts_router,
        publishing_router,
        templates_router,
        ai_router,
        analytics_router,
        events_router,
        approvals_router,
        review_router,
        audit_router,
    ]


def _sandbox_server(settings: Settings) -> ThreadedServer:
    """The sandbox on its stable port, keeping its world in its state file; on a free port
    when that one is taken (another T21 running, say)."""
    sandbox = create_sandbox_app(
        refuse_duplicates=settings.sandbox_refuse_duplicates,
        state_path=settings.resolved_sandbox_state_file,
        grow_metrics=settings.sandbox_grow_metrics,
    )
    port = settings.resolved_sandbox_port
    try:
        return ThreadedServer(sandbox, port=port)
    except OSError as exc:
        if port == 0:
            raise
        log.warning("sandbox port in use, taking a free one", port=port, error=str(exc))
        return ThreadedServer(sandbox, port=0)


def create_app(
    settings: Settings | None = None,
    *,
    worker: bool = True,
    loops: bool | None = None,
    track_jobs: bool = False,
    sandbox: bool = False,
    span_processor: Any = None,
) -> FastAPI:
    """The T21 API. With `worker`, this process also runs jobs and (unless `loops=False`)
    the periodic loops, as `t21 serve` does in the embedded mode. With `sandbox`, the local
    fakes of outside services are served on a loopback port when the settings enable them.
    `span_processor` (an OpenTelemetry `SpanProcessor`) turns tracing on with it as the only
    destination of spans: tests collect them in memory."""
    settings = settings or get_settings()
    run_loops = worker if loops is None else loops

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_runtime(
                settings,
                consume_jobs=worker,
                run_loops=run_loops,
                track_jobs=track_jobs,
                role="api",
                span_processor=span_processor,
            ) as runtime,
            AsyncExitStack() as async_stack,
        ):
            stack = ExitStack()
            async_stack.callback(stack.close)
            app.state.runtime = runtime
            if sandbox and settings.sandbox_enabled and settings.sandbox_url is None:
                server = stack.enter_context(_sandbox_server(settings))
                runtime.state["sandbox_url"] = server.url
                log.info("sandbox started", url=server.url)
            app.state.rate_limiter = (
                RateLimiter(
                    runtime.redis,
                    key_prefix=f"{settings.redis_prefix}:ratelimit",
                    pipelined=runtime.pipelined,
                )
                if settings.rate_limit_enabled
                else None
            )
            if app.state.rate_limiter is not None:
                async_stack.push_async_callback(app.state.rate_limiter.close)
            principal_cache = PrincipalCache(
                settings.principal_cache_ttl_s,
                engine=runtime.engine.sync_engine,
                redis=runtime.redis,
                channel=f"{settings.redis_prefix}:principals",
            )
            if principal_cache.enabled:
                quiet = QuietOrganizations(settings.principal_cache_ttl_s)
                principal_cache.followers.append(quiet.forget)
                quiet.install(runtime.engine.sync_engine)
                async_stack.callback(quiet.uninstall, runtime.engine.sync_engine)
                known_brands = KnownBrands(settings.principal_cache_ttl_s)
                principal_cache.followers.append(known_brands.forget)
                known_brands.install(runtime.engine.sync_engine)
                async_stack.callback(known_brands.uninstall, runtime.engine.sync_engine)
            await principal_cache.start()
            async_stack.push_async_callback(principal_cache.stop)
            app.state.principal_cache = principal_cache if principal_cache.enabled else None
            log.info(
                "api started",
                version=__version__,
                env=settings.env.value,
                database=runtime.engine.dialect.name,
                broker=runtime.jobs.kind if hasattr(runtime.jobs, "kind") else "custom",
                worker=worker,
                loops=run_loops,
            )
            yield
            log.info("api stopping")

    app = FastAPI(
        title="T21 API",
        version=__version__,
        summary="Write, schedule and publish social media posts for your brands.",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
        # T21_API_DOCS=false: no /docs, /redoc or /openapi.json (all 404). The pages are
        # served with their assets by `core.docs`, so they work offline.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
        responses=PROBLEM_RESPONSES,
        generate_unique_id_function=operation_id,
    )
    install_openapi(app)
    if settings.api_docs:
        install_docs(app, "/openapi.json")
    app.state.settings = settings
    app.state.rate_limiter = None
    app.state.principal_cache = None
    app.state.idempotency_owner = idempotency_owner
    app.state.rate_limit_subject_of = cached_subject
    install_exception_handlers(app)
    app.include_router(ops_router)
    # The prefix given here, not on the routers: FastAPI then prepares each domain's routes
    # (their parameters' validators) when a request first reaches them, not all ~130 of them
    # in every app built (about 0.2 s of CPU, for each of the test suite's thousands of apps).
    # Each domain's router included in the app itself, not in one router of them all: FastAPI
    # matches a request again at every level of inclusion when it hands it down, so a level
    # fewer is a walk over the domain's routes fewer (~5 % of `me`'s CPU).
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX)
    from t21.admin.router import router as admin_router

    app.include_router(admin_router)
    if not settings.is_production:
        from t21.devpages.router import create_router as dev_pages

        app.include_router(dev_pages())

    # Added innermost first: the request context wraps everything, the error catcher sits
    # just outside the routes so even a 500 gets the headers of the layers around it.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        overrides={
            # Uploads: the file and its multipart framing; direct uploads to the local folder.
            f"{API_PREFIX}/media": settings.media_max_upload_bytes + MULTIPART_OVERHEAD,
            f"{API_PREFIX}/media/objects/": settings.media_max_upload_bytes,
            f"{API_PREFIX}/media/uploads": settings.max_request_bytes,
            f"{API_PREFIX}/posts/import": settings.import_max_bytes + MULTIPART_OVERHEAD,
        },
    )
    app.add_middleware(RateLimitMiddleware, default_limit=settings.rate_limit_per_ip)
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.resolved_public_url.startswith("https://"),
    )
    # Browsers may call the API from T21_CORS_ORIGINS; outside production also from any port
    # of localhost and 127.0.0.1, where a front end's development server runs.
    local_origins = None if settings.is_production else LOCAL_ORIGINS
    if settings.cors_origins or local_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_origin_regex=local_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-Request-ID",
                "Last-Event-ID",
            ],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(TracingMiddleware)
    return app
