"""A file's bytes in one page-aligned buffer, written with O_DIRECT: straight from the buffer to
the disk, without the kernel first copying them into its page cache.

Why: checkpoints (checkpoints.py) write the same large files every epoch while training goes
on. Written the ordinary way, the kernel's copy of 25 MB into the page cache (and freeing those
pages again when old checkpoints are pruned) was most of the writer thread's CPU, taken from the
training's BLAS threads; filling this buffer and writing it directly costs about half
(benchmarks/README.md, "Checkpoint overhead"). A checkpoint callback keeps its images from one
checkpoint to the next, so the buffers are allocated (and their pages faulted in) once.

O_DIRECT wants the buffer's address, the file offset and the length aligned to the device's
block size: the buffer is an anonymous mmap (page-aligned), written whole from offset 0 in
multiples of ALIGN bytes, and ftruncate then cuts the file to its exact size, so the file holds
exactly the bytes of the pieces. Where the file system refuses O_DIRECT (EINVAL: tmpfs on older
kernels, some overlay and network file systems) or the platform has none, the same bytes are
written the ordinary way. Either way the file is fsynced before write() returns.
"""

from __future__ import annotations

import errno
import mmap
import os

import numpy as np

ALIGN = 4096  # a page: a multiple of every common logical block size
DIRECT = getattr(os, "O_DIRECT", 0)  # Linux, FreeBSD; 0 elsewhere (the ordinary write)


class FileImage:
    """A file's bytes (`fill`), written as a new fsynced file (`write`). The buffer is reused by
    later fills, which must therefore wait until the write that reads it has returned."""

    def __init__(self) -> None:
        self._buffer: mmap.mmap | None = None
        self._bytes: np.ndarray | None = None  # the buffer as uint8, for copying into it
        self.size = 0

    @classmethod
    def of(cls, pieces) -> FileImage:
        image = cls()
        image.fill(pieces)
        return image

    def fill(self, pieces) -> None:
        """Copy `pieces` (bytes, memoryviews, contiguous arrays), one after another."""
        views = [np.frombuffer(piece, np.uint8) for piece in pieces]
        self.size = sum(v.size for v in views)
        capacity = _aligned(max(self.size, 1))
        if self._buffer is None or len(self._buffer) < capacity:
            self._bytes = None  # the old buffer is unmapped once nothing refers to it
            self._buffer = mmap.mmap(-1, capacity)
            self._bytes = np.frombuffer(self._buffer, np.uint8)
        offset = 0
        for view in views:
            self._bytes[offset : offset + view.size] = view
            offset += view.size

    def write(self, path) -> None:
        """Write the bytes as the file `path` (created or truncated) and fsync it."""
        if DIRECT:
            try:
                self._write(path, DIRECT, _aligned(self.size))
                return
            except OSError as e:
                if e.errno != errno.EINVAL:  # refused alignment or O_DIRECT itself
                    raise
        self._write(path, 0, self.size)

    def _write(self, path, flags: int, length: int) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | flags, 0o666)
        try:
            view = memoryview(self._buffer)[:length]
            while view:
                view = view[os.write(fd, view) :]
            if length != self.size:  # the padding to the block size goes again
                os.ftruncate(fd, self.size)
            os.fsync(fd)
        finally:
            os.close(fd)


def _aligned(size: int) -> int:
    return -(-size // ALIGN) * ALIGN
