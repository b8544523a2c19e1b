"""Train RecBole 1.2.1's SASRec until early stopping on the project's split; print its test metrics.

The anchors' SASRec figure (shared/anchors/quality.json) was stopped after 12
epochs while still improving; this measures the converged one. Run it with
`make sasrec-reference`: RecBole pins an old Ray, so it lives in its own
virtualenv (.venv-recbole), never in the project's.

Protocol (shared/anchors/quality.md): the timestamp is replaced by the global
rank of (timestamp, line), so RecBole's time order is ours; LS valid_and_test
split; full ranking over all items. RecBole's sequential evaluation does not
exclude the user's earlier items, so the trainer here does (every item the user
touched before the target, not only the last MAX_ITEM_LIST_LENGTH).

RecBole's SASRec configuration as in the anchors: CE loss, batch 256, max length
50, everything else RecBole's defaults (2 layers, 2 heads, hidden 64, dropout
0.5, lr 0.001, stopping_step 10 on validation NDCG@10).

Three changes make it run about 2x faster on a CPU and leave the maths as it
is: importing RecBole's sequential models turns autograd anomaly detection on
for the whole process (sine.py), which is turned off again; dropout masks come
from rand_like (the same distribution as bernoulli_, several times faster on a
CPU); embeddings are index_select, with no gradient into the padding row, as
with padding_idx.
"""

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # RecBole reloads its own checkpoint (a pickle)
import torch  # noqa: E402


def _fast_dropout(self, x):
    if not self.training or self.p == 0:
        return x
    return x * torch.rand_like(x).ge_(self.p) * (1.0 / (1.0 - self.p))


def _index_select_embedding(self, idx):
    flat = idx.reshape(-1)
    out = self.weight.index_select(0, flat)
    if self.padding_idx is not None:
        pad = (flat == self.padding_idx).unsqueeze(1)
        out = torch.where(pad, self.weight[self.padding_idx].detach(), out)
    return out.view(*idx.shape, self.weight.shape[1])


def write_ranked_inter(src: Path, data_dir: Path, name: str) -> list[tuple[str, str, int]]:
    """Write RecBole's atomic file with the (timestamp, line) rank as the time; return (user, item, rank) rows."""
    with open(src) as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    order = sorted(range(len(rows)), key=lambda i: (int(float(rows[i][3])), i))
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows))
    (data_dir / name).mkdir(parents=True, exist_ok=True)
    with open(data_dir / name / f"{name}.inter", "w") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for i, r in enumerate(rows):
            f.write(f"{r[0]}\t{r[1]}\t{rank[i]}\n")
    return [(r[0], r[1], int(rank[i])) for i, r in enumerate(rows)]


def check_split(loaders, dataset, uid_field: str, iid_field: str, anchors: Path) -> None:
    for loader, fname in zip(loaders, ("ml100k_loo_valid.tsv", "ml100k_loo_test.tsv")):
        with open(anchors / fname) as f:
            ref = {(r["user_id"], r["item_id"]) for r in csv.DictReader(f, delimiter="\t")}
        inter = loader._dataset.inter_feat
        got = {
            (dataset.id2token(uid_field, int(u)), dataset.id2token(iid_field, int(i)))
            for u, i in zip(inter[uid_field].tolist(), inter[iid_field].tolist())
        }
        if got != ref:
            sys.exit(f"RecBole's split differs from {fname}: {len(got ^ ref)} (user, item) pairs")
    print(f"RecBole's valid and test targets equal {anchors}/ml100k_loo_*.tsv", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work-dir", type=Path, default=Path("var/recbole"))
    p.add_argument("--anchors", type=Path, default=Path("../shared/anchors"), help="checked against when present")
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--stopping-step", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--out", type=Path, default=Path("var/recbole/sasrec_reference.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.work_dir, args.anchors, args.out = (path.resolve() for path in (args.work_dir, args.anchors, args.out))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(args.work_dir)  # RecBole writes log/ and log_tensorboard/ into the working directory

    import recbole
    import recbole.model.sequential_recommender  # noqa: F401  (turns anomaly detection on)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_logger, init_seed

    torch.autograd.set_detect_anomaly(False)
    torch.nn.Dropout.forward = _fast_dropout
    torch.nn.Embedding.forward = _index_select_embedding

    src = Path(recbole.__file__).parent / "dataset_example" / "ml-100k" / "ml-100k.inter"
    name = "ml100k_rank"
    rows = write_ranked_inter(src, args.work_dir / "data", name)
    config = Config(
        model="SASRec",
        dataset=name,
        config_dict={
            "data_path": str(args.work_dir / "data"),
            "checkpoint_dir": str(args.work_dir / "saved"),
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
            "metrics": ["Hit", "NDCG", "MRR"],
            "topk": [10, 20],
            "valid_metric": "NDCG@10",
            "train_batch_size": 256,
            "eval_batch_size": 32768,
            "loss_type": "CE",
            "train_neg_sample_args": None,
            "MAX_ITEM_LIST_LENGTH": args.max_len,
            "epochs": args.epochs,
            "stopping_step": args.stopping_step,
            "seed": args.seed,
            "reproducibility": True,
            "use_gpu": False,
            "device": "cpu",
            "show_progress": False,
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    uid_field, iid_field = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
    if (args.anchors / "ml100k_loo_test.tsv").exists():
        check_split((valid_data, test_data), dataset, uid_field, iid_field, args.anchors)

    # Each user's items in time order, as RecBole ids: the items before a target are excluded from its ranking.
    by_user: dict[str, list[tuple[int, str]]] = {}
    for u, i, r in rows:
        by_user.setdefault(u, []).append((r, i))
    history = {
        int(dataset.token2id(uid_field, u)): [int(dataset.token2id(iid_field, i)) for _, i in sorted(evs)]
        for u, evs in by_user.items()
    }

    class SeenMaskedTrainer(Trainer):
        def _full_sort_batch_eval(self, batched_data):
            interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
            rows_idx, cols = [], []
            for row, (u, t) in enumerate(zip(interaction[uid_field].tolist(), interaction[iid_field].tolist())):
                before = history[u][: history[u].index(t)]
                rows_idx.extend([row] * len(before))
                cols.extend(before)
            scores[torch.tensor(rows_idx), torch.tensor(cols)] = -np.inf
            return interaction, scores, positive_u, positive_i

    trainer = SeenMaskedTrainer(config, SASRec(config, train_data.dataset).to(config["device"]))
    start = time.perf_counter()
    _, valid_result = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    train_s = time.perf_counter() - start
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    result = {
        "model": f"SASRec, RecBole {recbole.__version__}",
        "max_len": args.max_len,
        "seed": args.seed,
        "stopping_step": args.stopping_step,
        "best_valid": {k: round(float(v), 4) for k, v in valid_result.items()},
        "test": {k: round(float(v), 4) for k, v in test_result.items()},
        "train_s": round(train_s, 1),
        "threads": args.threads,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
