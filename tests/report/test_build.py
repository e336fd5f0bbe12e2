"""The report end to end on a tiny run: every layout present, rebuilt from the store alone, honest gaps."""

from __future__ import annotations

import re
import shutil

from tests.conftest import run_cli
from torchslim.report.build import write_report
from torchslim.store import Store
from torchslim.task_kinds import load_run

SECTIONS = [
    "## Compression methods by architecture",
    "## Trade-offs and recommendations: simple_cnn_6x2",
    "## Multi-seed results",
    "## Pruning by batch size",
    "## Compression dynamics per step",
    "## Accuracy trade-offs (Pareto frontier)",
    "## Every run",
    "## Hardware and software",
]


def test_every_layout_is_written_without_holes(tiny_run):
    md = (tiny_run / "runs" / "tiny" / "report.md").read_text()
    for title in SECTIONS:
        assert title in md, title
    assert "xx.xx" not in md and "nan" not in md.lower().replace("nan ", "")
    assert "| Original | N/A |" in md and "| Pruning (Struct.) | 50% |" in md
    assert re.search(r"\| 1 \| 0 \(baseline\) \|", md) and re.search(r"\| 8 \| 50 \| Pruning \(Struct\.\)", md)
    assert "| 2 | filter pruning + fine-tune |" in md  # the dynamics table has step 2
    figures = sorted((tiny_run / "runs" / "tiny" / "report_files").glob("*.png"))
    assert len(figures) == 4 and all(f.stat().st_size > 5_000 for f in figures)  # ratio, 2 trade-offs, dynamics
    html = (tiny_run / "runs" / "tiny" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "<img" in html and 'src="http' not in html


def test_report_rebuilt_without_artifacts_gives_the_same_tables(tiny_run, monkeypatch):
    monkeypatch.chdir(tiny_run)
    run_dir = tiny_run / "runs" / "tiny"
    before = (run_dir / "report.md").read_text()
    backup = tiny_run / "tasks-backup"
    shutil.copytree(run_dir / "tasks", backup)
    try:
        shutil.rmtree(run_dir / "tasks")
        (run_dir / "report.md").unlink()
        proc = run_cli("report", "runs/tiny", "--format", "md,html", cwd=tiny_run)
        assert proc.returncode == 0, proc.stderr
        assert (run_dir / "report.md").read_text() == before
    finally:
        shutil.rmtree(run_dir / "tasks", ignore_errors=True)
        shutil.copytree(backup, run_dir / "tasks")


def test_a_missing_seed_is_shown_with_its_reason(tiny_run, monkeypatch):
    monkeypatch.chdir(tiny_run)
    cfg, source = load_run(tiny_run / "runs" / "tiny")
    three = cfg.model_copy(update={"seeds": [0, 1, 2], "output_dir": tiny_run / "runs3"})
    store = Store(cfg.store)
    from torchslim.tasks import expand

    failed = next(t for t in expand(three) if t.seed == 2 and t.chain is not None)
    store.put_failure(failed.key, "TorchslimError: the disk is full")
    md = write_report(three, store, source, ["md"])["md"].read_text()
    assert "missing: failed: TorchslimError: the disk is full" in md
    assert "missing: not in the store" in md


def test_terminal_format_prints_the_charts(tiny_run):
    proc = run_cli("report", "runs/tiny", "--format", "terminal", cwd=tiny_run)
    assert proc.returncode == 0, proc.stderr
    assert "Size of the saved file (MB)" in proc.stdout and "█" in proc.stdout
    assert "Deployment recommendations" in proc.stdout and "rule:" in proc.stdout


def test_unknown_format_and_missing_run_folder_get_one_line(tiny_run):
    bad = run_cli("report", "runs/tiny", "--format", "pdf", cwd=tiny_run)
    assert bad.returncode == 2 and "valid: md, html, terminal" in bad.stderr and "Traceback" not in bad.stderr
    none = run_cli("report", "runs/nothing", cwd=tiny_run)
    assert none.returncode == 2 and "no config.resolved.yaml" in none.stderr and "Traceback" not in none.stderr


def _snapshot(folder) -> dict:
    import hashlib

    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def test_report_writes_nothing_outside_the_run_folder_whatever_its_config_says(tiny_run):
    """Issue 16: config.resolved.yaml is a file anyone can edit; its output_dir and store are ignored."""
    import sqlite3

    import yaml

    victim = tiny_run / "victim"
    (victim / "report_files").mkdir(parents=True)
    (victim / "report_files" / "keep.png").write_bytes(b"not yours")
    with sqlite3.connect(victim / "other_app.db") as con:
        con.execute("CREATE TABLE notes (body TEXT)")
        con.execute("INSERT INTO notes VALUES ('mine')")
    resolved = tiny_run / "runs" / "tiny" / "config.resolved.yaml"
    header, body = resolved.read_text().split("\n", 1)
    cfg = yaml.safe_load(body) | {"output_dir": str(victim), "store": str(victim / "other_app.db")}
    resolved.write_text(header + "\n" + yaml.safe_dump(cfg))
    before = _snapshot(victim)
    (tiny_run / "runs" / "tiny" / "report.md").unlink()
    proc = run_cli("report", "runs/tiny", "--format", "md", cwd=tiny_run)
    assert proc.returncode == 0, proc.stderr
    assert _snapshot(victim) == before
    assert "## Multi-seed results" in (tiny_run / "runs" / "tiny" / "report.md").read_text()


def test_a_store_of_another_application_is_refused_and_left_untouched(tiny_run):
    import sqlite3

    other = tiny_run / "other_app.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE notes (body TEXT)")
    text = tiny_run / "notes.txt"
    text.write_text("plain text, not a database\n")
    before = (other.read_bytes(), text.read_bytes())
    for store in (other, text, tiny_run / "runs"):
        for args in (["results", "--store", str(store)], ["report", "runs/tiny", "--store", str(store)]):
            proc = run_cli(*args, cwd=tiny_run)
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
            assert any(
                why in lines[0] for why in ("not a torchslim results store", "not a readable SQLite", "not a file")
            )
    assert (other.read_bytes(), text.read_bytes()) == before
    assert not (tiny_run / "other_app.db-wal").exists()


