"""Evaluation rows kept under the fingerprint of what made them: any change of weights, images or settings
misses, the same inputs read back bit for bit, a fresh chapter recomputes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from test_chapter import parameters_cell

from rstor_core.book import chapter as chapter_module
from rstor_core.book.chapter import open_chapter
from rstor_core.measurement import memo
from rstor_core.networks.evaluate import degradation_grid, evaluate, non_blind_anchors


def conv(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Conv2d(3, 3, 3, padding=1)


def test_the_fingerprint_changes_with_weights_images_settings_and_a_classical_methods_values(leaves):
    grid = degradation_grid([10.0])
    key = memo.fingerprint({"net": conv(0)}, leaves, grid, {"seed": 0})
    assert key == memo.fingerprint({"net": conv(0)}, dict(leaves), list(grid), {"seed": 0})  # same inputs
    changed = dict(leaves, leaves0=leaves["leaves0"].copy())
    changed["leaves0"][0, 0, 0] += 1e-3
    assert len({key, memo.fingerprint({"net": conv(1)}, leaves, grid, {"seed": 0}),
                memo.fingerprint({"net": conv(0)}, changed, grid, {"seed": 0}),
                memo.fingerprint({"net": conv(0)}, leaves, degradation_grid([11.0]), {"seed": 0}),
                memo.fingerprint({"net": conv(0)}, leaves, grid, {"seed": 1}),
                memo.fingerprint({"other": conv(0)}, leaves, grid, {"seed": 0})}) == 6
    rl = [memo.fingerprint(non_blind_anchors("richardson_lucy", iterations=n)) for n in (30, 30, 31)]
    assert rl[0] == rl[1] != rl[2]  # a closure: by its captured settings


def test_rows_read_back_exactly_as_written_and_only_the_newest_key_is_kept(leaves, tmp_path):
    rows = evaluate({"net": conv(0)}, {"7": leaves["leaves0"]}, degradation_grid([10.0], ["small:0"], blur_sigma=1.0),
                    lpips=False, st_lpips=False, progress=False)
    assert (rows.lpips_note != "").all() and rows.lpips.isna().all()
    rows.loc[0, "lpips_note"] = ""  # an empty string must stay one, a NaN a NaN
    memo.write_rows(rows, tmp_path, "03_x", "a" * 64)
    pd.testing.assert_frame_equal(memo.read_rows(tmp_path, "03_x", "a" * 64), rows, check_exact=True)
    assert memo.read_rows(tmp_path, "03_x", "b" * 64) is None
    memo.write_rows(rows, tmp_path, "03_x", "b" * 64)
    memo.write_rows(rows, tmp_path, "03_x_other", "c" * 64)  # another name is left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"03_x.{'b' * 16}.csv", f"03_x_other.{'c' * 16}.csv"]


def test_a_chapter_reuses_its_evaluation_rows_until_an_input_changes_and_fresh_recomputes(leaves, tmp_path, monkeypatch):
    values = {**parameters_cell("03_deblur_study"), "profile": "smoke", "output_dir": str(tmp_path),
              "recipe_trials": [], "first_recipe": [], "scaling_steps": [], "long_runs": [], "device": "cpu", "eval_size": 32}
    chapter = open_chapter("03_deblur_study", values)
    calls = []
    monkeypatch.setattr(chapter_module, "evaluate", lambda *args, **kw: calls.append(kw) or evaluate(*args, **kw))
    grid = degradation_grid([10.0])
    first = chapter.evaluate("rows", {"net": conv(0)}, leaves, grid, lpips=False, st_lpips=False)
    assert calls[0]["sizes"] == [chapter.config.eval_size] and calls[0]["seed"] == chapter.config.seed
    again = chapter.evaluate("rows", {"net": conv(0)}, leaves, grid, lpips=False, st_lpips=False)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(again, first, check_exact=True)
    chapter.evaluate("rows", {"net": conv(1)}, leaves, grid, lpips=False, st_lpips=False)  # retrained
    assert len(calls) == 2 and len(list((tmp_path / "evaluations").glob("rows.*.csv"))) == 1
    dataclasses.replace(chapter, fresh=True).evaluate("rows", {"net": conv(1)}, leaves, grid, lpips=False,
                                                      st_lpips=False)
    assert len(calls) == 3


def test_a_chapter_scores_again_when_a_kernel_changes_under_the_same_address(leaves, tmp_path, monkeypatch):
    """Issue 30, item 3: the fingerprint hashed a kernel's address ("big:0"), so rows scored on one machine's
    kernels were read back on another machine that drew different ones."""
    from rstor_core.degradation import degrade

    values = {**parameters_cell("03_deblur_study"), "profile": "smoke", "output_dir": str(tmp_path),
              "recipe_trials": [], "first_recipe": [], "scaling_steps": [], "long_runs": [], "device": "cpu", "eval_size": 32}
    chapter = open_chapter("03_deblur_study", values)
    calls = []
    monkeypatch.setattr(chapter_module, "evaluate", lambda *args, **kw: calls.append(kw) or evaluate(*args, **kw))
    grid = degradation_grid([], ["big:0"], blur_sigma=1.0)
    first = chapter.evaluate("rows", {"net": conv(0)}, leaves, grid, lpips=False, st_lpips=False)
    banks = dict(degrade.stored_banks())
    banks["big"] = banks["big"].flip(-1)  # other bytes, same address
    monkeypatch.setattr(degrade, "stored_banks", lambda: banks)
    second = chapter.evaluate("rows", {"net": conv(0)}, leaves, grid, lpips=False, st_lpips=False)
    assert len(calls) == 2 and not np.array_equal(first.psnr, second.psnr)


def test_the_scoring_code_is_its_syntax_tree_so_a_docstring_or_comment_edit_keeps_the_rows():
    code = 'def psnr(x):\n    """Peak signal."""\n    return 10 * x  # decibels\n'
    documented = 'def psnr(x):\n    """Peak signal-to-noise ratio, in dB:\n    why it is so."""\n\n    return (10 * x)\n'
    assert memo.code_tree(code) == memo.code_tree(documented) == memo.code_tree("def psnr(x):\n    return 10*x\n")
    assert memo.code_tree(code) != memo.code_tree(code.replace("10", "20"))  # what it computes: a miss
    assert memo.code_tree(code) != memo.code_tree(code.replace("return", "x = 1\n    return"))
    assert memo.code_tree('X = "a string"\n') != memo.code_tree("X = 1\n")  # a string that is not a docstring counts


def test_the_scoring_code_reads_every_scoring_module():
    import importlib.util

    assert all(importlib.util.find_spec(module) is not None
               for module in (*memo.SCORING_MODULES, *memo.PAIR_SCORING_MODULES))
    assert len(memo.scoring_code()) == 64 != len(set(memo.SCORING_MODULES) & set(memo.PAIR_SCORING_MODULES))
    assert memo.scoring_code() != memo.scoring_code(*memo.PAIR_SCORING_MODULES)  # pairs' code: only pairs' rows
