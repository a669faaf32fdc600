import pytest

from tests.conftest import body_of, path_of


@pytest.mark.gen_test
async def test_upload_then_fetch_raw(upload, fetch):
    response = await upload(b"hello world\n", "hello.txt")
    assert response.code == 201, response.body
    card = body_of(response)
    raw = await fetch(path_of(card["url_i"]))
    assert raw.code == 200
    assert raw.body == b"hello world\n"
