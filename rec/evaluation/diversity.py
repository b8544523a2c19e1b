"""What a more varied list costs: the served ranking on the test split at each
`diversity` (the pipeline's maximal-marginal-relevance step), with its accuracy and
how varied its lists are (intra-list diversity of the text vectors, novelty,
coverage). `make evaluate` tables and charts it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rec.config import InterestConfig
from rec.evaluation.harness import EvalData, train_counts
from rec.evaluation.metrics import ScoreFn, intra_list_diversity, novelty, rank_users, summarize

DIVERSITY_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class DiversityRow:
    diversity: float
    ndcg: float  # NDCG@10
    hr: float  # HR@10
    intra_list: float  # mean pairwise 1 - cosine within a top-10
    novelty: float  # mean -log2 popularity share
    coverage: float  # coverage@10


def diversity_curve(
    scores_at: Callable[[InterestConfig], ScoreFn], data: EvalData, interest: InterestConfig,
    values: Sequence[float] = DIVERSITY_VALUES,
) -> list[DiversityRow]:
    """One row per diversity; `scores_at(interest)` scores the test split with that interest config."""
    counts = train_counts(data, data.split)
    rows = []
    for value in values:
        result = rank_users(scores_at(interest.model_copy(update={"diversity": value})), data.split,
                            data.item_index, "test")
        metrics = summarize(result)
        rows.append(DiversityRow(value, metrics["NDCG@10"], metrics["HR@10"],
                                 intra_list_diversity(result.top_k, data.item_vectors),
                                 novelty(result.top_k, counts), metrics["coverage@10"]))
    return rows


def diversity_table(rows: Sequence[DiversityRow]) -> str:
    lines = ["| diversity | NDCG@10 | HR@10 | intra-list diversity | novelty | coverage@10 |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.diversity:g} | {r.ndcg:.4f} | {r.hr:.4f} | {r.intra_list:.3f} | {r.novelty:.2f} | {r.coverage:.3f} |"
              for r in rows]
    return "\n".join(lines)
