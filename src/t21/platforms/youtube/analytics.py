"""The YouTube Analytics API's per-video report, read where the channel granted
`yt-analytics.readonly`: views, likes, comments and shares of each video over its whole life
(`reports.query` with `ids=channel==MINE`, `dimensions=video`, `filters=video==id,id,…`).

Analytics data comes a day or two late, so a video missing from the report (just published)
is left for the Data API's statistics to answer; so is every video when the report is refused
for a missing scope (the person withdrew it after connecting).

Facts, with their sources:

- `GET https://youtubeanalytics.googleapis.com/v2/reports` with `ids` (`channel==MINE`: the
  authorized user's channel), `startDate` and `endDate` (YYYY-MM-DD), `metrics`, `dimensions`,
  `filters`; scopes `yt-analytics.readonly`, and requests now also need `youtube.readonly`.
  Source: https://developers.google.com/youtube/analytics/reference/reports/query
- Several values in the `video` filter are allowed when `video` is among the dimensions (the
  metrics are then grouped by video). Source:
  https://developers.google.com/youtube/analytics/data_model
- The answer: `columnHeaders` (`name`, `columnType`, `dataType`), dimensions first, then the
  metrics in the order asked; `rows`, each a list in that order, left out when there is no
  data. Source: https://developers.google.com/youtube/analytics/reference/reports/query
  (response body) and Google's generated clients (QueryResponse)
- Metric names `views`, `likes`, `comments`, `shares` (video reports, user activity). Source:
  https://developers.google.com/youtube/analytics/metrics and
  https://developers.google.com/youtube/analytics/channel_reports#video-reports
- Unconfirmed: how many ids one `video` filter takes; T21 asks for 50 at a time (the Data
  API's page) and reads lifetime totals from YouTube's launch day.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from t21.platforms.base import PlatformConfig, PostMetrics
from t21.platforms.http import PlatformHttp
from t21.platforms.youtube.wire import DataApi

REAL_ANALYTICS_BASE = "https://youtubeanalytics.googleapis.com"
REAL_DATA_BASE = "https://www.googleapis.com"
# The report's metrics T21 keeps, and T21's name for each.
REPORT_METRICS = {"views": "video_views", "likes": "likes", "comments": "comments",
                  "shares": "shares"}  # fmt: skip
# A video's whole life: YouTube's first day.
LIFETIME_START = date(2005, 2, 14)
BATCH = 50


def analytics_base(config: PlatformConfig) -> str:
    """The Analytics API's host: configured, Google's beside Google's Data API, else the Data
    API's host (a fake or a proxy serving both)."""
    configured = config.extras.get("analytics_base")
    if configured:
        return configured
    return REAL_ANALYTICS_BASE if config.api_base == REAL_DATA_BASE else config.api_base


async def report(
    http: PlatformHttp, base: str, token: str, video_ids: list[str], today: date
) -> dict[str, PostMetrics]:
    """Each video's lifetime numbers from the Analytics report; videos it has no row for are
    left out (their data isn't in yet)."""
    found: dict[str, PostMetrics] = {}
    for start in range(0, len(video_ids), BATCH):
        batch = video_ids[start : start + BATCH]
        response = await http.request(
            "GET",
            f"{base}/v2/reports",
            params={
                "ids": "channel==MINE",
                "startDate": LIFETIME_START.isoformat(),
                "endDate": today.isoformat(),
                "metrics": ",".join(REPORT_METRICS),
                "dimensions": "video",
                "filters": "video==" + ",".join(batch),
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        body = DataApi.result(response, what="the videos' analytics report")
        found |= _rows(body, set(batch))
    return found


def _rows(body: dict[str, Any], asked: set[str]) -> dict[str, PostMetrics]:
    headers = body.get("columnHeaders")
    names = [
        str(header.get("name")) if isinstance(header, dict) else "" for header in headers or []
    ]
    if "video" not in names:
        return {}
    found: dict[str, PostMetrics] = {}
    for row in body.get("rows") or []:
        if not isinstance(row, list) or len(row) != len(names):
            continue
        cells = dict(zip(names, row, strict=True))
        video_id = cells.get("video")
        if not isinstance(video_id, str) or video_id not in asked:
            continue
        numbers = {ours: _count(cells.get(theirs)) for theirs, ours in REPORT_METRICS.items()}
        found[video_id] = PostMetrics(**numbers)
    return found


def _count(value: Any) -> int | None:
    """A metric's cell: a number (an integer for these counts), or absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
