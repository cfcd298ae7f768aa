"""Checkpoint files written from page-aligned images with O_DIRECT (training/file_image.py): the
same bytes as the ordinary encoding, an exact file size, the ordinary write where O_DIRECT is
refused. (test_resume.py checks that checkpoint files are byte for byte what `encode` gives.)"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from stackspec.training import file_image
from stackspec.training.file_image import ALIGN, FileImage


def pieces(n: int) -> list:
    """A header-like bytes piece, an array and a memoryview: what encoded() gives."""
    return [b"\x05head!", np.arange(n, dtype=np.float32), memoryview(b"tail")]


def joined(parts) -> bytes:
    return b"".join(bytes(memoryview(p).cast("B")) for p in parts)


@pytest.mark.parametrize("n", [0, 1, ALIGN // 4 - 3, ALIGN // 4 * 5, 300_001])
def test_an_image_writes_exactly_its_bytes(tmp_path, n):
    FileImage.of(pieces(n)).write(tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == joined(pieces(n))


def test_an_image_is_reused_and_overwrites(tmp_path):
    """A smaller fill after a larger one (the buffer kept), then a larger (a new buffer), each
    written over the file before."""
    image = FileImage()
    for n in (50_000, 7, 90_000):
        image.fill(pieces(n))
        image.write(tmp_path / "f")
        assert (tmp_path / "f").read_bytes() == joined(pieces(n))


@pytest.mark.skipif(not file_image.DIRECT, reason="no O_DIRECT on this platform")
@pytest.mark.parametrize("where", ["open", "write"])
def test_refused_o_direct_falls_back_to_an_ordinary_write(tmp_path, monkeypatch, where):
    """tmpfs (older kernels) and some overlay or network file systems refuse O_DIRECT with
    EINVAL, at open or at the first write."""
    direct_fds, opened, real_open, real_write = set(), [], os.open, os.write

    def fake_open(path, flags, *args):
        opened.append(bool(flags & file_image.DIRECT))
        if flags & file_image.DIRECT and where == "open":
            raise OSError(errno.EINVAL, "Invalid argument")
        fd = real_open(path, flags, *args)
        if flags & file_image.DIRECT:
            direct_fds.add(fd)
        return fd

    def fake_write(fd, data):
        if fd in direct_fds:
            direct_fds.discard(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(file_image.os, "open", fake_open)
    monkeypatch.setattr(file_image.os, "write", fake_write)
    FileImage.of(pieces(5000)).write(tmp_path / "f")
    assert opened == [True, False]
    assert (tmp_path / "f").read_bytes() == joined(pieces(5000))


def test_other_write_errors_are_raised(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_image.os, "write", full)
    with pytest.raises(OSError, match="No space"):
        FileImage.of(pieces(10)).write(tmp_path / "f")
