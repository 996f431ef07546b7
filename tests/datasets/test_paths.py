"""asmnet_studio.datasets.paths: the one rule for names inside a folder (readers, writers, the store)."""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from asmnet_studio.datasets.errors import UnsafePathError
from asmnet_studio.datasets.paths import relative_name, safe_join


@pytest.mark.parametrize("name, expected", [
    ("a.jpg", "a.jpg"), ("sub/a.jpg", "sub/a.jpg"),
    ("sub\\win\\a.jpg", "sub\\win\\a.jpg"),  # a backslash is part of a name (issue 17, item 6; test_backslash_names)
    ("./a.jpg", "a.jpg"), ("odd name: (1).png", "odd name: (1).png"), ("ünï/çødé.png", "ünï/çødé.png"),
])
def test_safe_names_become_posix_paths(name, expected):
    assert relative_name(name) == PurePosixPath(expected)


@pytest.mark.parametrize("name", ["", ".", "/etc/passwd", "../up.jpg", "a/../../up.jpg", "a\\..\\..\\up.jpg",
                                  "C:\\x.jpg", "C:x.jpg", "\\\\server\\share\\x.jpg"])
def test_unsafe_names_are_refused_naming_them(name):
    with pytest.raises(UnsafePathError, match="must be relative") as err:
        relative_name(name, "exported image name", "/out")
    assert repr(name) in str(err.value) and str(err.value).startswith("/out: exported image name")


def test_safe_join_stays_inside_and_refuses_symlinks_out(tmp_path):
    inside = tmp_path / "root"
    (inside / "sub").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert safe_join(inside, "sub/a.png") == Path(os.path.abspath(inside / "sub" / "a.png"))
    (inside / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside the folder"):
        safe_join(inside, "link/a.png", "image path")
    (inside / "ok").symlink_to(inside / "sub", target_is_directory=True)  # a link that stays inside is fine
    assert safe_join(inside, "ok/a.png").name == "a.png"
    with pytest.raises(UnsafePathError, match="image path '../x.png'"):
        safe_join(inside, "../x.png", "image path")
