"""An app that has stopped leaves nothing of itself behind: a process that builds apps (the test
suite, an embedding tool) would otherwise keep every one with its runtime, and each full
garbage collection, which holds the interpreter's lock, would take longer with each of them."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import httpx

from tests.support.accounts import register


async def _serve_once(app_factory: Any) -> tuple[weakref.ref[Any], weakref.ref[Any]]:
    app = app_factory()
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            assert (await api.get("/docs")).status_code == 200
            assert (await api.get("/redoc")).status_code == 200
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            assert brand.status_code == 201, brand.text
            # A post records an event, which wakes the runtime's event hub.
            post = await api.post(
                "/api/v1/posts",
                json={"brand_id": brand.json()["id"], "content": "Hi", "targets": []},
                headers=owner.headers,
            )
            assert post.status_code == 201, post.text
    return weakref.ref(app), weakref.ref(runtime)


async def test_a_stopped_app_and_its_runtime_are_freed(app_factory: Any) -> None:
    app, runtime = await _serve_once(app_factory)
    gc.collect()
    assert app() is None, gc.get_referrers(app())
    assert runtime() is None, gc.get_referrers(runtime())
