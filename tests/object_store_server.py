"""An S3-compatible server on 127.0.0.1 for tests (moto's server, in a process of its own),
and the environment every S3 client here reads: LanceDB, pyarrow and MLflow's boto3.

The environment is set in this process before Ray starts, so that Ray's workers, which
take the raylet's environment, reach the same server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from local_ports import free_port


@dataclass
class ObjectStore:
    endpoint: str
    process: subprocess.Popen

    def new_bucket(self) -> str:
        """A bucket no test has used; its name."""
        import boto3

        name = f"test-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        import boto3

        pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_object_store() -> ObjectStore:
    """Start the server on a free port and point this process's S3 clients at it."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's S3 server did not start on 127.0.0.1:{port}") from None
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",  # LanceDB, pyarrow and boto3 all read these
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
    })
    return ObjectStore(endpoint, process)
