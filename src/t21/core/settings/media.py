"""Media storage, and bulk import, export and actions."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class MediaSettings(BaseModel):
    """Media files and the bulk operations' limits."""

    # --- media ---------------------------------------------------------------------------------
    media_dir: Path | None = None
    # Unset: files in `media_dir`. `s3://bucket[/prefix]`: S3-compatible object storage.
    storage_url: str | None = None
    storage_endpoint: str | None = None
    storage_region: str | None = None
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    media_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    media_url_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    media_cleanup_interval_s: float = Field(default=300.0, gt=0)

    # --- bulk import, export and actions --------------------------------------------------------
    # The largest file `POST /posts/import` takes (413 above it) and the most rows in it (422).
    import_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    import_max_rows: int = Field(default=10_000, ge=1)
    # The most posts one `POST /posts/bulk` may touch, by ids or by filter (422 above it).
    bulk_max_posts: int = Field(default=1_000, ge=1)
