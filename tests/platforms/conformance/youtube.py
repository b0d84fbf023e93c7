"""YouTube's reference as exchanges: Google's OAuth web-server flow and the Data API requests
the reference pages show (the resumable upload guide's steps, channels, playlistItems and videos
lists), with the page each comes from. Tokens and the upload id are the pages' own examples;
other ids are made up in YouTube's shapes."""

from __future__ import annotations

from tests.platforms.conformance import google_oauth
from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply

GUIDE = "https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol"
DOCS = "https://developers.google.com/youtube/v3/docs"
ACCESS = "1/fFAGRNJru1FTz70BzhT3Zg"  # #exchange-authorization-code
REFRESH = google_oauth.REFRESH
SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload "
    "https://www.googleapis.com/auth/youtube.readonly"
)
CHANNEL_ID = "UC_x5XG1OV2P6uZZ5FSM9Ttw"
UPLOADS = "UU_x5XG1OV2P6uZZ5FSM9Ttw"
VIDEO_ID = "dQw4w9WgXcQ"
SIZE = 300_000  # two chunks: 256 KiB, then the rest
SESSION_QUERY = {"uploadType": "resumable", "upload_id": "xa298sd_f", "part": "snippet,status"}

TOKEN = google_oauth.code_exchange(
    ACCESS,
    SCOPES,
    code="4/P7q7W91a-oMsCeLvIaQm6bTrgtp7",
    redirect_uri="https://t21.example/api/v1/social-accounts/callback/youtube",
)
REFRESH_TOKEN = google_oauth.refresh(ACCESS, SCOPES)

CHANNELS_MINE = Exchange(
    name="channels.list mine=true",
    source=f"{DOCS}/channels/list",
    expect=Expect(
        "GET",
        "/youtube/v3/channels",
        query={"part": "snippet", "mine": "true"},
        headers={"authorization": f"Bearer {ACCESS}"},
        extra=frozenset({"maxResults"}),  # /channels/list#maxResults
    ),
    reply=Reply(
        body={
            "kind": "youtube#channelListResponse",
            "items": [
                {
                    "kind": "youtube#channel",
                    "id": CHANNEL_ID,
                    "snippet": {
                        "title": "Acme Videos",
                        "customUrl": "@acmevideos",
                        "thumbnails": {"default": {"url": "https://yt3.ggpht.com/acme"}},
                    },
                }
            ],
        }
    ),
)

OPEN_SESSION = Exchange(
    name="step 1: start a resumable session",
    source=f"{GUIDE}#Start_Resumable_Session",
    expect=Expect(
        "POST",
        "/upload/youtube/v3/videos",
        query={"uploadType": "resumable", "part": "snippet,status"},
        headers={
            "authorization": f"Bearer {ACCESS}",
            "content-type": "application/json",
            "x-upload-content-length": str(SIZE),
            "x-upload-content-type": "video/mp4",
        },
        json={
            "snippet": {
                "title": "My video title",
                "description": "This is a description of my video",
                "tags": ["cool", "video", "more keywords"],
                "categoryId": "22",
            },
            "status": {"privacyStatus": "public"},
        },
        exact=True,
    ),
    reply=Reply(
        headers={
            "Location": "{base}/upload/youtube/v3/videos?uploadType=resumable"
            "&upload_id=xa298sd_f&part=snippet,status"
        }
    ),
)

STATUS_NOTHING_YET = Exchange(
    name="step 4: check the upload status (nothing received yet)",
    source=f"{GUIDE}#Check_Upload_Status",
    expect=Expect(
        "PUT",
        "/upload/youtube/v3/videos",
        query=SESSION_QUERY,
        headers={"content-range": f"bytes */{SIZE}", "content-length": "0"},
    ),
    reply=Reply(status=308),
)

STATUS_HALF = Exchange(
    name="step 4: check the upload status (the first chunk received)",
    source=f"{GUIDE}#Check_Upload_Status",
    expect=Expect(
        "PUT",
        "/upload/youtube/v3/videos",
        query=SESSION_QUERY,
        headers={"content-range": f"bytes */{SIZE}", "content-length": "0"},
    ),
    reply=Reply(status=308, headers={"Range": "bytes=0-262143"}),
)

FIRST_CHUNK = Exchange(
    name="step 2, chunked: the first 256 KiB",
    source=f"{GUIDE}#Send_Chunks",
    expect=Expect(
        "PUT",
        "/upload/youtube/v3/videos",
        query=SESSION_QUERY,
        headers={"content-range": f"bytes 0-262143/{SIZE}", "content-length": "262144"},
        body=ANY,
    ),
    reply=Reply(status=308, headers={"Range": "bytes=0-262143"}),
)

VIDEO = {
    "kind": "youtube#video",
    "id": VIDEO_ID,
    "snippet": {
        "publishedAt": "2026-12-06T10:00:00Z",
        "channelId": CHANNEL_ID,
        "title": "My video title",
        "description": "This is a description of my video",
    },
    "status": {"uploadStatus": "uploaded", "privacyStatus": "public"},
}

LAST_CHUNK = Exchange(
    name="step 2, chunked: the last chunk, answered with the video",
    source=f"{GUIDE}#Send_Chunks",
    expect=Expect(
        "PUT",
        "/upload/youtube/v3/videos",
        query=SESSION_QUERY,
        headers={
            "content-range": f"bytes 262144-{SIZE - 1}/{SIZE}",
            "content-length": str(SIZE - 262144),
        },
        body=ANY,
    ),
    reply=Reply(status=201, body=VIDEO),
)

CHANNEL_UPLOADS = Exchange(
    name="channels.list contentDetails: the uploads playlist",
    source=f"{DOCS}/channels#contentDetails.relatedPlaylists.uploads",
    expect=Expect(
        "GET", "/youtube/v3/channels", query={"part": "contentDetails", "id": CHANNEL_ID}
    ),
    reply=Reply(
        body={
            "items": [
                {
                    "id": CHANNEL_ID,
                    "contentDetails": {"relatedPlaylists": {"uploads": UPLOADS, "likes": ""}},
                }
            ]
        }
    ),
)

PLAYLIST_ITEMS = Exchange(
    name="playlistItems.list of the uploads playlist",
    source=f"{DOCS}/playlistItems/list",
    expect=Expect(
        "GET",
        "/youtube/v3/playlistItems",
        query={"part": "snippet", "playlistId": UPLOADS},
        extra=frozenset({"maxResults"}),
    ),
    reply=Reply(
        body={
            "kind": "youtube#playlistItemListResponse",
            "items": [
                {
                    "kind": "youtube#playlistItem",
                    "snippet": {
                        "publishedAt": "2026-12-06T10:00:00Z",
                        "title": "My video title",
                        "description": "This is a description of my video",
                        "playlistId": UPLOADS,
                        "resourceId": {"kind": "youtube#video", "videoId": VIDEO_ID},
                    },
                }
            ],
        }
    ),
)

STATISTICS = Exchange(
    name="videos.list statistics",
    source=f"{DOCS}/videos#statistics",
    expect=Expect("GET", "/youtube/v3/videos", query={"part": "statistics", "id": VIDEO_ID}),
    reply=Reply(
        body={
            "items": [
                {
                    "id": VIDEO_ID,
                    "statistics": {
                        "viewCount": "1534",
                        "likeCount": "87",
                        "favoriteCount": "0",
                        "commentCount": "12",
                    },
                }
            ]
        }
    ),
)
