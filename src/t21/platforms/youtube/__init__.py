"""YouTube (`youtube`): videos and Shorts uploaded to a channel through the YouTube Data API v3.

Connecting: Google's OAuth for web server apps (`t21.platforms.google_oauth`) with offline
access and incremental consent, asking for `youtube.upload`, `youtube.readonly`,
`yt-analytics.readonly` and `youtube.force-ssl` (the first two are required; the others may be
unticked: without the last, a target asking for a first comment is refused when the post is
written, rule `first_comment_scope_missing`). Each channel the sign-in reaches
(`channels.list?mine=true`) becomes one account.

Publishing: one video per post (its text is the description unless `options.description`),
uploaded with the resumable protocol over several attempts with the session and offset kept in
the database (`media`); an image with it becomes the custom thumbnail (`thumbnails.set`). A
vertical or square video of up to three minutes is a Short (YouTube decides; T21 links it as
one). `options.first_comment` is posted as the channel on the video once it is out
(`commentThreads.insert`), a step of its own that T21 records, so it goes out once; its failure
leaves the video published and the target failed with its comment not out, and publishing again
sends only the comment. Reconciling reads the channel's uploads playlist; metrics are the
YouTube Analytics API's video report where the analytics scope was granted (`analytics`), else
`videos.list` statistics.

Facts the adapter relies on, with their sources:

- Resumable uploads: `POST /upload/youtube/v3/videos?uploadType=resumable&part=…` with
  `X-Upload-Content-Length`/`-Type`, the session URI in `Location`; chunk `PUT`s with
  `Content-Range`, 308 with `Range: bytes=0-N`, `bytes */N` to ask for the status, 200/201
  with the video when done, 404 for an expired session. Source:
  https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol
- videos.insert: maximum file size 256 GB, `video/*` or `application/octet-stream`,
  `notifySubscribers` (default true); videos uploaded by unverified API projects created after
  2020-07-28 are private. Source: https://developers.google.com/youtube/v3/docs/videos/insert
- The video resource: `snippet.title` at most 100 characters, `snippet.description` at most
  5000 bytes, neither with `<` or `>`; `snippet.tags` at most 500 characters together, commas
  between tags counted and a tag with a space counted as if quoted; `status.privacyStatus`
  public/private/unlisted; `status.publishAt` only for a private video; `status.
  selfDeclaredMadeForKids`; `statistics.viewCount`, `likeCount`, `commentCount` (strings).
  Source: https://developers.google.com/youtube/v3/docs/videos#resource
- thumbnails.set: `POST /upload/youtube/v3/thumbnails/set?videoId=…`, JPEG or PNG up to 2 MB;
  custom thumbnails need a verified channel. Source:
  https://developers.google.com/youtube/v3/docs/thumbnails/set
- Quota: a project gets 10,000 units a day for most methods (lists cost 1, thumbnails.set 50),
  and `videos.insert` and `search.list` their own buckets of 100 calls a day (formerly an
  upload cost 1,600 units); quotas reset at midnight Pacific time; an exhausted quota answers
  403 `quotaExceeded`. Source: https://developers.google.com/youtube/v3/determine_quota_cost
  and https://developers.google.com/youtube/v3/docs/errors
- Errors (`error.errors[].reason`): quotaExceeded, rateLimitExceeded, uploadLimitExceeded,
  insufficientPermissions, youtubeSignupRequired, invalidTitle, invalidDescription,
  invalidTags, invalidCategoryId, invalidPublishAt. Source:
  https://developers.google.com/youtube/v3/docs/errors
- The uploads playlist: `channels.list` `contentDetails.relatedPlaylists.uploads`, read with
  `playlistItems.list` (`snippet.resourceId.videoId`, `snippet.description`,
  `snippet.publishedAt`), at most 50 a page. Source:
  https://developers.google.com/youtube/v3/docs/channels#contentDetails.relatedPlaylists.uploads
  and https://developers.google.com/youtube/v3/docs/playlistItems/list
- commentThreads.insert: `POST /youtube/v3/commentThreads?part=snippet` with a commentThread
  resource naming `snippet.channelId`, `snippet.videoId` and
  `snippet.topLevelComment.snippet.textOriginal`; scope `youtube.force-ssl` only; 50 units of
  the 10,000-unit daily quota; errors channelOrVideoIdMissing, commentTextRequired,
  commentTextTooLong, invalidCommentThreadMetadata (400), forbidden, ineligibleAccount (403),
  channelNotFound, videoNotFound (404). Source:
  https://developers.google.com/youtube/v3/docs/commentThreads/insert
- commentThreads.list by `videoId` (`order=time` newest first, `maxResults` up to 100,
  `snippet.topLevelComment.snippet.authorChannelId.value`, `textOriginal`, `publishedAt`).
  Source: https://developers.google.com/youtube/v3/docs/commentThreads/list and
  https://developers.google.com/youtube/v3/docs/comments#resource
- Comments are turned off on videos made for kids. Source:
  https://support.google.com/youtube/answer/14323217
- Shorts: vertical or square videos of up to three minutes (since 2024-10-15). Source:
  https://support.google.com/youtube/answer/15424877 (unconfirmed in the API reference, which
  has no Shorts field: classification is YouTube's).
- Unconfirmed: that the uploads playlist lists the newest upload first and at once (T21 also
  settles a doubtful upload through its session); that a comment takes at most 10,000
characters (the reference names commentTextTooLong but no number; T21 refuses longer ones when
the post is written); that `invalidDescription` is answered for
  over 5000 bytes rather than characters (T21 counts bytes, the stricter).
"""

from t21.platforms.youtube.provider import YouTubeProvider
from t21.platforms.youtube.rules import YouTubeOptions

__all__ = ["YouTubeOptions", "YouTubeProvider"]
