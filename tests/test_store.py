import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from torchslim.errors import DiskFullError, TorchslimError
from torchslim.store import ResultRow, Store


def row(seed=0, top1=90.0, chash="abc") -> ResultRow:
    return ResultRow(chash, "run", "m", "d", "baseline", seed, {"top1": top1}, {}, {"x": 1}, "sha", {}, {})


def test_put_then_has_and_read_back(tmp_path):
    store = Store(tmp_path / "s.db")
    store.put(row())
    assert store.has(("abc", "m", "d", "baseline", 0))
    assert not store.has(("abc", "m", "d", "baseline", 1))
    (back,) = store.rows()
    assert back.metrics == {"top1": 90.0} and back.config == {"x": 1} and back.seed == 0


def test_same_key_replaces_instead_of_duplicating(tmp_path):
    store = Store(tmp_path / "s.db")
    store.put(row(top1=90.0))
    store.put(row(top1=91.0))
    store.put(row(seed=1))
    rows = store.rows()
    assert len(rows) == 2
    assert [r.metrics["top1"] for r in rows if r.seed == 0] == [91.0]


def test_rows_are_listed_by_key_whatever_order_they_were_stored_in(tmp_path):
    store = Store(tmp_path / "s.db")
    for seed, chain in [(1, "prune.x()"), (1, "baseline"), (0, "prune.x()"), (0, "baseline")]:
        store.put(ResultRow("abc", "run", "m", "d", chain, seed, {}, {}, {}, "sha", {}, {}))
    listed = [(r.method_chain, r.seed) for r in store.rows()]
    assert listed == [("baseline", 0), ("baseline", 1), ("prune.x()", 0), ("prune.x()", 1)]


def test_unique_key_is_enforced_by_sqlite(tmp_path):
    store = Store(tmp_path / "s.db")
    store.put(row())
    con = sqlite3.connect(store.path)
    try:
        con.execute(
            "INSERT INTO results (config_hash, run_name, model, dataset, method_chain, seed, metrics, artifacts,"
            " config, git_commit, versions, hardware, created_at) VALUES ('abc','r','m','d','baseline',0,'{}','{}',"
            "'{}','s','{}','{}',0)"
        )
        raised = False
    except sqlite3.IntegrityError:
        raised = True
    finally:
        con.close()
    assert raised


def test_filters(tmp_path):
    store = Store(tmp_path / "s.db")
    store.put(row(seed=0))
    store.put(row(seed=1, chash="def"))
    assert [r.seed for r in store.rows(config_hash="def")] == [1]


@pytest.mark.parametrize("folder", ["exp#3", "exp?mode=rwc&x=1", "100% done"])
def test_a_store_in_a_folder_with_uri_characters_opens_read_only_where_it_is(tmp_path, monkeypatch, folder):
    monkeypatch.chdir(tmp_path)
    path = Path(folder) / "ts.db"
    Store(path).put(row())
    before = sorted(p.name for p in tmp_path.iterdir())
    readonly = Store(path, readonly=True)
    assert [r.seed for r in readonly.rows()] == [0]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        with closing(readonly._connect()) as con:
            con.execute("DELETE FROM results")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no stray 'exp' file beside it


def test_a_full_disk_while_storing_is_one_line_and_keeps_every_stored_row(tmp_path, monkeypatch):
    """Issue 35, defect 9: SQLite's SQLITE_FULL ("database or disk is full") was a traceback.
    The disk is made full the way SQLite sees it: no page may be added to the file."""
    store = Store(tmp_path / "ts.db")
    store.put(row(seed=0))
    connect = Store._connect

    def full(self):
        con = connect(self)
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.execute(f"PRAGMA max_page_count = {pages}")
        return con

    monkeypatch.setattr(Store, "_connect", full)
    big = ResultRow(**{**row(seed=1).__dict__, "metrics": {"top1": 1.0, "pad": "x" * 200_000}})
    with pytest.raises(DiskFullError, match=r"^disk full: the results store '.*ts.db' could not record task m \| d"):
        store.put(big)
    monkeypatch.undo()
    assert [r.seed for r in Store(tmp_path / "ts.db").rows()] == [0]


def test_a_corrupt_json_row_is_one_line_naming_it(tmp_path):
    """Issue 35, defect 21: a corrupt JSON row crashed ``results`` and ``report``."""
    store = Store(tmp_path / "ts.db")
    store.put(row(seed=0))
    with closing(sqlite3.connect(tmp_path / "ts.db")) as con, con:
        con.execute("UPDATE results SET metrics = '{not json'")
    with pytest.raises(TorchslimError, match=r"row 1 \(.*seed 0\) holds corrupt JSON in 'metrics'; delete that row"):
        Store(tmp_path / "ts.db", readonly=True).rows()
