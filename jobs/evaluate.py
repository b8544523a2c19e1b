"""Offline evaluation of every baseline (and the champion model) on one split.

    python -m jobs.evaluate --config configs/evaluate.yaml

Protocol: shared/anchors/quality.md (leave-one-out by (timestamp, line), full
ranking, earlier items excluded) plus the cold-item protocol (a seeded share
of items lose their training events). Item text vectors come from the items
table version the champion encoder names. One MLflow run with a nested run
per model; a Markdown table and PNG charts (the models; the diversity curve)
in evaluate.report_dir. Ends with one JSON line.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402

from rec.registry import encoders as registry  # noqa: E402
from jobs.cli import run_config_job  # noqa: E402
from rec.config import InterestConfig, RecConfig  # noqa: E402
from rec.evaluation.harness import (  # noqa: E402
    EvalData, ModelFactory, baseline_factories, calibration_table, evaluate_model, interest_model_scores,
    interest_rule_scores, load_eval_data, make_cold_split, markdown_table, service_pipeline, train_counts,
)
from rec.evaluation.diversity import DiversityRow, diversity_curve, diversity_table  # noqa: E402
from rec.registry.interest_models import read_item_ids, resolve_interest_model  # noqa: E402
from rec.evaluation.metrics import ScoreFn  # noqa: E402
from rec.evaluation.new_users import K_VALUES, new_user_split, new_user_table, rank_prefixes, summarise  # noqa: E402
from rec.evaluation.new_users import methods as new_user_methods  # noqa: E402
from rec.evaluation.faithfulness import explanation_faithfulness  # noqa: E402
from rec.evaluation.scenarios import (  # noqa: E402
    MixedRow, ScenarioRow, mixed_table, run_mixed, run_scenarios, scenario_table,
)
from rec.interest.model import InterestEvolutionModel, load_model  # noqa: E402
from rec.interest.training import fit_on_split  # noqa: E402
from rec.evaluation.splits import LeaveOneOutSplit  # noqa: E402

log = logging.getLogger(__name__)
Served = tuple[str, "InterestEvolutionModel | None"]  # what serve ranks with: its name, the champion or None
TARGETS = {"NDCG@10": 0.13, "HR@10": 0.23}


def load_data(config: RecConfig) -> EvalData:
    """Events and the served item text vectors, aligned."""
    live = registry.resolve_encoder(config.encoder, config.paths)
    data, _ = load_eval_data(
        config.paths.lancedb_uri, live.items_table, live.items_table_version, config.evaluate.events_path
    )
    return data


class InterestModelFactory:
    """The champion as a ModelFactory: the registered model on the evaluation
    split; on any other split (the cold-item protocol) a model of the same
    configuration trained on that split, since the champion saw its items."""

    def __init__(self, model: InterestEvolutionModel, data: EvalData, interest: InterestConfig) -> None:
        self.data, self.interest = data, interest
        self.models = {id(data.split): model}

    def __call__(self, split: LeaveOneOutSplit, include_valid: bool) -> ScoreFn:
        if id(split) not in self.models:
            config = self.models[id(self.data.split)].config
            self.models[id(split)], _ = fit_on_split(split, self.data.item_index, self.data.item_vectors, config)
        return interest_model_scores(self.models[id(split)], self.data, split, include_valid, self.interest)


def champion_factories(config: RecConfig, data: EvalData) -> dict[str, ModelFactory]:
    """{"interest model vN (champion)": factory}, or {} when there is no usable champion."""
    alias = config.train.champion_alias
    version = resolve_interest_model(config.train.registered_name, alias, config.paths)
    if version is None:
        log.warning("no %s@%s to evaluate: run jobs.train_interest first", config.train.registered_name, alias)
        return {}
    if read_item_ids(version.model_dir) != data.item_index.ids.tolist():
        log.warning("%s was trained on another catalogue: not evaluated", version.tag)
        return {}
    factory = InterestModelFactory(load_model(version.model_dir), data, config.interest)
    return {f"interest model v{version.version} ({alias})": factory}


def mlflow_safe(metrics: dict[str, float]) -> dict[str, float]:
    """MLflow metric names allow no '@': HR@10 -> HR_at_10."""
    return {re.sub("@", "_at_", k): float(v) for k, v in metrics.items()}


def draw_chart(results: dict[str, dict[str, float]], path: Path) -> None:
    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(names) + 1.5), sharey=True)
    for ax, metric in zip(axes, TARGETS):
        values = [results[n][metric] for n in names]
        ax.barh(names, values, color=["tab:blue" if "model" in n else "tab:gray" for n in names])
        ax.axvline(TARGETS[metric], color="tab:red", linestyle="--", label=f"target {TARGETS[metric]}")
        ax.set_xlabel(f"{metric}, test split (ML-100k, full ranking)")
        ax.legend(loc="lower right")
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def served_model(config: RecConfig, data: EvalData) -> Served:
    """The champion interest model when it was trained on these items (what serve ranks with), else None."""
    version = resolve_interest_model(config.train.registered_name, config.train.champion_alias, config.paths)
    if version is not None and read_item_ids(version.model_dir) == data.item_index.ids.tolist():
        return f"interest model v{version.version}", load_model(version.model_dir)
    return "per-event rule", None


def scenario_results(config: RecConfig, data: EvalData, served: Served) -> dict[str, list[ScenarioRow]]:
    """The interest-following scenarios (rec/evaluation/scenarios.py) for what is served
    (the champion through the service's pipeline, when there is one) and the per-event rule."""
    counts = train_counts(data, data.split)
    pipelines = {"per-event rule": service_pipeline(data, data.split, config.interest)}
    name, model = served
    if model is not None:
        pipelines = {f"served: {name}": service_pipeline(data, data.split, config.interest, model), **pipelines}
    return {name: run_scenarios(pipeline, data, counts, config.interest, config.history_length)
            for name, pipeline in pipelines.items()}


def mixed_interest_results(config: RecConfig, data: EvalData, served: Served) -> dict[str, MixedRow]:
    """Two interests at once (run_mixed), as served and with the multi-interest merge on."""
    counts, (_, model) = train_counts(data, data.split), served
    settings = {f"served (multi_interests {config.interest.multi_interests})": config.interest}
    if config.interest.multi_interests == 1:
        settings["multi_interests 3"] = InterestConfig.model_validate(
            {**config.interest.model_dump(), "multi_interests": 3})
    return {name: run_mixed(service_pipeline(data, data.split, interest, model), data, counts, interest,
                            config.history_length) for name, interest in settings.items()}


def faithfulness_result(config: RecConfig, data: EvalData, served: Served) -> tuple[float, int]:
    """The share of explained items whose score falls without their top reason, as served."""
    counts, (_, model) = train_counts(data, data.split), served
    ids = [str(i) for i in data.item_index.ids]
    popular = [ids[c] for c in np.argsort(-counts, kind="stable")]
    return explanation_faithfulness(service_pipeline(data, data.split, config.interest, model),
                                    dict(zip(ids, data.item_vectors)), popular, config.interest, config.history_length)


def diversity_results(config: RecConfig, data: EvalData, served: Served) -> tuple[str, list[DiversityRow]]:
    """The served ranking at each diversity (rec/evaluation/diversity.py): the champion through
    the service's pipeline when there is one, else the per-event rule; (its name, the rows)."""
    name, model = served
    if model is not None:
        return name, diversity_curve(
            lambda interest: interest_model_scores(model, data, data.split, True, interest), data, config.interest)
    return "per-event rule", diversity_curve(
        lambda interest: interest_rule_scores(data, data.split, True, interest), data, config.interest)


def draw_diversity_chart(name: str, rows: list[DiversityRow], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r.intra_list for r in rows], [r.ndcg for r in rows], marker="o")
    for r in rows:
        ax.annotate(f"diversity {r.diversity:g}", (r.intra_list, r.ndcg), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("intra-list diversity of the top-10 (mean pairwise 1 - cosine)")
    ax.set_ylabel("NDCG@10, test split")
    ax.set_title(f"{name}: accuracy against variety")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def new_user_results(config: RecConfig, data: EvalData) -> dict[str, dict[int, dict[str, float]]]:
    """The new-user protocol, pooled over evaluate.new_user_seeds: per method and k, HR/NDCG@10."""
    ranks: dict[str, dict[int, list[np.ndarray]]] = {}
    for seed in config.evaluate.new_user_seeds:
        split = new_user_split(data.split, config.evaluate.new_user_fraction, seed)
        scores = new_user_methods(data, split, config.interest, config.train.model, config.evaluate.recency_tau)
        for name, score in scores.items():
            for k in K_VALUES:
                ranks.setdefault(name, {}).setdefault(k, []).append(rank_prefixes(score, split, data.item_index, k))
    return {name: {k: summarise(np.concatenate(parts)) for k, parts in by_k.items()} for name, by_k in ranks.items()}


def evaluate(config: RecConfig, extra: dict[str, ModelFactory] | None = None) -> dict:
    """Evaluate all models; returns the summary that main() prints."""
    started = time.perf_counter()
    data = load_data(config)
    cold = make_cold_split(data, config.evaluate.cold_fraction, config.evaluate.seed)
    factories = {
        **baseline_factories(data, config.interest, config.evaluate.recency_tau),
        **champion_factories(config, data), **(extra or {}),
    }
    registry.use_experiment(config.evaluate.experiment, config.paths)
    report_dir = Path(config.evaluate.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    with mlflow.start_run(run_name="evaluate") as parent:
        mlflow.log_params({"events": config.evaluate.events_path, "cold_fraction": config.evaluate.cold_fraction,
                           "seed": config.evaluate.seed, "users": len(data.split.test)})
        for name, factory in factories.items():
            model_started = time.perf_counter()
            results[name] = evaluate_model(factory, data, cold)
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.log_metrics(mlflow_safe(results[name]))
            log.info("%s: %s (%.1fs)", name, results[name], time.perf_counter() - model_started)
        table = markdown_table(results)
        champion = served_model(config, data)  # loaded once for every row of what is served
        scenarios = scenario_results(config, data, champion)
        for name, rows in scenarios.items():
            key = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
            mlflow.log_metrics({f"scenario_{key}_{r.likes_a}A_{r.likes_b}B_share_{'B' if r.likes_b else 'A'}":
                                r.share_b if r.likes_b else r.share_a for r in rows})
        scenario = ("Calibration on real users (rec/evaluation/calibration.py)\n\n" + calibration_table(results)
                    + "\n\nInterest-following scenarios: top-10 share of category A / B\n\n"
                    + scenario_table(scenarios))
        new_users = new_user_results(config, data) if config.evaluate.new_user_seeds else {}
        for name, by_k in new_users.items():
            key = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
            mlflow.log_metrics({f"new_user_{key}_k{k}_NDCG_at_10": m["NDCG@10"] for k, m in by_k.items()})
        if new_users:
            scenario += ("\n\nNew users (held out of training; seeds " + str(config.evaluate.new_user_seeds)
                         + "): NDCG@10 of event k + 1 from the first k\n\n" + new_user_table(new_users))
        served, diversity = diversity_results(config, data, champion)
        mlflow.log_metrics({f"diversity_{r.diversity:g}_{key}": value for r in diversity for key, value in
                            (("NDCG_at_10", r.ndcg), ("intra_list_diversity", r.intra_list), ("novelty", r.novelty))})
        scenario += (f"\n\nDiversity ({served}, test split; rec/evaluation/diversity.py)\n\n"
                     + diversity_table(diversity))
        mixed = mixed_interest_results(config, data, champion)
        faithful, explained = faithfulness_result(config, data, champion)
        mlflow.log_metrics({"explanation_faithfulness": faithful,
                            **{f"mixed_{re.sub(r'[^A-Za-z0-9]+', '_', n).strip('_')}_both_3_of_10": r.both_at_least_3
                               for n, r in mixed.items()}})
        scenario += ("\n\nTwo interests at once: a fresh user likes 5 of A and 5 of B in turn\n\n" + mixed_table(mixed)
                     + f"\n\nExplanations ({served}): the score falls without the top reason for {faithful:.3f} "
                       f"of {explained} explained items (rec/evaluation/faithfulness.py)")
        (report_dir / "evaluation.md").write_text(table + "\n\n" + scenario + "\n")
        draw_chart(results, report_dir / "evaluation.png")
        draw_diversity_chart(served, diversity, report_dir / "diversity.png")
        draw_scenario_chart(scenarios, report_dir / "scenarios.png")
        if new_users:
            draw_new_user_chart(new_users, report_dir / "new_users.png")
        mlflow.log_artifacts(str(report_dir), artifact_path="report")
    print(table + "\n\n" + scenario)
    return {"job": "evaluate", "models": len(results), "report": str(report_dir / "evaluation.md"),
            "mlflow_run_id": parent.info.run_id, "duration_s": round(time.perf_counter() - started, 1),
            "results": {n: {k: round(m[k], 4) for k in ("HR@10", "NDCG@10")} for n, m in results.items()}}


def draw_new_user_chart(new_users: dict[str, dict[int, dict[str, float]]], path: Path) -> None:
    """NDCG@10 against k (the user's first k events), a line per method with its 95% interval."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, by_k in new_users.items():
        ks = sorted(by_k)
        ax.errorbar(ks, [by_k[k]["NDCG@10"] for k in ks], yerr=[by_k[k]["NDCG@10 +-"] for k in ks], capsize=3,
                    marker="o", label=name, linewidth=2.5 if name.startswith("served") else 1.2)
    ax.set_xscale("log")
    ax.set_xticks(sorted(next(iter(new_users.values()))), labels=[str(k) for k in sorted(next(iter(new_users.values())))])
    _save(fig, ax, "k: the held-out user's first k events", "NDCG@10 of event k + 1", "New users (never in training)",
          path)


def draw_scenario_chart(scenarios: dict[str, list[ScenarioRow]], path: Path) -> None:
    """The top-10 shares of A and of B after each step of the scenarios, per pipeline, with the targets."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (name, rows), color in zip(scenarios.items(), ["tab:blue", "tab:gray", "tab:green"]):
        steps = [f"{r.likes_a} A" if not r.likes_b else f"+{r.likes_b} B" for r in rows]
        ax.plot(steps, [r.share_a for r in rows], marker="o", color=color, label=f"{name}: share of A")
        ax.plot(steps, [r.share_b for r in rows], marker="s", linestyle="--", color=color, label=f"{name}: share of B")
    for step, target in (("10 A", 0.6), ("+5 B", 0.5), ("+10 B", 0.6)):
        ax.plot([step], [target], marker="_", markersize=24, color="tab:red")
    ax.set_ylim(0, 1)
    _save(fig, ax, "likes so far: n of A a minute apart, then a day later m of B", "share of the top-10",
          "A fresh user's list following a genre, then a new one (red: targets)", path)


def _save(fig, ax, xlabel: str, ylabel: str, title: str, path: Path) -> None:
    """Label a line chart, give it a legend, and write it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    run_config_job(__doc__, "configs/evaluate.yaml", evaluate)


if __name__ == "__main__":
    main()
