"""`rec`: one command for the project's jobs and the service.

    rec data | embed | train | evaluate | nightly | ab-report | demo   (the jobs; --config to change it)
    rec cluster-demo                                         (the production layout on this machine)
    rec serve | replay | bench                               (the service, and checks against it)
    rec user show <user_id> [--url http://127.0.0.1:8000]   (a user's state and recommendations)
    rec promote <model> <version> [--alias champion]         (move an alias: a promotion or a rollback)

Each job command runs the same entry point as `python -m jobs.NAME --config configs/NAME.yaml`,
with any further arguments passed on: `rec nightly --serve-url http://127.0.0.1:8000`.
`rec COMMAND --help` shows the job's own options.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shutil
import sys
from pathlib import Path

import httpx

# command: (module or script, its default config, what it does)
JOBS = {
    "data": ("jobs.prepare_movielens", "configs/base.yaml", "fetch MovieLens-100k into var/data"),
    "embed": ("jobs.embed_catalog", "configs/embed_catalog.yaml", "embed the catalogue into LanceDB"),
    "train": ("jobs.train_interest", "configs/train_interest.yaml", "train, register and gate the interest model"),
    "evaluate": ("jobs.evaluate", "configs/evaluate.yaml", "the offline evaluation: tables and charts"),
    "nightly": ("jobs.nightly", "configs/nightly.yaml", "embed, train, evaluate, gate, promote, reload"),
    "ab-report": ("jobs.ab_report", "configs/ab_report.yaml", "the live A/B test's figures; --promote a winner"),
    "demo": ("jobs.demo", "configs/base.yaml", "serve on 127.0.0.1:8000 with MovieLens users replayed"),
    "cluster-demo": ("jobs.cluster_demo", None, "the demo on S3, JetStream, MLflow on PostgreSQL and three Ray nodes"),
    "replay": ("jobs.replay", "configs/base.yaml", "replay the test split through the live API"),
    "bench": ("scripts/bench_serve.py", None, "the serving benchmark"),
}
ROOT = Path(__file__).resolve().parents[1]


def run_job(command: str, rest: list[str]) -> None:
    """The job's own entry point, as `python -m` runs it, with its default config unless given."""
    target, config, _ = JOBS[command]
    wants_config = config is not None and "--config" not in rest and not {"-h", "--help"} & set(rest)
    sys.argv = [target, *(["--config", config] if wants_config else []), *rest]
    if target.endswith(".py"):  # a script of the repository: it imports scripts.* from the root
        sys.path.insert(0, str(ROOT))
        runpy.run_path(str(ROOT / target), run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)


def serve(rest: list[str]) -> None:
    """`serve run configs/serve.yaml`: the app in the foreground (Serve's own CLI)."""
    binary = shutil.which("serve", path=str(Path(sys.executable).parent)) or "serve"
    os.execv(binary, [binary, "run", *(rest or ["configs/serve.yaml"])])


def show_user(user_id: str, url: str, k: int) -> None:
    """A user's state and recommendations, from the running service's public API."""
    with httpx.Client(base_url=url, timeout=30) as http:
        state = http.get(f"/users/{user_id}").raise_for_status().json()
        recs = http.get(f"/users/{user_id}/recommendations", params={"k": k, "explain": True}).raise_for_status().json()
    print(f"user {user_id}: {state['n_events']} events"
          + (f', stated interest "{state["stated_interest"]}"' if state["stated_interest"] else ""))
    for heading, items in [("recent", state["recent"][:10]), ("disliked", state["disliked"][:10])]:
        if items:
            print(f"{heading}: " + "; ".join(i["title"] or i["item_id"] for i in items))
    model = f", {recs['model_version']}" if recs.get("model_version") else ""
    print(f"recommendations (strategy {recs['strategy']}{model}):")
    for n, item in enumerate(recs["items"], 1):
        because = " and ".join(b["title"] or f'"{b["stated_interest"]}"' for b in item.get("because") or [])
        print(f"  {n:2}. {item['score']:7.3f}  {item['title']} ({item.get('year') or '?'})"
              f"  [{', '.join(item['categories'])}]" + (f"  because you liked {because}" if because else ""))


def promote(model: str, version: str, alias: str, config_path: str) -> None:
    """Point `model@alias` at `version` in the configured registry: the service goes live on it
    at its next reload (POST /admin/reload)."""
    from rec.config import load_config
    from rec.registry.interest_models import promote as set_alias

    set_alias(model, version, load_config(config_path).paths, alias)
    print(f"{model}@{alias} -> version {version}; POST /admin/reload to serve it")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="rec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = cli.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (target, config, what) in JOBS.items():
        runs = f"python -m {target}" if not target.endswith(".py") else f"python {target}"
        commands.add_parser(name, help=what, add_help=False,
                            description=f"{what}: {runs}" + (f" --config {config}" if config else ""))
    commands.add_parser("serve", help="serve run configs/serve.yaml (the app in the foreground)", add_help=False)
    user = commands.add_parser("user", help="a user of the running service").add_subparsers(dest="action", required=True)
    show = user.add_parser("show", help="print a user's history, stated interest and recommendations")
    show.add_argument("user_id")
    show.add_argument("--url", default="http://127.0.0.1:8000", help="the running service")
    show.add_argument("-k", type=int, default=10, help="how many recommendations")
    moved = commands.add_parser("promote", help="point a model's alias at a version (a promotion or a rollback)")
    moved.add_argument("model", help="the registered model, e.g. interest-model")
    moved.add_argument("version", help="its version, e.g. 1")
    moved.add_argument("--alias", default="champion", help="the alias to move")
    moved.add_argument("--config", default="configs/base.yaml", help="the config naming the MLflow store")
    return cli


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    cli = parser()
    if argv and argv[0] in JOBS:  # the job parses its own arguments (and its own --help)
        return run_job(argv[0], argv[1:])
    if argv and argv[0] == "serve":
        return serve(argv[1:])
    args = cli.parse_args(argv)
    if args.command == "promote":
        return promote(args.model, args.version, args.alias, args.config)
    show_user(args.user_id, args.url, args.k)


if __name__ == "__main__":
    main()
