"""Profiles are validated before any work: bad keys, types and ranges exit 2 naming key and file."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from rstor_core.settings.chapters import DataGenerationConfig, sections_naming
from rstor_core.settings.configs import NAFNetConfig
from rstor_core.settings.profiles import ProfileError, load_profile


@pytest.mark.parametrize("name", ["smoke", "quick", "paper"])
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert profile.name == name
    assert isinstance(profile.data_generation, DataGenerationConfig)
    assert len(profile.sha256) == 64


def test_profile_values_reach_the_dataclasses():
    assert load_profile("smoke").data_generation.size == 64
    assert load_profile("smoke").experiments["deblur_natural"].blur == "motion"


@pytest.mark.parametrize("name", ["data_generation", "denoise_study", "deblur_study", "cross_validation", "gap_study"])
def test_the_dataclass_defaults_are_the_quick_profile(name):
    """One default per knob: a key left out of a profile means what the quick profile says; arms have none
    (which networks a chapter compares is the profile's to say, so a new arm is a line of the profile)."""
    section = getattr(load_profile("quick"), name)
    arms = {f.name for f in dataclasses.fields(section) if f.metadata.get("arms")}
    assert dataclasses.replace(section, **{key: {} for key in arms}) == type(section)()
    assert all(getattr(type(section)(), key) == {} for key in arms)


def test_a_folder_that_does_not_exist_is_not_a_profile_error(tmp_path):
    """Whether a folder exists is a property of the machine: the paper profile names DIV2K folders that
    only some machines have. The chapter opener and the trainer check them before using them."""
    path = _write(tmp_path, "data_generation:\n  natural_images: no/such/folder\n")
    assert load_profile(path).data_generation.natural_images == "no/such/folder"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, key, allowed", [
    ("data_generation:\n  sise: 64\n", "data_generation.sise", "allowed keys"),
    ("data_generation:\n  size: big\n", "data_generation.size", "expected int"),
    ("data_generation:\n  size: -64\n", "data_generation.size", ">= 8"),
    ("data_generation:\n  size: 64.0\n", "data_generation.size", "expected int"),
    ("data_generation:\n  dead_leaves: {alpha: 1}\n", "data_generation.dead_leaves.alpha", "> 1.0"),
    ("data_generation:\n  dead_leaves: {r_min: 5, r_max: 2}\n", "data_generation.dead_leaves.r_min", "must be < r_max"),
    ("data_generation:\n  dead_leaves: {colour: pink}\n", "data_generation.dead_leaves.colour", "'saturated'"),
    ("data_generation:\n  dead_leaves: {anisotropy: [0.5]}\n", "data_generation.dead_leaves.anisotropy",
     "expected a list of 2"),
    ("data_generation:\n  dead_leaves: {shapes: {disc: 0}}\n", "data_generation.dead_leaves.shapes",
     "sum to a positive number"),
    ("data_generation:\n  dead_leaves: {shapes: {circle: 1}}\n", "data_generation.dead_leaves.shapes.circle",
     "allowed keys"),
    ("denoise:\n  steps: 3\n", "denoise", "allowed sections"),
    ("deblur_study:\n  classical: magic\n", "deblur_study.classical", "'richardson_lucy'"),
    ("deblur_study:\n  n_kernels: 33\n", "deblur_study.n_kernels", "<= 32"),
    ("deblur_study:\n  n_kernels: 4\n  grid_kernel: 4\n", "deblur_study.grid_kernel", "< n_kernels"),
    ("denoise_study: {dead_leaves_experiment: x, primitives_experiment: x, natural_experiment: x}\n"
     "cross_validation: {dead_leaves_experiment: x, natural_experiment: x}\n"
     "deblur_study: {motion_arms: {dead leaves: x, natural: nope}, gaussian_arms: {dead leaves: x, natural: x}}\n"
     "experiments:\n  x: {}\n", "deblur_study.motion_arms.natural", "no experiment 'nope'"),
    ("deblur_study:\n  motion_arms: {natural: a, dead leaves: b}\n", "deblur_study.motion_arms",
     "'dead leaves' then 'natural'"),
])
def test_bad_profile_raises_naming_file_key_and_allowed(tmp_path, text, key, allowed):
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    message = str(err.value)
    assert str(path) in message and key in message and allowed in message


