"""A folder of whole files, on a local disk or on object storage (`s3://bucket/prefix`, and
the other URIs of pyarrow's filesystems): where user shards keep their snapshots.

A file is there whole or not at all. Locally it is written beside its name (`<name>.partial`,
which a crash can leave behind), fsynced and renamed over it. On object storage it is written to a local temporary file first (its
writer seeks back to fill in a header), then uploaded, and an object appears only when
its upload completes. Credentials and the endpoint come from the environment, as for
LanceDB (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from rec.storage.jsonl import fsync_dir

Write = Callable[[BinaryIO], None]  # writes a file's bytes to a seekable handle
_UPLOAD_CHUNK = 8 << 20


class Folder(Protocol):
    def names(self, prefix: str, suffix: str) -> list[str]:
        """The names of the files that start with `prefix` and end with `suffix`, sorted."""

    def read(self, name: str) -> bytes: ...

    def put(self, name: str, write: Write) -> None:
        """Make the file `name` hold what `write` writes, whole (replacing any file of that name)."""

    def delete(self, name: str) -> None: ...


def is_object_store(location: str | Path) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def open_folder(location: str | Path) -> Folder:
    return ObjectStoreFolder(str(location)) if is_object_store(location) else LocalFolder(location)


class LocalFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def names(self, prefix: str, suffix: str) -> list[str]:
        return sorted(p.name for p in self.path.glob(f"{prefix}*{suffix}"))

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def put(self, name: str, write: Write) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        partial = self.path / f"{name}.partial"
        with open(partial, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.path / name)
        fsync_dir(self.path)

    def delete(self, name: str) -> None:
        (self.path / name).unlink(missing_ok=True)


class ObjectStoreFolder:
    def __init__(self, uri: str) -> None:
        from pyarrow import fs

        self._fs, self._base = fs.FileSystem.from_uri(uri.rstrip("/"))
        self._selector = fs.FileSelector(self._base, allow_not_found=True)

    def names(self, prefix: str, suffix: str) -> list[str]:
        found = (info.base_name for info in self._fs.get_file_info(self._selector))
        return sorted(name for name in found if name.startswith(prefix) and name.endswith(suffix))

    def read(self, name: str) -> bytes:
        with self._fs.open_input_file(f"{self._base}/{name}") as handle:
            return handle.readall()

    def put(self, name: str, write: Write) -> None:
        with tempfile.TemporaryFile() as local:
            write(local)
            local.seek(0)
            with self._fs.open_output_stream(f"{self._base}/{name}") as upload:
                shutil.copyfileobj(local, upload, _UPLOAD_CHUNK)

    def delete(self, name: str) -> None:
        self._fs.delete_file(f"{self._base}/{name}")
