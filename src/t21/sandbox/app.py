"""The sandbox server: every fake mounted under its own prefix on one loopback port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from t21.sandbox.resend import create_resend_app

FAKES = {"resend": "Resend email API (POST /resend/emails)"}


def create_sandbox_app() -> Starlette:
    async def index(_request: Request) -> Response:
        return JSONResponse({"sandbox": "t21", "fakes": FAKES})

    return Starlette(
        routes=[
            Route("/", index),
            Mount("/resend", app=create_resend_app()),
        ]
    )
