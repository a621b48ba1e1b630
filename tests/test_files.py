"""Atomic writes leave nothing behind: the leftovers of killed runs are removed on the next run and git ignores them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import ROOT

from rstor_core.settings.files import atomic_path, pid_alive, remove_stale_temporaries


def test_a_finished_process_is_not_alive_and_this_one_is(dead_pid):
    assert not pid_alive(dead_pid)
    assert pid_alive(os.getpid())


def test_leftovers_of_dead_runs_are_removed_and_those_of_live_runs_and_results_kept(tmp_path, dead_pid):
    dead, live = dead_pid, os.getpid()
    outputs, temp = tmp_path / "outputs" / "quick", tmp_path / "tmp"
    stale = [outputs / "notebooks" / f".01_a.tmp-{dead}.ipynb",
             outputs / "checkpoints" / "x" / f".last.opt.tmp-{dead}.pt",
             outputs / "checkpoints" / "x" / ".retrain" / f".model.tmp-{dead}.pt",
             outputs / f".02_b.tmp-{dead}" / "figures" / "02_b.png",  # a chapter's staging folder
             temp / f"rstor-{dead}-npm-abc" / "mathjax.tgz"]
    kept = [outputs / "notebooks" / f".01_a.tmp-{live}.ipynb", outputs / f".02_b.tmp-{live}" / "tables" / "t.csv",
            outputs / "checkpoints" / "x" / "model.pt", outputs / "checkpoints" / "x" / ".retrain" / "last.opt.pt",
            outputs / "tables" / "a.tmp-1.csv", temp / f"rstor-{live}-npm-abc" / "mathjax.tgz",
            temp / "rstor-abcdef" / "x", temp / f".other.tmp-{dead}.txt"]  # the temp folder: only rstor's folders
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")

    removed = remove_stale_temporaries(outputs, temp_root=temp)

    assert not [p for p in stale if p.exists()]
    assert all(p.exists() for p in kept)
    assert not (outputs / f".02_b.tmp-{dead}").exists() and not (temp / f"rstor-{dead}-npm-abc").exists()
    assert len(removed) == len(stale)


def test_an_atomic_temporary_name_is_one_the_cleanup_recognises(tmp_path, dead_pid):
    with atomic_path(tmp_path / "last.opt.pt") as tmp:
        tmp.write_text("half written")
        assert remove_stale_temporaries(tmp_path, temp_root=tmp_path) == []  # a live writer's: kept
        killed = tmp.with_name(tmp.name.replace(str(os.getpid()), str(dead_pid)))
        killed.write_text("half written")
    assert remove_stale_temporaries(tmp_path, temp_root=tmp_path) == [killed]
    assert [p.name for p in tmp_path.iterdir()] == ["last.opt.pt"]


def test_git_ignores_atomic_temporaries_and_failed_notebooks():
    paths = ["outputs/quick/checkpoints/a/.model.tmp-123.pt", "outputs/quick/notebooks/.01_a.tmp-123.ipynb",
             "outputs/quick/.01_a.tmp-123/figures/01_a.png", "outputs/quick/notebooks/01_a.failed.ipynb",
             "outputs/quick/.book.lock", "outputs/quick/.manifest.lock"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.split() == paths
