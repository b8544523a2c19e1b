"""The `rec` console script: every command is listed and reaches its job's own entry point, and
`rec user show` prints a user of the running app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jobs.rec_cli import JOBS

REC = Path(sys.executable).parent / "rec"
pytestmark = pytest.mark.skipif(not REC.exists(), reason="the console script is installed by `make install`")


def _rec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REC), *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command() -> None:
    out = _rec("--help")
    assert out.returncode == 0
    for command in [*JOBS, "serve", "user", "promote"]:
        # a long name ("ab-report") has its help on the next line
        assert re.search(rf"^    {re.escape(command)}(\s|$)", out.stdout, re.M), command


@pytest.mark.parametrize("command", ["embed", "nightly"])
def test_a_job_command_shows_the_jobs_own_help(command: str) -> None:
    out = _rec(command, "--help")
    assert out.returncode == 0, out.stderr
    assert "--config" in out.stdout and f"python -m {JOBS[command][0]}" in out.stdout


def test_an_unknown_command_is_refused() -> None:
    out = _rec("frobnicate")
    assert out.returncode == 2 and "invalid choice" in out.stderr


@pytest.mark.ray
def test_user_show_prints_history_and_recommendations(client: httpx.Client, base_url: str) -> None:
    user = "cli-viewer"
    client.post("/events", json=[{"user_id": user, "item_id": i, "type": "like"} for i in ["1", "50"]]).raise_for_status()
    out = _rec("user", "show", user, "--url", base_url, "-k", "5")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"user {user}: 2 events"
    assert lines[1] == "recent: Star Wars; Toy Story"
    recs = client.get(f"/users/{user}/recommendations", params={"k": 5}).json()["items"]
    assert lines[2].startswith("recommendations (strategy interest") and len(lines) == 8
    assert all(f"  {item['title']} (" in line for item, line in zip(recs, lines[3:])), out.stdout
