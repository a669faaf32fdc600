"""One deployment secret for every machine: the operator's (setting or file), else the one kept in MongoDB
(the first machine's, seeded from its data dir), else the data dir's own. A list cursor one machine
issued is read by every other (it is keyed by that secret: core/cursor.py)."""

from __future__ import annotations

import uuid

import pytest

from settings import Settings
from tornado_paste.core.cursor import CursorCodec, SecretNotLoaded
from tornado_paste.core.secret import SECRET_FILE, SecretError, configured_secret
from tornado_paste.services import build_services
from tornado_paste.storage.mongo.store import MongoStore

SECRET = "ab" * 32


def test_the_operators_secret_setting_or_file(tmp_path):
    assert configured_secret(SECRET) == bytes.fromhex(SECRET)
    path = tmp_path / "secret.key"
    path.write_text(SECRET.upper() + "\n")
    assert configured_secret(secret_file=str(path)) == bytes.fromhex(SECRET)
    assert configured_secret() is None
    with pytest.raises(SecretError, match="cannot read"):
        configured_secret(secret_file=str(tmp_path / "missing"))
    path.write_text("too short")
    with pytest.raises(SecretError, match="64 hex digits"):
        configured_secret(secret_file=str(path))
    with pytest.raises(ValueError, match="64 hex digits"):
        Settings(secret="nope").validated()


def test_machines_with_the_same_secret_file_read_each_others_cursors(tmp_path, io_loop):
    path = tmp_path / "deployment.key"
    path.write_text(SECRET)
    machines = []
    for name in ("one", "two"):
        services = build_services(Settings(data_dir=str(tmp_path / name), secret_file=str(path)).validated())
        machines.append(services.cursors)
        assert not (tmp_path / name / SECRET_FILE).exists()  # no per-machine secret was made
    for i in (1, 2, 999):
        assert machines[1].decode(machines[0].encode(i)) == i
    # Without one, each data dir makes its own: the next page, asked of another machine, was a 400.
    alone = [build_services(Settings(data_dir=str(tmp_path / f"own{i}")).validated()).cursors for i in range(2)]
    assert alone[1].decode(alone[0].encode(1)) is None


def test_an_unkeyed_cursor_codec_is_a_503_not_a_400():
    cursors = CursorCodec(None)
    with pytest.raises(SecretNotLoaded):
        cursors.encode(1)
    with pytest.raises(SecretNotLoaded):
        cursors.decode("abcde")
    cursors.rekey(bytes.fromhex(SECRET))
    assert cursors.decode(cursors.encode(7)) == 7


@pytest.mark.gen_test(timeout=60)
async def test_machines_on_one_mongodb_share_the_first_machines_secret(tmp_path, mongo_wire_url):
    database = "tp_secret_" + uuid.uuid4().hex[:8]
    # The first machine had been running alone: its data dir's secret becomes the deployment's.
    first_dir = tmp_path / "first"
    first_dir.mkdir()
    (first_dir / SECRET_FILE).write_text(SECRET)
    old_cursors = [CursorCodec(bytes.fromhex(SECRET)).encode(i) for i in (1, 42)]
    made = []
    try:
        for directory in (first_dir, tmp_path / "second", tmp_path / "third"):
            settings = Settings(data_dir=str(directory), mongo_url=mongo_wire_url).validated()
            services = build_services(settings, store=MongoStore.from_url(mongo_wire_url, database))
            await services.start()
            made.append(services)
        for services in made:
            assert [services.cursors.decode(cursor) for cursor in old_cursors] == [1, 42]
        assert made[2].cursors.decode(made[1].cursors.encode(5)) == 5
        assert not (tmp_path / "second" / SECRET_FILE).exists()
    finally:
        for services in made:
            await services.stop()
