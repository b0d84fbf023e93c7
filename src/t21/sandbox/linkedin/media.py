"""The Images and Videos APIs (initialize, upload, finalize, status) and legacy asset upload.

Upload URLs point at this app (`/dms-uploads/...`), built from the request's base URL so they
work mounted under a prefix. Images upload in one PUT with the member's token; videos in parts
of `video_part_bytes`, each answered with an ETag that finalizeUpload must list in order.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.linkedin.state import Asset, LinkedInState
from t21.sandbox.linkedin.wire import (
    access_denied,
    bad_request,
    image_verdict,
    json_of,
    refusal,
    section,
    video_verdict,
)
from t21.sandbox.oauth import base_url

MAX_VIDEO_BYTES = 500 * 1024 * 1024
UPLOAD_URL_TTL_MS = 86_400_000
# A member posts with w_member_social, a page admin for the page with w_organization_social;
# which one the owner needs is checked by `check_owner`.
PUBLISH_SCOPE = ("w_member_social", "w_organization_social")


def media_routes(state: LinkedInState) -> list[Route]:
    def new_upload(request: Request, asset: Asset) -> str:
        key = secrets.token_urlsafe(12)
        state.assets[asset.urn] = asset
        state.uploads[key] = asset.urn
        return f"{base_url(request)}/dms-uploads/{key}"

    def expiry() -> int:
        return int(time.time() * 1000) + UPLOAD_URL_TTL_MS

    def finish_upload(asset: Asset, data: bytes) -> None:
        asset.size, asset.sha256 = len(data), hashlib.sha256(data).hexdigest()
        verdict = video_verdict if asset.kind == "video" or asset.video else image_verdict
        asset.content_type, asset.failure = verdict(data)
        asset.uploaded_at = time.time()
        if asset.kind == "asset":  # legacy synchronous upload: final at once
            asset.status = "PROCESSING_FAILED" if asset.failure else "AVAILABLE"
        else:
            asset.status, asset.polls_left = "PROCESSING", state.processing_polls

    async def images(request: Request) -> Response:
        state.rest(request, PUBLISH_SCOPE, "images.ACTION-initializeUpload")
        if request.query_params.get("action") != "initializeUpload":
            raise bad_request("Unsupported action.")
        init = section(await json_of(request), "initializeUploadRequest")
        owner = state.check_owner(init.get("owner"), request)
        asset = Asset(f"urn:li:image:D4E10AQ{state.new_id()}", "image", owner)
        url = new_upload(request, asset)
        return JSONResponse(
            {"value": {"uploadUrlExpiresAt": expiry(), "uploadUrl": url, "image": asset.urn}}
        )

    async def initialize_video(request: Request) -> Response:
        init = section(await json_of(request), "initializeUploadRequest")
        owner = state.check_owner(init.get("owner"), request)
        size = init.get("fileSizeBytes")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_VIDEO_BYTES:
            raise bad_request(
                f"fileSizeBytes must be between 1 and {MAX_VIDEO_BYTES}.",
                code="FIELD_VALUE_TOO_HIGH",
                maxValue=MAX_VIDEO_BYTES,
            )
        asset = Asset(f"urn:li:video:C5F10AQ{state.new_id()}", "video", owner)
        step = max(1, state.video_part_bytes)
        asset.ranges = [(first, min(first + step, size) - 1) for first in range(0, size, step)]
        asset.upload_token = secrets.token_urlsafe(16)
        url = new_upload(request, asset)
        instructions = [
            {"uploadUrl": f"{url}/{index}", "firstByte": first, "lastByte": last}
            for index, (first, last) in enumerate(asset.ranges)
        ]
        value = {
            "uploadUrlsExpireAt": expiry(),
            "video": asset.urn,
            "uploadInstructions": instructions,
            "uploadToken": asset.upload_token,
            "thumbnailUploadUrl": "",
            "captionsUploadUrl": "",
        }
        return JSONResponse({"value": value})

    async def finalize_video(request: Request) -> Response:
        final = section(await json_of(request), "finalizeUploadRequest")
        asset = state.owned_asset(str(final.get("video")), ("video",))
        if asset.status != "WAITING_UPLOAD" or final.get("uploadToken") != asset.upload_token:
            raise bad_request("The upload token does not match, or the video is already final.")
        expected = [asset.etags.get(index) for index in range(len(asset.ranges))]
        if final.get("uploadedPartIds") != expected:
            raise bad_request("uploadedPartIds do not match the uploaded parts.")
        finish_upload(asset, b"".join(asset.parts[index] for index in range(len(asset.ranges))))
        asset.parts.clear()
        return Response(status_code=200)

    async def videos(request: Request) -> Response:
        action = request.query_params.get("action")
        state.rest(request, PUBLISH_SCOPE, f"videos.ACTION-{action}")
        if action == "initializeUpload":
            return await initialize_video(request)
        if action == "finalizeUpload":
            return await finalize_video(request)
        raise bad_request("Unsupported action.")

    def uploading(key: str) -> Asset:
        urn = state.uploads.get(key)
        asset = state.assets.get(urn) if urn else None
        if asset is None or asset.status != "WAITING_UPLOAD":
            raise refusal(404, "The upload URL is unknown or was already used", "NOT_FOUND")
        return asset

    async def upload(request: Request) -> Response:
        asset = uploading(request.path_params["key"])
        if asset.kind == "video":
            raise bad_request("Upload the video in the parts of its uploadInstructions.")
        state.authenticate(request, PUBLISH_SCOPE, "dms-uploads")
        finish_upload(asset, await request.body())
        return Response(status_code=201)

    async def upload_part(request: Request) -> Response:
        # Part URLs are signed: LinkedIn doesn't need the member's token on them.
        asset = uploading(request.path_params["key"])
        index: int = request.path_params["part"]
        if asset.kind != "video" or index >= len(asset.ranges):
            raise refusal(404, "The upload URL is unknown", "NOT_FOUND")
        data = await request.body()
        first, last = asset.ranges[index]
        if len(data) != last - first + 1:
            raise bad_request(f"Part {index} must be {last - first + 1} bytes, not {len(data)}.")
        asset.parts[index] = data
        asset.etags[index] = f"/ambry-video/signedId/{hashlib.sha256(data).hexdigest()[:32]}"
        return Response(status_code=200, headers={"etag": asset.etags[index]})

    def read_status(request: Request, kind: str) -> Asset:
        state.rest(request, PUBLISH_SCOPE, f"{kind}s.GET")
        if kind == "image" and state.image_status_forbidden:
            raise access_denied("Not enough permissions to access: images.GET.20260101")
        asset = state.owned_asset(request.path_params["urn"], (kind,))
        state.settle(asset)
        if asset.status == "PROCESSING":
            asset.polls_left -= 1
        return asset

    async def image_status(request: Request) -> Response:
        asset = read_status(request, "image")
        body = {"owner": asset.owner, "id": asset.urn, "status": asset.status}
        if asset.status == "AVAILABLE":
            body["downloadUrl"] = f"{base_url(request)}/dms/image/{asset.urn}"
        return JSONResponse(body)

    async def video_status(request: Request) -> Response:
        asset = read_status(request, "video")
        body = {"owner": asset.owner, "id": asset.urn, "status": asset.status}
        if asset.status == "PROCESSING_FAILED":
            body["processingFailureReason"] = asset.failure or ""
        return JSONResponse(body)

    async def register_upload(request: Request) -> Response:
        """Legacy `/v2/assets?action=registerUpload` for ugcPosts (one synchronous PUT)."""
        state.authenticate(request, PUBLISH_SCOPE, "assets.ACTION-registerUpload")
        if request.query_params.get("action") != "registerUpload":
            raise bad_request("Unsupported action.")
        register = section(await json_of(request), "registerUploadRequest")
        owner = state.check_owner(register.get("owner"), request)
        asset = Asset(f"urn:li:digitalmediaAsset:C5522AQ{state.new_id()}", "asset", owner)
        asset.video = any("video" in str(recipe) for recipe in register.get("recipes") or [])
        url = new_upload(request, asset)
        mechanism = "com.linkedin.digitalmedia.uploading.MediaUploadHttpRequest"
        artifact_class = "urn:li:digitalmediaMediaArtifactClass:feedshare-uploadedImage"
        value = {
            "uploadMechanism": {mechanism: {"headers": {}, "uploadUrl": url}},
            "mediaArtifact": f"urn:li:digitalmediaMediaArtifact:({asset.urn},{artifact_class})",
            "asset": asset.urn,
        }
        return JSONResponse({"value": value})

    return [
        Route("/rest/images", images, methods=["POST"]),
        Route("/rest/images/{urn}", image_status, methods=["GET"]),
        Route("/rest/videos", videos, methods=["POST"]),
        Route("/rest/videos/{urn}", video_status, methods=["GET"]),
        Route("/dms-uploads/{key}", upload, methods=["PUT", "POST"]),
        Route("/dms-uploads/{key}/{part:int}", upload_part, methods=["PUT"]),
        Route("/v2/assets", register_upload, methods=["POST"]),
    ]
