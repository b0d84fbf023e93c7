"""The Pinterest adapter replayed against API v5's reference: it must send each request as
the reference defines it and read the documented objects."""

from __future__ import annotations

import pytest

from t21.core.outside import ReauthRequired, Retryable
from t21.platforms.base import Credentials, Published, PublishRequest
from t21.platforms.pinterest import PinterestProvider
from tests.platforms.conformance import pinterest as reference
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import FakeNetwork, MediaServer, media_server

ACCOUNT = Credentials(access_token="pina_AMA1", external_id=reference.USER_ID)


def _provider(served: Replay) -> PinterestProvider:
    return PinterestProvider(FakeNetwork(served.url).config("pinterest"))


async def test_connecting_exchanges_the_code_and_reads_the_account() -> None:
    with replay(reference.TOKEN_FROM_CODE, reference.USER_ACCOUNT) as served:
        [connection] = await _provider(served).exchange_code(
            code="a-code", redirect_uri="https://t21.example/callback", code_verifier=None
        )
    served.check()
    assert (connection.profile.external_id, connection.profile.username) == (
        reference.USER_ID,
        "acme_home",
    )
    assert connection.grant.expires_in == 2592000
    assert connection.grant.refresh_token == "pinr_AQA1"


async def test_boards_are_read_as_listed() -> None:
    with replay(reference.BOARDS) as served:
        [board] = await _provider(served).list_choices(ACCOUNT, "boards")
    served.check()
    assert (board.id, board.name) == (reference.BOARD_ID, "Summer recipes")


async def test_an_image_pin_is_created_from_its_url() -> None:
    with media_server() as media, replay(reference.CREATE_IMAGE_PIN) as served:
        request = PublishRequest(
            text="Grilled peaches",
            media=[media.image()],
            options={"board_id": reference.BOARD_ID, "link": "https://www.pinterest.com/"},
        )
        published = await _provider(served).publish(ACCOUNT, request)
    served.check()
    assert isinstance(published, Published)
    assert published.external_id == reference.PIN_ID


async def test_a_video_is_registered_uploaded_with_its_parameters_and_pinned() -> None:
    media = MediaServer()
    video = media.video(size=4096)
    with replay(
        reference.REGISTER_MEDIA,
        reference.UPLOAD,
        reference.MEDIA_SUCCEEDED,
        reference.CREATE_VIDEO_PIN,
    ) as served:
        request = PublishRequest(
            text="Peaches on the grill", media=[video], options={"board_id": reference.BOARD_ID}
        )
        published = await _provider(served).publish(ACCOUNT, request)
    served.check()
    assert isinstance(published, Published)
    assert published.external_id == reference.PIN_ID
    upload = served.seen[1]
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = upload.body
    assert b'name="policy"\r\n\r\neyJleHBpcmF0aW9uIjoiMj..==' in body
    # The file is the last field, as S3's form uploads require.
    assert body.index(b'name="file"') > body.index(b'name="x-amz-credential"')
    assert int(upload.headers["content-length"]) == len(body)


async def test_a_429_waits_retry_after_and_a_refused_token_needs_reconnecting() -> None:
    with (
        media_server() as media,
        replay(reference.RATE_LIMITED, reference.AUTHENTICATION_FAILED) as served,
    ):
        provider = _provider(served)
        request = PublishRequest(
            text="", media=[media.image()], options={"board_id": reference.BOARD_ID}
        )
        with pytest.raises(Retryable) as limited:
            await provider.publish(ACCOUNT, request)
        with pytest.raises(ReauthRequired):
            await provider.profile(ACCOUNT)
    served.check()
    assert limited.value.after == 42
