"""The project is installable: its wheel ships every package and the two top-level modules."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.helpers import ROOT


def test_wheel_ships_the_packages_and_modules(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("tornado_paste-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("run.py", "settings.py", "handlers/base.py", "tornado_paste/services.py",
                     "tornado_paste/storage/sqlite/store.py", "tornado_paste/storage/mongo/store.py",
                     "tornado_paste/images/render.py", "tornado_paste/tus/service.py"):
        assert expected in names, expected
    assert not any(n.startswith("tests/") for n in names)
