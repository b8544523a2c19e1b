"""Tests for rec.catalog.movielens: every MovieLens layout -> (items, events)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rec.catalog.movielens import ML100K_GENRES, load_movielens
from rec.errors import DataError
from rec.catalog.schemas import CATALOG_SCHEMA

EVENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("rating", pa.float32()),
        ("timestamp", pa.int64()),
        ("line", pa.int64()),
    ]
)


def _flags(*genres: str) -> str:
    return "|".join("1" if g in genres else "0" for g in ML100K_GENRES)


def _items(items: pa.Table) -> dict[str, dict]:
    return {row["item_id"]: row for row in items.to_pylist()}


def _check_events(events: pa.Table, expected: list[tuple[str, str, float, int]]) -> None:
    assert events.schema == EVENT_SCHEMA
    rows = [(r["user_id"], r["item_id"], r["rating"], r["timestamp"]) for r in events.to_pylist()]
    assert rows == expected  # file order, not sorted
    assert events["line"].to_pylist() == list(range(len(expected)))


def test_grouplens_100k_layout(tmp_path):
    (tmp_path / "u.data").write_text(
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t1\t1\t878887116\n196\t1\t5\t881250000\n"
    )
    toy_genres = _flags("Animation", "Children's", "Comedy")
    lines = [
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
        f"{toy_genres}",
        f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|{_flags('Comedy')}",
        f"302|L.A. Confidential (1997)|01-Jan-1997||http://us.imdb.com/M/title-exact?L%2EA%2E+Confidential+(1997)|"
        f"{_flags('Crime', 'Film-Noir', 'Mystery', 'Thriller')}",
        f"267|unknown||||{_flags()}",
    ]
    (tmp_path / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    items, events = load_movielens(tmp_path)

    assert items.schema == CATALOG_SCHEMA
    assert items["item_id"].to_pylist() == ["1", "242", "302", "267"]
    rows = _items(items)
    assert (rows["1"]["title"], rows["1"]["year"]) == ("Toy Story", 1995)
    assert rows["1"]["categories"] == ["Animation", "Children's", "Comedy"]
    assert (rows["242"]["title"], rows["242"]["year"]) == ("Kolya", 1996)
    assert rows["302"]["title"] == "L.A. Confidential"
    assert rows["302"]["categories"] == ["Crime", "Film-Noir", "Mystery", "Thriller"]
    assert (rows["267"]["title"], rows["267"]["year"], rows["267"]["categories"]) == ("unknown", None, None)
    _check_events(
        events,
        [("196", "242", 3.0, 881250949), ("186", "302", 3.0, 891717742),
         ("22", "1", 1.0, 878887116), ("196", "1", 5.0, 881250000)],
    )


def test_grouplens_dat_layout(tmp_path):
    (tmp_path / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n1::1::4::978300000\n"
    )
    movies = (
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "73::Misérables, Les (1995)::Drama|Musical\n"
    )
    (tmp_path / "movies.dat").write_bytes(movies.encode("latin-1"))  # ML-1M files are latin-1
    items, events = load_movielens(tmp_path)

    assert items.schema == CATALOG_SCHEMA
    assert items["item_id"].to_pylist() == ["1", "661", "1193", "73"]
    rows = _items(items)
    assert (rows["1"]["title"], rows["1"]["year"]) == ("Toy Story", 1995)
    assert rows["1"]["categories"] == ["Animation", "Children's", "Comedy"]
    assert (rows["1193"]["title"], rows["1193"]["year"]) == ("One Flew Over the Cuckoo's Nest", 1975)
    assert (rows["73"]["title"], rows["73"]["year"]) == ("Misérables, Les", 1995)
    assert rows["73"]["categories"] == ["Drama", "Musical"]
    _check_events(
        events,
        [("1", "1193", 5.0, 978300760), ("1", "661", 3.0, 978302109),
         ("2", "1193", 4.0, 978298413), ("1", "1", 4.0, 978300000)],
    )


def test_grouplens_dat_malformed_line(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3\n")
    (tmp_path / "movies.dat").write_text("1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n")
    with pytest.raises(DataError, match=r"ratings\.dat:2"):
        load_movielens(tmp_path)


def test_grouplens_csv_layout(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n1,11,3.5,964981247\n2,193609,0.5,1445714835\n1,1,4.5,964982000\n"
    )
    (tmp_path / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n'
        "193609,Andrew Dice Clay: Dice Rules (1991),Comedy\n"
        "148238,Babylon 5,(no genres listed)\n"
    )
    items, events = load_movielens(tmp_path)

    assert items.schema == CATALOG_SCHEMA
    assert items["item_id"].to_pylist() == ["1", "11", "193609", "148238"]
    rows = _items(items)
    assert (rows["1"]["title"], rows["1"]["year"]) == ("Toy Story", 1995)
    assert rows["1"]["categories"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert (rows["11"]["title"], rows["11"]["year"]) == ("American President, The", 1995)
    assert (rows["148238"]["title"], rows["148238"]["year"], rows["148238"]["categories"]) == (
        "Babylon 5", None, None,
    )
    _check_events(
        events,
        [("1", "1", 4.0, 964982703), ("1", "11", 3.5, 964981247),
         ("2", "193609", 0.5, 1445714835), ("1", "1", 4.5, 964982000)],
    )


def test_recbole_layout_small(tmp_path):
    (tmp_path / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n186\t1\t4\t891717742\n"
    )
    (tmp_path / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1\tToy Story\t1995\tAnimation Children's Comedy\n"
        "242\tKolya\t1996\tComedy\n"
    )
    items, events = load_movielens(tmp_path)
    rows = _items(items)
    assert (rows["1"]["title"], rows["1"]["year"]) == ("Toy Story", 1995)
    assert rows["1"]["categories"] == ["Animation", "Children's", "Comedy"]
    assert (rows["242"]["title"], rows["242"]["year"]) == ("Kolya", 1996)
    _check_events(events, [("196", "242", 3.0, 881250949), ("186", "1", 4.0, 891717742)])


def test_recbole_ml100k(ml100k_dir: Path):
    items, events = load_movielens(ml100k_dir)
    assert items.schema == CATALOG_SCHEMA
    assert items.num_rows == 1682
    assert events.num_rows == 100_000
    assert events.schema == EVENT_SCHEMA
    toy = _items(items)["1"]
    assert (toy["title"], toy["year"]) == ("Toy Story", 1995)
    assert toy["categories"] == ["Animation", "Children's", "Comedy"]
    first = events.slice(0, 1).to_pylist()[0]
    assert first == {"user_id": "196", "item_id": "242", "rating": 3.0, "timestamp": 881250949, "line": 0}
    assert events["line"][-1].as_py() == 99_999
    assert set(events["item_id"].to_pylist()) <= set(items["item_id"].to_pylist())


def test_recbole_takes_precedence_over_other_layouts(tmp_path):
    (tmp_path / "ml-100k.inter").write_text("u:token\ti:token\tr:float\tt:float\n5\t1\t2\t100\n")
    (tmp_path / "ml-100k.item").write_text("i:token\tt:token_seq\ty:token\tc:token_seq\n1\tToy Story\t1995\tComedy\n")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n9,9,1.0,1\n")
    _, events = load_movielens(tmp_path)
    assert events["user_id"].to_pylist() == ["5"]


def test_empty_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no MovieLens files"):
        load_movielens(tmp_path)


def test_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError):
        load_movielens(tmp_path / "nope")