def test_results_and_report_open_the_store_read_only(tiny_run):
    import sqlite3

    import pytest

    db = tiny_run / "runs" / "torchslim.db"
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        Store(db, readonly=True)._connect().execute("CREATE TABLE intruder (a)")
    before = (db.stat().st_mtime_ns, db.read_bytes())
    assert run_cli("results", "--format", "json", cwd=tiny_run).returncode == 0
    assert run_cli("report", "runs/tiny", "--format", "md", cwd=tiny_run).returncode == 0
    assert (db.stat().st_mtime_ns, db.read_bytes()) == before


def test_report_replaces_links_in_the_run_folder_and_never_writes_through_them(tiny_run):
    """A run folder from someone else: report.md linked to a file of yours, report_files to a folder of
    yours, and a command line that tries to close its code span. Nothing of yours is written."""
    victim = tiny_run / "victim2"
    (victim / "figs").mkdir(parents=True)
    (victim / "bashrc").write_text("export PATH=$PATH\n")
    evil = tiny_run / "evil"
    evil.mkdir()
    body = (tiny_run / "runs" / "tiny" / "config.resolved.yaml").read_text().split("\n", 1)[1]
    (evil / "config.resolved.yaml").write_text("# torchslim run x` ; touch PWNED #\n" + body)
    (evil / "report.md").symlink_to(victim / "bashrc")
    (evil / "report_files").symlink_to(victim / "figs", target_is_directory=True)
    proc = run_cli("report", "evil", "--store", "runs/torchslim.db", "--format", "md,html", cwd=tiny_run)
    assert proc.returncode == 0, proc.stderr
    assert (victim / "bashrc").read_text() == "export PATH=$PATH\n" and not list((victim / "figs").iterdir())
    assert not (evil / "report.md").is_symlink() and not (evil / "report_files").is_symlink()
    assert list((evil / "report_files").glob("*.png"))  # the figures went into a real folder of the run
    command = next(line for line in (evil / "report.md").read_text().splitlines() if line.startswith("Command:"))
    assert "Command: ``torchslim run x` ; touch PWNED #``" in command  # one code span, closed where it should be


def test_report_never_empties_a_figures_folder_it_did_not_write(tiny_run):
    """Issue 35, defect 7: output_dir on a folder of the user's deleted its report_files/."""
    run_dir = tiny_run / "runs" / "tiny"
    figures = run_dir / "report_files"
    shutil.rmtree(figures, ignore_errors=True)
    figures.mkdir()
    (figures / "thesis.tex").write_text("mine")
    proc = run_cli("report", str(run_dir), "--store", "runs/torchslim.db", cwd=tiny_run)
    assert proc.returncode == 2 and "holds files torchslim did not write; it is never emptied" in proc.stderr
    assert (figures / "thesis.tex").read_text() == "mine"
    (figures / "thesis.tex").unlink()
    (figures / "old.png").write_bytes(b"")  # a folder of figures from before folders were marked: ours
    assert run_cli("report", str(run_dir), "--store", "runs/torchslim.db", cwd=tiny_run).returncode == 0
    assert not (figures / "old.png").exists() and (figures / ".torchslim-owned").is_file()
