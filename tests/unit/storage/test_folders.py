"""Tests for rec.storage.folders: whole files, on a local disk and on object storage."""

from __future__ import annotations

import pytest

from rec.storage.folders import open_folder


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.objectstore)])
def location(request, tmp_path):
    if request.param == "local":
        return tmp_path / "folder"
    store = request.getfixturevalue("object_store")
    return f"s3://{store.new_bucket()}/snapshots"


def test_files_are_put_listed_read_and_deleted(location):
    folder = open_folder(location)
    assert folder.names("a-", ".bin") == []  # nothing there yet, not even the folder

    def write(handle) -> None:
        handle.write(b"\0" * 4 + b"body")
        handle.seek(0)  # a writer may go back to fill in a header
        handle.write(b"HEAD")

    folder.put("a-2.bin", write)
    folder.put("a-1.bin", lambda handle: handle.write(b"one"))
    folder.put("b-1.bin", lambda handle: handle.write(b"other"))
    assert folder.names("a-", ".bin") == ["a-1.bin", "a-2.bin"]
    assert folder.read("a-2.bin") == b"HEADbody"
    folder.put("a-1.bin", lambda handle: handle.write(b"again"))  # replaced whole
    assert folder.read("a-1.bin") == b"again"
    folder.delete("a-1.bin")
    assert folder.names("a-", ".bin") == ["a-2.bin"] and open_folder(location).names("b-", "") == ["b-1.bin"]


def test_a_failed_write_leaves_no_file_and_the_old_one_whole(location):
    folder = open_folder(location)
    folder.put("x.bin", lambda handle: handle.write(b"old"))

    def fail(handle) -> None:
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        folder.put("x.bin", fail)
    with pytest.raises(OSError):
        folder.put("y.bin", fail)
    assert folder.read("x.bin") == b"old" and folder.names("y", ".bin") == []
