"""The live path under load: each endpoint against the same app's trivial route, in one run.

    PYTHONPATH=. .venv/bin/python scripts/bench_live.py [--url http://127.0.0.1:8000] [--duration 10] [--rounds 3]

Needs a running app (`make demo` in another terminal) and wrk (`make bench-live`
installs it with apt). First posts the first 20 MovieLens events of 200 users, so
recommendations are for real histories. Then, for each endpoint and each
concurrency (1 and 16 connections, one wrk thread), a bounded wrk run of
`--duration` seconds on 127.0.0.1: requests per second, p50 and p99; all of them
`--rounds` times over, since one noisy minute on a small machine moves a run by a
third. Users, items and texts are drawn at random per request (a Lua script). Then the freshness
check: 16 clients each post an event and at once ask for their user's list,
`--trials` times in all; a stale read is an answer whose n_events does not count
the event just acknowledged. Prints a Markdown table of the medians, each round's
ratios to GET /healthz measured in the same round with their medians, and, last, one line:
`live: rec p99 ratio c1 X c16 Y, rec throughput ratio c16 Z, events throughput ratio c16 W`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import uuid
from statistics import median
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rec.config import load_config

CONCURRENCY = (1, 16)
HEALTHZ, REC, EVENTS = "GET /healthz", "GET /users/{id}/recommendations", "POST /events"
# Each against the trivial route in the same round: the targets are p99 <= 2x, throughput >= 0.5x and 0.6x.
RATIOS = {
    "rec p99 c1": lambda r: r[(REC, 1)]["p99"] / r[(HEALTHZ, 1)]["p99"],
    "rec p99 c16": lambda r: r[(REC, 16)]["p99"] / r[(HEALTHZ, 16)]["p99"],
    "rec throughput c16": lambda r: r[(REC, 16)]["rps"] / r[(HEALTHZ, 16)]["rps"],
    "events throughput c16": lambda r: r[(EVENTS, 16)]["rps"] / r[(HEALTHZ, 16)]["rps"],
}
TEXTS = ["space adventures with robots", "romantic comedies in paris", "horror films with monsters",
         "westerns and cartoons", "war films about pilots"]


def history(config_path: str, users: int, per_user: int) -> tuple[list[dict], list[str]]:
    """The first `per_user` events of `users` MovieLens users, as POST /events bodies, and all item ids."""
    config = load_config(config_path)
    events = pq.read_table(f"{config.paths.data_dir}/movielens/events.parquet")
    chosen = sorted(set(events["user_id"].to_pylist()))[:users]
    picked = events.filter(pc.is_in(events["user_id"], pa.array(chosen))).sort_by([("timestamp", "ascending")])
    taken: dict[str, int] = {}
    bodies = []
    for row in picked.to_pylist():
        if taken.setdefault(row["user_id"], 0) < per_user:
            taken[row["user_id"]] += 1
            bodies.append({"user_id": f"live-{row['user_id']}", "item_id": row["item_id"], "type": "like",
                           "event_id": f"live-{row['user_id']}-{row['line']}"})
    items = sorted(set(pq.read_table(config.catalog.path, columns=["item_id"])["item_id"].to_pylist()))
    return bodies, items


def lua(users: list[str], items: list[str]) -> dict[str, str]:
    """A wrk script per endpoint: each request draws its user, item or text."""
    tables = (f"users = {{{','.join(json.dumps(u) for u in users)}}}\n"
              f"items = {{{','.join(json.dumps(i) for i in items)}}}\n"
              f"texts = {{{','.join(json.dumps(t) for t in TEXTS)}}}\n"
              "function pick(t) return t[math.random(#t)] end\n")
    json_header = 'wrk.headers["Content-Type"] = "application/json"\n'
    return {
        HEALTHZ: 'request = function() return wrk.format("GET", "/healthz") end\n',
        REC: tables + 'request = function() return wrk.format("GET", '
                                           '"/users/" .. pick(users) .. "/recommendations") end\n',
        EVENTS: tables + json_header + 'request = function() return wrk.format("POST", "/events", nil, '
                        '\'{"user_id":"\' .. pick(users) .. \'","item_id":"\' .. pick(items) .. \'","type":"view"}\') end\n',
        "GET /items/{id}/similar": tables + 'request = function() return wrk.format("GET", "/items/" .. pick(items) '
                                   '.. "/similar") end\n',
        "POST /recommendations/text": tables + json_header + 'request = function() return wrk.format("POST", '
                                      '"/recommendations/text", nil, \'{"text":"\' .. pick(texts) .. \'"}\') end\n',
    }


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    """One bounded wrk run: requests/s, p50 and p99 in ms (and non-2xx answers)."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         check=True, capture_output=True, text=True).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(q: str) -> float:
        value, scale = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * unit[scale]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": latency("50"), "p99": latency("99"), "errors": int(errors.group(1)) if errors else 0}


