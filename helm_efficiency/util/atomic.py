"""Atomic file writes: write to a temp file in the same folder, fsync, then rename over the target."""

import os
import tempfile
from typing import BinaryIO, Callable, Union


def write_text_atomic(path: str, text: Union[str, bytes]) -> None:
    """Replace `path` by `text` (str, written as UTF-8, or bytes) atomically."""
    write_bytes_atomic(path, text.encode("utf-8") if isinstance(text, str) else text)


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Replace `path` by `data` atomically."""
    write_stream_atomic(path, lambda f: f.write(data))


def write_stream_atomic(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Replace `path` atomically by what `write(f)` writes to the binary file `f`, piece by
    piece (a large file never held in memory whole). If `write` raises, `path` is untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
