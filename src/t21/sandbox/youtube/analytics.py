"""`GET /v2/reports`: the YouTube Analytics API's `reports.query` for a channel's own videos,
with the video's statistics as its views, likes and comments unless `/_control` set them."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.platform import bearer
from t21.sandbox.youtube.state import ANALYTICS_SCOPES, READ_SCOPES, REPORT_METRICS, YouTubeState
from t21.sandbox.youtube.wire import ApiError


def analytics_routes(state: YouTubeState) -> list[Route]:
    async def reports(request: Request) -> Response:
        """`reports.query` of the YouTube Analytics API, for a channel's own videos."""
        token = state.token(bearer(request))
        if token is None:
            raise ApiError(401, "authError", "Invalid Credentials")
        if not token.scopes & ANALYTICS_SCOPES or not token.scopes & READ_SCOPES:
            raise ApiError(403, "insufficientPermissions", "Request had insufficient scopes.")
        query = request.query_params
        for name in ("ids", "startDate", "endDate", "metrics"):
            if not query.get(name):
                raise ApiError(400, "required", f"Required parameter: {name}")
        if query["ids"] not in ("channel==MINE", f"channel=={token.account_id}"):
            raise ApiError(403, "forbidden", "Forbidden")
        start, end = _report_day(query["startDate"]), _report_day(query["endDate"])
        if start > end:
            raise ApiError(400, "badRequest", "The start date must not be after the end date.")
        metrics = query["metrics"].split(",")
        for metric in metrics:
            if metric not in REPORT_METRICS:
                raise ApiError(
                    400, "badRequest", f"Unknown identifier ({metric}) given in field "
                    "parameters.metrics.",
                )  # fmt: skip
        dimensions = [d for d in query.get("dimensions", "").split(",") if d]
        if dimensions not in ([], ["video"]):
            raise ApiError(400, "badRequest", "The query is not supported.")
        asked = _video_filter(query.get("filters", ""))
        if asked is not None and len(asked) > 1 and not dimensions:
            raise ApiError(400, "badRequest", "The query is not supported.")
        channel = state.channels[token.account_id]
        shown = [
            video_id
            for video_id in channel.videos
            if (asked is None or video_id in asked) and state.reported(video_id)
        ]
        headers = [{"name": "video", "columnType": "DIMENSION", "dataType": "STRING"}]
        headers = headers if dimensions else []
        headers += [
            {"name": m, "columnType": "METRIC", "dataType": REPORT_METRICS[m]} for m in metrics
        ]
        rows: list[list[Any]]
        if dimensions:
            rows = [[video_id, *state.report_row(video_id, metrics)] for video_id in shown]
        else:
            rows = [_summed([state.report_row(video_id, metrics) for video_id in shown])]
        body: dict[str, Any] = {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers}
        if shown:
            body["rows"] = rows
        return JSONResponse(body)

    return [Route("/v2/reports", reports, methods=["GET"])]


def _report_day(value: str) -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_day(value)
    except ValueError:
        return _bad_day(value)


def _bad_day(value: str) -> date:
    raise ApiError(400, "invalidValue", f"Invalid value '{value}'. Dates are YYYY-MM-DD.")


def _video_filter(filters: str) -> set[str] | None:
    """The ids of a `video==a,b` filter; None without one. Other filters aren't served."""
    if not filters:
        return None
    name, _, values = filters.partition("==")
    if name != "video" or not values or ";" in values:
        raise ApiError(400, "badRequest", "The query is not supported.")
    return set(values.split(","))


def _summed(rows: list[list[float]]) -> list[float]:
    return [sum(column) for column in zip(*rows, strict=True)] if rows else []
