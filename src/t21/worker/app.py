"""The worker process: jobs from the broker, the periodic loops, and a small ops HTTP port.

`t21 worker` serves this app with uvicorn, which handles SIGTERM/SIGINT: the lifespan then
stops taking jobs, lets running jobs and loop iterations finish, and disconnects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from t21 import __version__
from t21.core.logging import get_logger
from t21.core.middleware import RequestContextMiddleware
from t21.core.ops import router as ops_router
from t21.core.problems import UnhandledErrorMiddleware, install_exception_handlers
from t21.core.settings import Settings
from t21.core.tracing import FASTAPI_TELEMETRY, TracingMiddleware
from t21.organizations.principal_cache import PrincipalCache
from t21.runtime import open_runtime

log = get_logger("t21.worker")


def create_worker_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(
            settings, consume_jobs=True, run_loops=True, role="worker"
        ) as runtime:
            app.state.runtime = runtime
            # What the jobs commit that API processes keep (an account marked for reconnecting,
            # an endpoint, a principal) is announced to them. A change committed while the
            # worker stops may go untold: they see it within their TTL, as a lost message.
            announcer = (
                PrincipalCache.announcer(
                    engine=runtime.engine.sync_engine,
                    redis=runtime.redis,
                    channel=f"{settings.redis_prefix}:principals",
                )
                if runtime.redis is not None
                else None
            )
            app.state.principal_announcer = announcer
            log.info("worker started", version=__version__, queue=f"{settings.redis_prefix}:jobs")
            try:
                yield
            finally:
                log.info("worker stopping")
                if announcer is not None:
                    await announcer.stop()

    app = FastAPI(
        title="T21 worker",
        version=__version__,
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    install_exception_handlers(app)
    app.include_router(ops_router)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(TracingMiddleware)
    return app
