"""The scaled-out shape on loopback: app "machines" (``run.py`` processes, each with its OWN data dir) sharing
one object store (Ceph RGW) and one MongoDB (the nx-27017 wire server), optionally behind the real nginx
(the shipped nginx.conf, rendered). Used by the multi-machine tests and bench/scale.py."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.helpers import ServerProcess, free_port
from tests.nginx_stack import NginxProcess

MIB = 1 << 20


def machine_env(s3, mongo_url: str, database: str, prefix: str, mode: str = "accel",
                **extra: str) -> dict[str, str]:
    """The environment of one app machine: blobs in the bucket under ``prefix``, records in ``database``."""
    env = {
        "TORNADO_PASTE_BLOB_STORE": "s3",
        "TORNADO_PASTE_S3_ENDPOINT_URL": s3.endpoint_url,
        "TORNADO_PASTE_S3_BUCKET": s3.bucket,
        "TORNADO_PASTE_S3_REGION": s3.region,
        "TORNADO_PASTE_S3_PREFIX": prefix,
        "TORNADO_PASTE_S3_PART_SIZE": "5M",
        "TORNADO_PASTE_S3_DOWNLOAD": mode,
        "AWS_ACCESS_KEY_ID": s3.access_key,  # the standard variables, not our settings
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "TORNADO_PASTE_MONGO_URL": mongo_url,
        "TORNADO_PASTE_MONGO_DATABASE": database,
        "TORNADO_PASTE_EVENTS_POLL_INTERVAL": "0.2",
        "TORNADO_PASTE_RATELIMIT_UPLOAD_RATE": "0",
        "TORNADO_PASTE_RATELIMIT_READ_RATE": "0",
        "TORNADO_PASTE_RATELIMIT_RESIZE_RATE": "0",
    }
    env.update({f"TORNADO_PASTE_{k.upper()}": v for k, v in extra.items()})
    return env


class ScaleStack:
    """``machines`` app processes (own data dirs) + nginx in front of those named in ``behind_nginx``."""

    def __init__(self, root: Path, s3, mongo_url: str, modes: Sequence[str] = ("accel", "accel"),
                 behind_nginx: Sequence[int] = (0, 1), max_upload_size: int = 256 * MIB,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.root = Path(root)
        self.s3 = s3
        self.database = "tp_scale_" + uuid.uuid4().hex[:8]
        self.prefix = f"scale-{uuid.uuid4().hex[:8]}/"
        self.mongo_url = mongo_url
        self.max_upload_size = max_upload_size
        self.modes = list(modes)
        self.extra_env = dict(extra_env or {})
        self.nginx_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.nginx_port}"
        self.machines = [self._machine(i, free_port()) for i in range(len(self.modes))]
        self.behind_nginx = list(behind_nginx)
        self.nginx: NginxProcess | None = None
        if self.behind_nginx:
            rgw = s3.endpoint_url.rstrip("/")
            self.nginx = NginxProcess(self.root / "nginx", [self.machines[i].port for i in self.behind_nginx],
                                      self.root / "no-local-blobs", max_upload_size, port=self.nginx_port,
                                      extra_values={"object_store": f"proxy_pass {rgw}/",
                                                    "limit_exempt": ["default 0", "127.0.0.1 1"]})

    def _machine(self, index: int, port: int) -> ServerProcess:
        env = machine_env(self.s3, self.mongo_url, self.database, self.prefix, self.modes[index])
        env.update(self.extra_env)
        return ServerProcess(self.root / f"machine{index}" / "data", port=port,
                             extra_args=["--behind-proxy", "--base-url", self.public_url,
                                         "--max-upload-size", str(self.max_upload_size)],
                             env=env, log_path=self.root / f"machine{index}.log")

    def start(self) -> ScaleStack:
        try:
            for machine in self.machines:
                machine.start(timeout=40)
            if self.nginx is not None:
                self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, index: int) -> ServerProcess:
        """A fresh process on a killed machine's port and data dir (as its supervisor would)."""
        old = self.machines[index]
        old.stop()
        self.machines[index] = self._machine(index, old.port).start(timeout=40)
        return self.machines[index]

    def logs(self) -> str:
        return "".join(m.log_path.read_text(errors="replace") for m in self.machines if m.log_path.exists())

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for machine in self.machines:
            if machine.proc is not None:
                machine.stop()
