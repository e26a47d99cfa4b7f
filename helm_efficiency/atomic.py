"""Atomic file writes: write to a temp file in the same folder, fsync, then rename over the target."""

import os
import tempfile
from typing import Union


def write_text_atomic(path: str, text: Union[str, bytes]) -> None:
    """Replace `path` by `text` (str, written as UTF-8, or bytes) atomically."""
    write_bytes_atomic(path, text.encode("utf-8") if isinstance(text, str) else text)


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Replace `path` by `data` atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
