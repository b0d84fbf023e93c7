"""Video uploads: registering one (`POST /v5/media`), the presigned form POST of the file to
the "bucket" (`upload_url`, answered 204 like S3), and the media's status, which moves from
registered to processing (for `processing_polls` reads) to succeeded."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import base_url
from t21.sandbox.pinterest.state import PinterestState, Upload
from t21.sandbox.pinterest.wire import PinterestError, authorized, invalid, json_object

VIDEO_MAX_BYTES = 2 * 1024 * 1024 * 1024
BUCKET_PATH = "/_bucket/"
# ISO base media files (mp4, mov, m4v) carry an `ftyp` box at byte 4; QuickTime may open
# with `moov`, `mdat`, `free` or `wide` instead.
VIDEO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide")


def s3_error(status: int, code: str, message: str) -> Response:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
    return Response(f"{body}<Message>{message}</Message></Error>", status, media_type="text/xml")


def media_routes(state: PinterestState) -> list[Route]:
    async def register(request: Request) -> Response:
        token = authorized(state, request, "org_write", "pins:read", "pins:write")
        body = await json_object(request)
        if body.get("media_type") != "video":
            raise invalid("media_type must be video.")
        media_id = state.next_id()
        key = f"uploads/{secrets.token_hex(2)}/{secrets.token_hex(2)}:video:{media_id}"
        upload = Upload(media_id, token.account_id, key, secrets.token_urlsafe(24))
        state.uploads[media_id] = upload
        parameters = {
            "x-amz-date": "20261206T000000Z",
            "x-amz-signature": secrets.token_hex(32),
            "x-amz-security-token": secrets.token_urlsafe(24),
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "key": key,
            "policy": upload.policy,
            "x-amz-credential": "ASIAT21SANDBOX/20261206/us-east-1/s3/aws4_request",
            "Content-Type": "multipart/form-data",
        }
        return JSONResponse(
            {
                "media_id": media_id,
                "media_type": "video",
                "upload_url": f"{base_url(request)}{BUCKET_PATH}",
                "upload_parameters": parameters,
            },
            status_code=201,
        )

    async def bucket(request: Request) -> Response:
        """S3's form POST: the fields signed at registration, the file last."""
        async with request.form(max_files=1, max_fields=20) as form:
            key, policy = form.get("key"), form.get("policy")
            upload = next((u for u in state.uploads.values() if u.key == key), None)
            if upload is None or not isinstance(policy, str):
                return s3_error(403, "AccessDenied", "Invalid according to Policy")
            if not hmac.compare_digest(policy, upload.policy):
                return s3_error(403, "AccessDenied", "Invalid according to Policy")
            names = list(form.keys())
            if not names or names[-1] != "file":
                return s3_error(400, "InvalidArgument", "The file must be the last field.")
            file = form.get("file")
            if not isinstance(file, UploadFile):
                return s3_error(400, "InvalidArgument", "POST requires exactly one file.")
            head = await file.read(16)
            size = file.size or 0
        if size > VIDEO_MAX_BYTES:
            return s3_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum.")
        if upload.status != "registered":
            return s3_error(403, "AccessDenied", "The upload was already received.")
        upload.size = size
        video = len(head) >= 8 and head[4:8] in VIDEO_BOXES
        if not video or state.settings.fail_processing:
            upload.status = "failed"
        else:
            upload.status = "processing"
        return Response(status_code=204)

    async def status(request: Request) -> Response:
        token = authorized(state, request, "org_read", "pins:read")
        upload = state.uploads.get(request.path_params["media_id"])
        if upload is None or upload.user_id != token.account_id:
            raise PinterestError(404, 3, "Media upload not found.")
        if upload.status == "processing":
            if upload.polls >= state.settings.processing_polls:
                upload.status = "succeeded"
            upload.polls += 1
        return JSONResponse(
            {"media_id": upload.media_id, "media_type": "video", "status": upload.status}
        )

    return [
        Route("/v5/media", register, methods=["POST"]),
        Route("/v5/media/{media_id}", status, methods=["GET"]),
        Route(BUCKET_PATH, bucket, methods=["POST"]),
    ]
