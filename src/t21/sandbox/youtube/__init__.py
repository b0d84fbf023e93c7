"""A fake of Google's OAuth and the YouTube Data API v3, strict like YouTube, so T21's adapter
runs against it unchanged:

- Google OAuth (`t21.sandbox.google_oauth`: `/o/oauth2/v2/auth`, `/token`, `/revoke`):
  consent at once for the sandbox's creator on the channel picked (`/_control/consent`), whose
  tokens belong to that channel; incremental and granular consent, offline refresh tokens.
- `GET /youtube/v3/channels` (`mine=true` or `id`), `playlistItems` (the uploads playlist,
  newest first), `videos` (`part=snippet,statistics`): need `youtube.readonly` (403
  insufficientPermissions otherwise); each call costs a unit of the project's quota.
- Resumable uploads: `POST /upload/youtube/v3/videos?uploadType=resumable` opens a session
  (one `videos.insert` call of the project's 100 a day) after checking the metadata as YouTube
  does (title 1-100 characters, description up to 5000 bytes, neither with < or >, tags up to
  500 characters counted with commas and quotes, a known category, privacy, publishAt only
  when private and in the future); chunk `PUT`s must start where the session stands and be
  multiples of 256 KiB but the last; 308 with `Range`, `bytes */N` asks; the last chunk makes
  the video (200). Every range received is recorded, and a range sent again is kept apart
  (`resent`), so a test proves no byte was sent twice. The send record (`/_control/sends`)
  holds the chunk that completes a file, the request that makes a video.
- `POST /upload/youtube/v3/thumbnails/set?videoId=`: JPEG or PNG up to 2 MB, 50 units; 403
  forbidden for a channel not verified.
- `POST /youtube/v3/commentThreads?part=snippet` (commentThreads.insert, 50 units): needs
  `youtube.force-ssl` (403 insufficientPermissions otherwise); `snippet.channelId` and
  `snippet.videoId` (400 channelOrVideoIdMissing), a known video (404 videoNotFound) of that
  channel (400 invalidCommentThreadMetadata), `topLevelComment.snippet.textOriginal` not blank
  (400 commentTextRequired) and at most 10,000 characters (400 commentTextTooLong); the
  comment is recorded as a send of kind "comment" and counted in the video's `commentCount`.
  `GET /youtube/v3/commentThreads?videoId=` lists a video's threads, newest first (1 unit).
- The quota: 10,000 units and 100 uploads a day; spent, any call answers 403 quotaExceeded.

`/_control` adds to the shared routes: `POST /consent` `{channel?, untick?: [scope]}`,
`POST /channels` `{title, handle?, verified?}` (another channel of the creator), `POST /quota`
`{units?, uploads?}`, `POST /chunk-faults` `{after, count?}` (chunk PUTs fail with 503 after
`after` more chunks), `GET /sessions`, `GET /videos`, `GET /comments` (every comment thread),
`POST /videos/{id}/statistics`,
`POST /videos/{id}/analytics` `{views?, likes?, comments?, shares?, estimatedMinutesWatched?,
…, reported?}` (the video's report numbers; `reported: false` leaves it out of reports, as
YouTube's data comes late).

- `GET /v2/reports` (the YouTube Analytics API's `reports.query`, served at the fake's root as
  at youtubeanalytics.googleapis.com): needs `yt-analytics.readonly` (or the monetary scope)
  and `youtube.readonly`, else 403 insufficientPermissions in Google's envelope; `ids`,
  `startDate`, `endDate` and `metrics` required; an unknown metric is refused (400 "Unknown
  identifier"); `dimensions` none or `video`, `filters` `video==id,…` (several ids only with the
  video dimension). Views, likes and comments are the video's statistics unless set.

The fake's parts: `state` (its world), `wire` (errors, the token and quota checks), `reading`,
`analytics`, `uploads`, `comments` and `control`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from t21.sandbox.google_oauth import google_oauth_routes
from t21.sandbox.oauth import ControlError, control_error
from t21.sandbox.platform import FaultMiddleware, control_routes
from t21.sandbox.youtube.analytics import analytics_routes
from t21.sandbox.youtube.comments import comment_routes
from t21.sandbox.youtube.control import youtube_control_routes
from t21.sandbox.youtube.reading import reading_routes
from t21.sandbox.youtube.state import KNOWN_SCOPES, YouTubeState
from t21.sandbox.youtube.uploads import tags_length, upload_routes
from t21.sandbox.youtube.wire import ApiError, api_error

__all__ = ["YouTubeState", "create_youtube_app", "tags_length"]


def create_youtube_app(state: YouTubeState | None = None) -> Starlette:
    """The YouTube fake as an ASGI app, served at a root or mounted (at `/youtube`)."""
    state = state or YouTubeState()
    app = Starlette(
        routes=[
            *google_oauth_routes(state, known_scopes=KNOWN_SCOPES, person=state.consenting),
            *reading_routes(state),
            *analytics_routes(state),
            *upload_routes(state),
            *comment_routes(state),
            *youtube_control_routes(state),
            *control_routes(state, state.forget),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={ApiError: api_error, ControlError: control_error},
    )
    app.state.youtube = state
    return app
