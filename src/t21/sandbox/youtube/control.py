"""The YouTube fake's own `/_control` routes, beside the shared ones: consent, channels, the
quota, chunk faults, and reading or setting sessions, videos, comments, statistics and report
numbers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import ControlError, control_body, optional
from t21.sandbox.youtube.state import REPORT_METRICS, YouTubeState, new_id


def youtube_control_routes(state: YouTubeState) -> list[Route]:
    async def consent(request: Request) -> Response:
        body = await control_body(request)
        channel = optional(body, "channel", str)
        untick = optional(body, "untick", list) or []
        if channel is not None:
            user = state.user_of(channel)
            if user is None:
                raise ControlError("No such channel.", 404)
            user.channels.remove(channel)
            user.channels.insert(0, channel)
            state.next_user = user.email
        state.untick = {str(scope) for scope in untick}
        return JSONResponse({"untick": sorted(state.untick)})

    async def add_channel(request: Request) -> Response:
        body = await control_body(request)
        title = optional(body, "title", str) or "Another channel"
        handle = optional(body, "handle", str) or "@" + new_id(8).lower()
        email = optional(body, "email", str)
        user = state.users.get(email) if email else None
        if user is None:
            user = state.add_user(email, [(title, handle)]) if email else None
        if user is None:
            user = next(iter(state.users.values()))
            made = state.add_user("_", [(title, handle)])
            state.users.pop("_")
            user.channels += made.channels
        channel = state.channels[user.channels[-1]]
        channel.verified = optional(body, "verified", bool) is not False
        return JSONResponse({"id": channel.id, "handle": channel.handle})

    async def quota(request: Request) -> Response:
        body = await control_body(request)
        units, uploads = optional(body, "units", int), optional(body, "uploads", int)
        if units is not None:
            state.units_left = units
        if uploads is not None:
            state.uploads_left = uploads
        return JSONResponse({"units": state.units_left, "uploads": state.uploads_left})

    async def chunk_faults(request: Request) -> Response:
        body = await control_body(request)
        state.chunks_before_fault = optional(body, "after", int)
        state.chunk_faults = optional(body, "count", int) or 1
        return JSONResponse({"after": state.chunks_before_fault})

    async def sessions(_request: Request) -> Response:
        return JSONResponse(
            {
                "sessions": [
                    {
                        "id": s.id,
                        "channel": s.channel,
                        "size": s.size,
                        "received": s.received,
                        "ranges": s.ranges,
                        "resent": s.resent,
                        "video": s.video,
                    }
                    for s in state.sessions.values()
                ]
            }
        )

    async def list_videos(_request: Request) -> Response:
        return JSONResponse({"videos": list(state.videos.values())})

    async def list_comments(_request: Request) -> Response:
        return JSONResponse(
            {"comments": [thread for threads in state.comments.values() for thread in threads]}
        )

    async def set_statistics(request: Request) -> Response:
        video = state.videos.get(request.path_params["video"])
        if video is None:
            raise ControlError("No such video.", 404)
        body = await control_body(request)
        for name in ("viewCount", "likeCount", "commentCount"):
            value = optional(body, name, int)
            if value is not None:
                video["statistics"][name] = str(value)
        return JSONResponse(video["statistics"])

    async def set_analytics(request: Request) -> Response:
        video = state.videos.get(request.path_params["video"])
        if video is None:
            raise ControlError("No such video.", 404)
        body = await control_body(request)
        numbers = state.analytics.setdefault(video["id"], {})
        for name in REPORT_METRICS:
            value = body.get(name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ControlError(f"`{name}` must be a number, 0 or more.")
                numbers[name] = value
        reported = optional(body, "reported", bool)
        if reported is True:
            state.unreported.discard(video["id"])
        elif reported is False:
            state.unreported.add(video["id"])
        return JSONResponse({"video": video["id"], "analytics": numbers, "reported": reported})

    return [
        Route("/_control/consent", consent, methods=["POST"]),
        Route("/_control/channels", add_channel, methods=["POST"]),
        Route("/_control/quota", quota, methods=["POST"]),
        Route("/_control/chunk-faults", chunk_faults, methods=["POST"]),
        Route("/_control/sessions", sessions, methods=["GET"]),
        Route("/_control/videos", list_videos, methods=["GET"]),
        Route("/_control/comments", list_comments, methods=["GET"]),
        Route("/_control/videos/{video}/statistics", set_statistics, methods=["POST"]),
        Route("/_control/videos/{video}/analytics", set_analytics, methods=["POST"]),
    ]
