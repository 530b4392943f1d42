import json
import os

import pytest

from tinybert.utils.io import atomic_dir, atomic_open, atomic_write_json


def test_atomic_open_keeps_old_file_on_error(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(p) as f:
        f.write("half")
        raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary left behind


def test_atomic_write_json_roundtrip(tmp_path):
    atomic_write_json(tmp_path / "a" / "m.json", {"x": 1, "中": "文"})
    assert json.loads((tmp_path / "a" / "m.json").read_text()) == {"x": 1, "中": "文"}


def test_atomic_dir_replaces_only_on_success(tmp_path):
    d = tmp_path / "model"
    with atomic_dir(d) as tmp:
        open(os.path.join(tmp, "w"), "w").write("v1")
    assert (d / "w").read_text() == "v1"
    with pytest.raises(ValueError), atomic_dir(d) as tmp:
        open(os.path.join(tmp, "w"), "w").write("v2")
        raise ValueError
    assert (d / "w").read_text() == "v1"
    with atomic_dir(d) as tmp:
        open(os.path.join(tmp, "w"), "w").write("v3")
    assert (d / "w").read_text() == "v3"
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_atomic_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "m.json", {})
        with atomic_dir(tmp_path / "d") as tmp:
            open(os.path.join(tmp, "w"), "w").write("x")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "m.json").st_mode & 0o777) == 0o644
    assert (os.stat(tmp_path / "d").st_mode & 0o777) == 0o755