async def freshness(url: str, users: list[str], items: list[str], trials: int, clients: int) -> int:
    """Event, then recommend, on `clients` connections at once: how many answers missed the event."""
    stale = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        async def client(n: int) -> None:
            nonlocal stale
            user = f"fresh-{uuid.uuid4().hex[:8]}-{n}"
            for t in range(trials // clients):
                item = items[(n * 7919 + t * 104729) % len(items)]
                posted = await http.post("/events", json={"user_id": user, "item_id": item, "type": "click"})
                posted.raise_for_status()
                answer = (await http.get(f"/users/{user}/recommendations")).raise_for_status().json()
                stale += answer["n_events"] != t + 1 or item in [i["item_id"] for i in answer["items"]]

        await asyncio.gather(*(client(n) for n in range(clients)))
    return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running app")
    parser.add_argument("--config", default="configs/base.yaml", help="for the MovieLens files")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (bounded)")
    parser.add_argument("--trials", type=int, default=1008, help="event-then-recommend trials at c16")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every run; medians are printed")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: make bench-live installs it (apt-get install wrk)")
    bodies, items = history(args.config, users=200, per_user=20)
    with httpx.Client(base_url=args.url, timeout=60) as http:
        for start in range(0, len(bodies), 500):
            http.post("/events", json=bodies[start:start + 500]).raise_for_status()
    users = sorted({b["user_id"] for b in bodies})
    rounds: list[dict[tuple[str, int], dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        scripts = {endpoint: Path(folder) / f"{n}.lua" for n, endpoint in enumerate(lua(users, items))}
        for endpoint, script in lua(users, items).items():
            scripts[endpoint].write_text(script)
        for _ in range(args.rounds):  # each round runs every point once, so a noisy minute hits them all
            rounds.append({(e, c): wrk(args.url, path, c, args.duration) for e, path in scripts.items()
                           for c in CONCURRENCY})
    stale = asyncio.run(freshness(args.url, users, items, args.trials, clients=16))
    results = {point: {key: median(r[point][key] for r in rounds) for key in rounds[0][point]} for point in rounds[0]}
    print(f"Medians of {args.rounds} rounds of {args.duration} s a point:\n")
    print("| endpoint | c1 req/s | c1 p50 ms | c1 p99 ms | c16 req/s | c16 p50 ms | c16 p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|---|---|")
    for endpoint in scripts:
        one, many = results[(endpoint, 1)], results[(endpoint, 16)]
        print(f"| `{endpoint}` | {one['rps']:.0f} | {one['p50']:.1f} | {one['p99']:.1f} | {many['rps']:.0f} | "
              f"{many['p50']:.1f} | {many['p99']:.1f} | {one['errors'] + many['errors']:.0f} |")
    # Each ratio is within one round (the same minutes), and its median over the rounds is printed.
    ratios = {name: [ratio(r) for r in rounds] for name, ratio in RATIOS.items()}
    for name, values in ratios.items():
        print(f"{name}: {', '.join(f'{v:.2f}' for v in values)} (median {median(values):.2f})")
    print(f"\nfreshness: {stale} stale reads in {args.trials // 16 * 16} event-then-recommend trials at c16")
    m = {name: median(values) for name, values in ratios.items()}
    print(f"live: rec p99 ratio c1 {m['rec p99 c1']:.2f} c16 {m['rec p99 c16']:.2f}, "
          f"rec throughput ratio c16 {m['rec throughput c16']:.2f}, "
          f"events throughput ratio c16 {m['events throughput c16']:.2f}")


if __name__ == "__main__":
    main()
