"""The A/B report: how the challenger did against the champion on live traffic.

    python -m jobs.ab_report --config configs/ab_report.yaml [--promote] [--serve-url URL]

1. reads the impressions the service logged (serve.ab) for the two versions the
   aliases name now, and the event log;
2. attributes each click and conversion to the answer it acted on (rec/ab/attribution.py);
3. computes per variant: impressions, click-through, conversion and the hit rate of
   the user's next event in the top 10, with 95% confidence intervals over users
   (rec/ab/report.py);
4. logs them to MLflow, as a run and as tags on both model versions;
5. with --promote (or ab_report.promote), moves the champion alias to the challenger
   when it wins by ab_report.margin with significance, and says why in `why`; with
   --serve-url the service then goes live on it (POST /admin/reload).
Works the same under `ray job submit`. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace

import mlflow

from jobs.cli import setup_logging
from jobs.nightly import reload_service
from rec.ab.attribution import attribute
from rec.ab.report import METRICS, decide, variant_figures
from rec.ab.variants import CHALLENGER, CHAMPION
from rec.config import RecConfig, load_config
from rec.registry import interest_models as models
from rec.registry.encoders import connect, job_run
from rec.storage.event_log import read_all_logs
from rec.storage.impressions import read_impressions

log = logging.getLogger(__name__)


def ab_report(config: RecConfig, promote: bool | None = None, serve_url: str | None = None) -> dict:
    """The report as a dict (what the job prints); promotes when asked and the challenger wins."""
    settings, name = config.ab_report, config.train.registered_name
    versions = {CHAMPION: models.alias_version(name, config.train.champion_alias, config.paths),
                CHALLENGER: models.alias_version(name, config.train.challenger_alias, config.paths)}
    tags = {variant: f"{name}/{v}" if v else None for variant, v in versions.items()}
    impressions = [i for i in read_impressions(config.paths.impressions_dir)
                   if i.route == "user" and tags.get(i.variant) == i.model_version and i.model_version]
    events = read_all_logs(config.paths.event_log_dir)
    outcomes = attribute(impressions, events, settings.attribution_window_s, settings.click_types,
                         settings.conversion_types)
    figures = variant_figures(outcomes)
    decision = decide(figures, settings.metric, settings.margin, settings.alpha, settings.min_impressions)
    if versions[CHAMPION] is not None and versions[CHAMPION] == versions[CHALLENGER]:
        decision = replace(decision, promote=False,
                           why=f"champion and challenger are the same version v{versions[CHAMPION]}")
    do_promote = settings.promote if promote is None else promote
    promoted = do_promote and decision.promote
    report = {
        "job": "ab_report", "champion": tags[CHAMPION], "challenger": tags[CHALLENGER],
        "metric": settings.metric, "variants": {v: f.summary() for v, f in figures.items()},
        "decision": {"challenger_wins": decision.promote, "promoted": promoted, "why": decision.why,
                     "lift": _finite(decision.lift), "p_value": _finite(decision.p_value, digits=3)},
    }
    with job_run("ab_report", settings.experiment, config.paths) as run:
        _log(report, figures, settings.model_dump())
        report["mlflow_run_id"] = run.info.run_id
    _tag_versions(config, versions, figures, report["mlflow_run_id"])
    if promoted:
        models.promote(name, versions[CHALLENGER], config.paths, config.train.champion_alias)
        log.info("promoted %s to %s: %s", tags[CHALLENGER], config.train.champion_alias, decision.why)
        if serve_url:
            report["reloaded"] = reload_service(serve_url, config.serve.api_key)["changed"]
    return report


def _log(report: dict, figures: dict, settings: dict) -> None:
    mlflow.log_params({f"ab_{key}": value for key, value in settings.items()})
    mlflow.set_tags({"champion_version": report["champion"], "challenger_version": report["challenger"],
                     "challenger_wins": str(report["decision"]["challenger_wins"]),
                     "promoted": str(report["decision"]["promoted"]), "why": report["decision"]["why"][:5000]})
    for variant, its in figures.items():
        mlflow.log_metric(f"{variant}_impressions", its.impressions)
        for metric in METRICS:
            rate = getattr(its, metric)
            if rate.trials:
                low, high = rate.interval
                mlflow.log_metrics({f"{variant}_{metric}": rate.value, f"{variant}_{metric}_ci_low": low,
                                    f"{variant}_{metric}_ci_high": high})
    mlflow.log_dict(report, "ab_report.json")


def _tag_versions(config: RecConfig, versions: dict, figures: dict, run_id: str) -> None:
    """Each version carries its own live figures and the run they came from."""
    client = connect(config.paths)
    for variant, version in versions.items():
        its = figures.get(variant)
        if version is None or its is None:
            continue
        name = config.train.registered_name
        client.set_model_version_tag(name, version, "ab_report_run", run_id)
        client.set_model_version_tag(name, version, "ab_impressions", str(its.impressions))
        for metric in METRICS:
            rate = getattr(its, metric)
            if rate.trials:
                client.set_model_version_tag(name, version, f"ab_{metric}", f"{rate.value:.6f}")


def _finite(value: float, digits: int | None = None) -> float | None:
    """NaN (nothing compared) as null; a p-value to `digits` significant digits, the rest to 6 places."""
    if value != value:
        return None
    return float(f"{value:.{digits}g}") if digits else round(value, 6)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/ab_report.yaml")
    parser.add_argument("--promote", action="store_true", default=None,
                        help="move the champion alias to the challenger if it wins (default ab_report.promote)")
    parser.add_argument("--serve-url", help="after a promotion, reload this running service")
    args = parser.parse_args(argv)
    setup_logging()
    print(json.dumps(ab_report(load_config(args.config), args.promote, args.serve_url)))


if __name__ == "__main__":
    main()
