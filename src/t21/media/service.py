"""The media library: uploads sniffed, measured and stored; assets listed, served and deleted."""

from __future__ import annotations

from t21.core.runtime import Runtime
from t21.media.models import MediaAsset
from t21.media.storage import storage_of
from t21.platforms.base import MediaItem, MediaKind


def media_kind(content_type: str) -> MediaKind:
    return MediaKind.VIDEO if content_type.startswith("video/") else MediaKind.IMAGE


def media_item(runtime: Runtime, asset: MediaAsset) -> MediaItem:
    """`asset` as a network adapter takes it: a time-limited URL the network can download
    (presigned on S3, signed on T21's public URL for the local folder) and a byte reader."""
    storage = storage_of(runtime)
    key = asset.storage_key

    async def read(offset: int, length: int) -> bytes:
        return await storage.read(key, offset, length)

    return MediaItem(
        kind=media_kind(asset.content_type),
        content_type=asset.content_type,
        size=asset.size,
        url=storage.download_url(key, asset.content_type, runtime.settings.media_url_ttl_s),
        read=read,
        width=asset.width,
        height=asset.height,
        duration_s=asset.duration_s,
    )
