"""The Bluesky fake's video service and service tokens, after the PDS's
`com.atproto.server.getServiceAuth` and video.bsky.app's `app.bsky.video.*`
(lexicons/app/bsky/video, docs.bsky.app/docs/tutorials/video):

- `getServiceAuth?aud=&lxm=&exp=` (an account's token) issues a service token for one audience
  (a did:web) and one method, living at most an hour.
- `getUploadLimits` (a token for this service's did:web and that method): `canUpload` and what
  is left of the day's 25 videos and 10 GB.
- `uploadVideo?did=&name=` (a token for the PDS's did:web, `lxm` uploadBlob, the same `did`):
  a `video/mp4` body that is an MP4 (an `ftyp` box), as long as its Content-Length, at most
  300,000,000 bytes; the job is processed after `polls` status reads (`_control/video`).
- `getJobStatus?jobId=`: the job's state; once JOB_STATE_COMPLETED, the blob stored on the PDS.
- `app.bsky.embed.video` in a post: a known blob of video/mp4 within the lexicon's maxSize;
  `alt` a string of at most 1,000 graphemes and 10,000 bytes; `captions` at most 20 of
  `{lang, file}`, `lang` a language tag and `file` a known blob of text/vtt of at most 20,000
  bytes (lexicons/app/bsky/embed/video.json).

`POST /_control/video` `{can_upload?, polls?, fail?}`: refuse uploads (with Bluesky's message),
how many status reads processing takes, or make the next job fail.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import regex
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import control_body, optional
from t21.sandbox.platform import bearer

if TYPE_CHECKING:
    from t21.sandbox.bluesky import BlueskyState

MAX_VIDEO_BYTES = 300_000_000  # app.bsky.embed.video video maxSize
MAX_ALT_GRAPHEMES, MAX_ALT_BYTES = 1000, 10_000  # its alt's maxGraphemes and maxLength
MAX_CAPTIONS, MAX_CAPTION_BYTES = 20, 20_000  # its captions' maxLength, a caption file's maxSize
# A language tag (BCP 47) as the lexicon's `language` format takes it: a primary subtag, then
# subtags of letters and digits.
LANGUAGE = regex.compile(r"(?:[A-Za-z]{2,3}|[ix])(?:-[A-Za-z0-9]{1,8})*")
DAILY_VIDEOS = 25
DAILY_BYTES = 10 * 1024**3
SERVICE_TOKEN_MAX_S = 3600
UPLOAD_BLOB = "com.atproto.repo.uploadBlob"
LIMITS = "app.bsky.video.getUploadLimits"


@dataclass
class VideoState:
    service_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, list[int]] = field(default_factory=dict)  # did -> sizes today
    can_upload: bool = True
    polls: int = 1
    fail_next: bool = False

    def forget(self) -> None:
        self.service_tokens.clear()
        self.jobs.clear()
        self.uploads.clear()
        self.can_upload, self.polls, self.fail_next = True, 1, False


class VideoError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def did_web(request: Request) -> str:
    return "did:web:" + request.url.netloc.replace(":", "%3A")


def _service(video: VideoState, request: Request, lxm: str) -> dict[str, Any]:
    """The service token of the request, for this host and method, or the refusal."""
    found = video.service_tokens.get(bearer(request) or "")
    if found is None or found["exp"] < time.time():
        raise VideoError(401, "AuthMissing", "Authentication Required")
    if found["aud"] != did_web(request) or found["lxm"] != lxm:
        raise VideoError(401, "BadJwtAudience", "jwt audience does not match service did")
    return found


def _cid(data: bytes) -> str:
    b32 = "234567abcdefghijklmnopqrstuvwxyz"
    return "bafkrei" + "".join(b32[b % 32] for b in hashlib.sha256(data).digest())


def video_routes(state: BlueskyState, account: Callable[[Request], str]) -> list[Route]:
    video = state.video

    def limits_left(did: str) -> tuple[int, int]:
        sizes = video.uploads.get(did, [])
        return DAILY_VIDEOS - len(sizes), DAILY_BYTES - sum(sizes)

    async def service_auth(request: Request) -> Response:
        did = account(request)
        aud, lxm = request.query_params.get("aud", ""), request.query_params.get("lxm", "")
        if not aud.startswith("did:"):
            raise VideoError(400, "InvalidRequest", "Error: aud must be a valid did")
        exp_given = request.query_params.get("exp")
        now = time.time()
        exp = int(exp_given) if exp_given and exp_given.isdigit() else int(now + 60)
        if exp > now + SERVICE_TOKEN_MAX_S:
            raise VideoError(400, "BadExpiration", "expiration is too far in the future")
        token = "svc-" + secrets.token_urlsafe(24)
        video.service_tokens[token] = {"did": did, "aud": aud, "lxm": lxm, "exp": exp}
        return JSONResponse({"token": token})

    async def upload_limits(request: Request) -> Response:
        did = _service(video, request, LIMITS)["did"]
        videos, size = limits_left(did)
        if not video.can_upload:
            message = "Your account needs a verified email before uploading video."
            return JSONResponse(
                {"canUpload": False, "error": "unconfirmed_email", "message": message}
            )
        return JSONResponse(
            {
                "canUpload": videos > 0 and size > 0,
                "remainingDailyVideos": videos,
                "remainingDailyBytes": size,
            }
        )

    async def upload_video(request: Request) -> Response:
        token = _service(video, request, UPLOAD_BLOB)
        did = request.query_params.get("did", "")
        if did != token["did"]:
            raise VideoError(401, "BadJwtAudience", "did does not match the token")
        if request.headers.get("content-type", "").split(";")[0].strip() != "video/mp4":
            raise VideoError(400, "InvalidRequest", "Wrong content type (expected video/mp4)")
        declared = request.headers.get("content-length")
        data = await request.body()
        if declared is None or int(declared) != len(data):
            raise VideoError(400, "InvalidRequest", "Content-Length doesn't match the body")
        if len(data) > MAX_VIDEO_BYTES:
            raise VideoError(413, "PayloadTooLarge", "request entity too large")
        if data[4:8] != b"ftyp":
            raise VideoError(400, "InvalidRequest", "Not an mp4 file")
        videos, size = limits_left(did)
        if not video.can_upload or videos <= 0 or size < len(data):
            raise VideoError(429, "RateLimitExceeded", "Daily video upload limit reached")
        video.uploads.setdefault(did, []).append(len(data))
        job_id = secrets.token_hex(8)
        blob = {
            "$type": "blob",
            "ref": {"$link": _cid(data)},
            "mimeType": "video/mp4",
            "size": len(data),
        }
        job = {"jobId": job_id, "did": did, "state": "JOB_STATE_ENCODING", "progress": 0}
        video.jobs[job_id] = {
            "job": job,
            "blob": blob,
            "polls": video.polls,
            "fail": video.fail_next,
        }
        video.fail_next = False
        return JSONResponse({"jobStatus": job})

    async def job_status(request: Request) -> Response:
        held = video.jobs.get(request.query_params.get("jobId", ""))
        if held is None:
            raise VideoError(400, "InvalidRequest", "job not found")
        held["polls"] -= 1
        job = held["job"]
        if held["polls"] <= 0 and job["state"] == "JOB_STATE_ENCODING":
            if held["fail"]:
                job.update(
                    state="JOB_STATE_FAILED",
                    error="encoding_failure",
                    message="Video failed to encode",
                )
            else:
                state.blobs[(job["did"], held["blob"]["ref"]["$link"])] = held["blob"]
                job.update(state="JOB_STATE_COMPLETED", progress=100, blob=held["blob"])
        return JSONResponse({"jobStatus": job})

    async def control(request: Request) -> Response:
        body = await control_body(request)
        can_upload = optional(body, "can_upload", bool)
        polls = optional(body, "polls", int)
        video.can_upload = video.can_upload if can_upload is None else bool(can_upload)
        video.polls = video.polls if polls is None else int(polls)
        video.fail_next = bool(optional(body, "fail", bool))
        return JSONResponse({"can_upload": video.can_upload, "polls": video.polls})

    x = "/xrpc/"
    return [
        Route("/_control/video", control, methods=["POST"]),
        Route(x + "com.atproto.server.getServiceAuth", service_auth),
        Route(x + LIMITS, upload_limits),
        Route(x + "app.bsky.video.uploadVideo", upload_video, methods=["POST"]),
        Route(x + "app.bsky.video.getJobStatus", job_status),
    ]


def check_video_embed(state: BlueskyState, did: str, embed: dict[str, Any]) -> str | None:
    """What is wrong with an `app.bsky.embed.video`, as the lexicon says; None if nothing."""
    blob = embed.get("video")
    ref = blob.get("ref") if isinstance(blob, dict) else None
    stored = state.blobs.get((did, str(ref.get("$link") if isinstance(ref, dict) else None)))
    if stored is None:
        return "Record/embed/video must be an uploaded blob"
    if stored["mimeType"] != "video/mp4":
        return "Record/embed/video mimeType is not accepted"
    if stored["size"] > MAX_VIDEO_BYTES:
        return "Record/embed/video file too large"
    ratio = embed.get("aspectRatio")
    if ratio is not None and not (
        isinstance(ratio, dict)
        and all(isinstance(ratio.get(k), int) and ratio[k] > 0 for k in ("width", "height"))
    ):
        return "Record/embed/aspectRatio must have positive width and height"
    alt = embed.get("alt")
    if "alt" in embed and not isinstance(alt, str):
        return "Record/embed/alt must be a string"
    if isinstance(alt, str) and (
        len(regex.findall(r"\X", alt)) > MAX_ALT_GRAPHEMES or len(alt.encode()) > MAX_ALT_BYTES
    ):
        return f"Record/embed/alt must not be longer than {MAX_ALT_GRAPHEMES} graphemes"
    return _captions_problem(state, did, embed.get("captions"))


def _captions_problem(state: BlueskyState, did: str, captions: Any) -> str | None:
    """What is wrong with a video's `captions` (`app.bsky.embed.video#caption`); None if
    nothing or none."""
    if captions is None:
        return None
    if not isinstance(captions, list) or len(captions) > MAX_CAPTIONS:
        return f"Record/embed/captions must be an array of at most {MAX_CAPTIONS} captions"
    for number, caption in enumerate(captions):
        where = f"Record/embed/captions/{number}"
        if not isinstance(caption, dict):
            return f"{where} must be an object"
        lang = caption.get("lang")
        if not isinstance(lang, str) or not LANGUAGE.fullmatch(lang):
            return f"{where}/lang must be a valid language code"
        file = caption.get("file")
        ref = file.get("ref") if isinstance(file, dict) else None
        stored = state.blobs.get((did, str(ref.get("$link") if isinstance(ref, dict) else None)))
        if stored is None:
            return f"{where}/file must be an uploaded blob"
        if stored["mimeType"] != "text/vtt":
            return f"{where}/file mimeType is not accepted"
        if stored["size"] > MAX_CAPTION_BYTES:
            return f"{where}/file file too large"
    return None