def test_bool_is_not_accepted_as_an_integer(tmp_path):
    with pytest.raises(ProfileError, match="data_generation.seed: expected int"):
        load_profile(_write(tmp_path, "data_generation:\n  seed: true\n"))


def test_a_profile_name_outside_the_repository_says_where_to_run_from(tmp_path, monkeypatch):
    """Issue 12, item 12: from another folder the error said "known profiles: []"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError, match="run from the repository root, or give the profile's path"):
        load_profile("smoke")


def test_an_empty_profile_says_it_means_the_quick_defaults(tmp_path, caplog):
    profile = load_profile(_write(tmp_path, ""))
    quick = load_profile("quick").deblur_study
    assert profile.deblur_study == dataclasses.replace(quick, motion_arms={}, gaussian_arms={})
    assert "is empty: every knob takes its default" in caplog.text and "arms have no default" in caplog.text


def test_missing_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match="known profiles: .*quick"):
        load_profile("no_such_profile")


@pytest.mark.parametrize("command", ["check-profile", "book"])
def test_cli_exits_2_and_writes_nothing_on_a_bad_profile(tmp_path, command):
    path = _write(tmp_path, "data_generation:\n  size: -64\n")
    outputs = tmp_path / "outputs"
    args = [path] if command == "check-profile" else ["--profile", path, "--outputs", outputs]
    result = subprocess.run([sys.executable, "-m", "rstor_core", command, *map(str, args)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "data_generation.size" in result.stderr and str(path) in result.stderr
    assert not outputs.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_cli_check_profile_accepts_a_good_profile():
    result = subprocess.run([sys.executable, "-m", "rstor_core", "check-profile", "parameters/quick.yaml"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_book_cli_rejects_a_device_this_machine_lacks_before_any_work(tmp_path, capsys):
    import torch

    from rstor_core.__main__ import main

    device = "tpu" if torch.cuda.is_available() else "cuda:3"
    assert main(["book", "--profile", "smoke", "--outputs", str(tmp_path), "--device", device]) == 2
    assert device in capsys.readouterr().err and not list(tmp_path.iterdir())


@pytest.mark.parametrize("text, key, lines", [
    ("data_generation:\n  size: 64\n  seed: 1\n  size: 32\n", "'size' in data_generation", "lines 2 and 4"),
    ("data_generation:\n  size: 64\ndata_generation:\n  size: 32\n", "'data_generation' at the top level",
     "lines 1 and 3"),
    ("experiments:\n  x:\n    model: {nafnet: {width: 8, width: 16}}\n", "'width' in experiments.x.model.nafnet",
     "lines 3 and 3"),
])
def test_a_duplicate_key_is_refused_naming_it_and_its_lines(tmp_path, text, key, lines):
    """Issue 12, item 10: YAML kept the last of two equal keys silently."""
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError, match=f"duplicate key {key}") as err:
        load_profile(path)
    assert lines in str(err.value) and str(path) in str(err.value)


# Chapter sections that name only experiments ``a`` and ``b``, so a test profile may define just those.
_USE_A_AND_B = ("denoise_study: {dead_leaves_experiment: a, primitives_experiment: a, natural_experiment: b}\n"
                "cross_validation: {dead_leaves_experiment: a, natural_experiment: b}\n"
                "deblur_study: {motion_arms: {dead leaves: a, natural: b}, gaussian_arms: {dead leaves: a, natural: b},"
                " recipe_trials: [], first_recipe: [], scaling_steps: [],"
                " long_runs: []}\n"
                "gap_study: " + json.dumps(sections_naming("a")["gap_study"], ensure_ascii=False) + "\n")


def test_a_merge_key_may_override_what_it_merges(tmp_path):
    """``<<: *anchor`` then a key of the anchor is an override (the paper profile's experiments), not a duplicate."""
    path = _write(tmp_path, _USE_A_AND_B + "experiments:\n  a: &base {steps: 10, lr: 0.01}\n  b:\n    <<: *base\n"
                  "    steps: 20\n")
    experiments = load_profile(path).experiments
    assert (experiments["a"].steps, experiments["b"].steps, experiments["b"].lr) == (10, 20, 0.01)


def test_a_new_arm_of_chapter_05_is_a_line_of_the_profile_and_is_trained_with_the_others(tmp_path):
    """Issue 33: a compared network is ``label: experiment`` under the section's arms; the profile checks it
    names weights it trains and the chapter trains it with the arms it already had."""
    text = (ROOT / "parameters" / "smoke.yaml").read_text()
    added = text.replace("    natural: denoise_natural@50\n",
                         "    oriented leaves: denoise_oriented\n    natural: denoise_natural@50\n", 1)
    added += "  denoise_oriented:\n    <<: *smoke_denoise\n    dead_leaves: {anisotropy: [0.5, 1.0]}\n"
    profile = load_profile(_write(tmp_path, added))
    assert list(profile.gap_study.ablation_arms)[-2:] == ["oriented leaves", "natural"]
    assert "denoise_oriented" in profile.chapter_experiments("05_closing_the_gap")
    with pytest.raises(ProfileError, match="ablation_arms.oriented leaves.*denoise_elsewhere"):
        load_profile(_write(tmp_path, added.replace("leaves: denoise_oriented", "leaves: denoise_elsewhere")))


def test_a_chapter_that_compares_arms_refuses_a_profile_naming_none_before_any_work(tmp_path):
    from rstor_core.book.chapter import open_chapter
    from rstor_core.book.runner import run_book

    path = tmp_path / "bare.yaml"
    path.write_text("data_generation:\n  size: 64\n")  # chapter 01 runs on it, chapters 03 and 05 do not
    with pytest.raises(ProfileError, match="ablation_arms: names no network to compare") as err:
        open_chapter("05_closing_the_gap", {"profile": str(path)})
    assert "gap_study.ablation_arms" in str(err.value) and "pretraining_arms" in str(err.value)
    with pytest.raises(ValueError, match="deblur_study.motion_arms: names no network for chapter 03"):
        run_book(load_profile(path), root=ROOT, outputs_root=tmp_path / "outputs", build=False)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("old, new, key, says", [
    ("    flat discs: denoise_dead_leaves@50\n    original-study preset: denoise_original_study\n"
     "    anti-aliased discs: denoise_antialiased\n    photo colours: denoise_natural_colours\n"
     "    primitives + looks: denoise_primitives@50\n", "", "gap_study.ablation_arms", "at least 3 arms"),
    ("    dead leaves → 1 photo: denoise_finetuned_one_photo\n", "", "gap_study.pretraining_arms", "needs 4 arms"),
    ("    natural: deblur_natural\n    dead leaves → natural: deblur_finetuned\n",
     "    photos: deblur_natural\n    dead leaves → natural: deblur_finetuned\n", "gap_study.deblur_arms",
     "labels of the first three pretraining_arms"),
])
def test_arms_of_the_wrong_shape_are_refused_naming_the_section_key(tmp_path, old, new, key, says):
    text = (ROOT / "parameters" / "smoke.yaml").read_text()
    assert old in text
    with pytest.raises(ProfileError, match=says) as err:
        load_profile(_write(tmp_path, text.replace(old, new, 1)))
    assert key in str(err.value)


@pytest.mark.parametrize("text, key", [
    ("data_generation:\n  n_radii: 100000000000000\n", "data_generation.n_radii"),
    ("data_generation:\n  dead_leaves: {n_leaves: 100000000000}\n", "data_generation.dead_leaves.n_leaves"),
    ("data_generation:\n  dead_leaves: {ds_factor: 2, aa_sigma: 1.0e+9}\n", "data_generation.dead_leaves.aa_sigma"),
    ("experiments:\n  a: {steps: 100000000000}\n  b: {}\n", "experiments.a.steps"),
    ("experiments:\n  a: {model: {nafnet: {width: 100000}}}\n  b: {}\n", "experiments.a.model.nafnet.width"),
    ("experiments:\n  a: {model: {nafnet: {enc_blk_nums: [1, 1, 100000], dec_blk_nums: [1, 1, 1]}}}\n  b: {}\n",
     "experiments.a.model.nafnet.enc_blk_nums"),
    ("experiments:\n  a: {model: {stacked_conv: {depth: 100000}}}\n  b: {}\n",
     "experiments.a.model.stacked_conv.depth"),
])
def test_an_absurd_size_or_count_is_refused_naming_the_key(tmp_path, text, key):
    """Issue 12, item 10: one YAML value must not run for ever or exhaust memory."""
    with pytest.raises(ProfileError, match="out of range; allowed: .*<= ") as err:
        load_profile(_write(tmp_path, (_USE_A_AND_B if "experiments" in text else "") + text))
    assert key in str(err.value)


@pytest.mark.parametrize("path", sorted((ROOT / "parameters").glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_profile_passes_check_profile_within_the_bounds(path):
    from rstor_core.__main__ import main

    assert main(["check-profile", str(path)]) == 0


def test_a_source_folder_without_a_readable_image_is_refused_before_any_chapter_runs(tmp_path):
    """Issue 12, item 2's reproduction (an empty natural_images folder): refused before the outputs folder
    exists, instead of failing in a chapter's cell."""
    from rstor_core.book.runner import run_book
    from rstor_core.images.sources import missing_sources
    from rstor_core.settings.chapters import DataGenerationConfig

    empty = tmp_path / "photos"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    [problem] = missing_sources(DataGenerationConfig(natural_images=str(empty)))
    assert problem.startswith("natural_images: ") and "no readable image" in problem
    path = tmp_path / "mine.yaml"
    path.write_text(f"data_generation:\n  natural_images: {empty}\n")
    with pytest.raises(ValueError, match="data_generation.natural_images"):
        run_book(load_profile(path), chapters=["01"], outputs_root=tmp_path / "out", build=False)
    assert not (tmp_path / "out").exists()


def test_the_paper_profile_is_the_original_studys_runs():
    """Issue 16: width 64, blocks [1, 1, 1, 28] / 1 / [1, 1, 1, 1], 256² crops, batch 8, about 30 epochs on a
    plateau schedule, MSE; dead leaves from the original_study preset, natural photos and tests on DIV2K."""
    profile = load_profile("paper")
    for name in ("denoise_dead_leaves", "denoise_natural", "deblur_dead_leaves", "deblur_natural"):
        experiment = profile.experiments[name]
        assert experiment.model.nafnet == NAFNetConfig(width=64, middle_blk_num=1, enc_blk_nums=(1, 1, 1, 28),
                                                       dec_blk_nums=(1, 1, 1, 1))
        assert (experiment.crop, experiment.batch_size, experiment.loss, experiment.schedule) == (256, 8, "mse",
                                                                                                  "plateau")
        assert 13_500 <= experiment.steps <= 15_000
    dead_leaves = profile.experiments["denoise_dead_leaves"].dead_leaves
    assert (dead_leaves.colour, dead_leaves.ds_factor, dead_leaves.background) == ("photo", 5, (0.2, 0.4, 0.6))
    assert profile.experiments["denoise_natural"].natural_images == "div2k"
    assert profile.denoise_study.test_images == "div2k_valid" and profile.denoise_study.eval_size == 512
