"""The chapter layer: each parameters cell lists its section's knobs with the quick profile's
values, and the opener checks papermill values exactly like a profile, before any work."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import jupytext
import pytest
import torch
from conftest import ROOT

from rstor_core.book.chapter import RUNNER_PARAMETERS, open_chapter
from rstor_core.book.site import toc_chapters
from rstor_core.networks.models import model_from_config
from rstor_core.networks.train import validation_input_psnr
from rstor_core.settings.chapters import CHAPTER_SECTIONS
from rstor_core.settings.profiles import ProfileError, as_parameters, load_profile

CHAPTERS = toc_chapters(ROOT)
MAX_CODE_LINES = 120
MAX_LINE_LENGTH = 100  # characters: a line of the folded code reads without scrolling sideways
# Chapters whose code another branch rewraps: expected to fail until it merges (strict: then the mark must go).


def parameters_cell(name: str) -> dict:
    """The literal values assigned in a chapter's parameters cell."""
    notebook = jupytext.read(ROOT / "book" / f"{name}.py")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body}


def code_lines_of(name: str) -> list[str]:
    """The lines of a chapter's code cells that hold code: neither blank nor a comment alone."""
    notebook = jupytext.read(ROOT / "book" / f"{name}.py")
    return [line for cell in notebook.cells if cell.cell_type == "code" for line in cell.source.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def code_lines(name: str) -> int:
    return len(code_lines_of(name))


@pytest.mark.parametrize("name", CHAPTERS)
def test_parameters_cell_defaults_are_the_quick_profile(name):
    cell = parameters_cell(name)
    expected = {**RUNNER_PARAMETERS, **as_parameters(load_profile("quick").section(name))}
    assert cell == expected, {k: (cell.get(k), v) for k, v in expected.items() if cell.get(k) != v}


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_a_section_and_stays_narrative(name):
    assert name in CHAPTER_SECTIONS
    assert code_lines(name) <= MAX_CODE_LINES


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_code_lines_fit_100_characters(name):
    """Unfolded in the HTML (or read in JupyterLab), a code line fits the page without scrolling sideways."""
    too_long = [line for line in code_lines_of(name) if len(line) > MAX_LINE_LENGTH]
    assert not too_long, [f"{len(line)}: {line.strip()[:60]}" for line in too_long]


FOLDED = {"hide-input", "remove-input", "remove-cell"}


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_book_shows_the_argument_and_folds_the_code(name):
    """The HTML reads as a study: code is one click away, never in the way (>= 80 % folded or removed)."""
    cells = [c for c in jupytext.read(ROOT / "book" / f"{name}.py").cells if c.cell_type == "code"]
    folded = [c for c in cells if FOLDED & set(c.metadata.get("tags", []))]
    assert len(folded) >= 0.8 * len(cells), [c.source.splitlines()[0] for c in cells if c not in folded]
    live = [c for c in cells if "chapter.live_widgets" in c.source]
    assert all("player(" in c.source for c in live)  # the static HTML gets a player where JupyterLab has sliders


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_has_alt_text(name):
    """A screen reader (and a broken image) says what the figure shows, not a hash file name."""
    lines = (ROOT / "book" / f"{name}.py").read_text().splitlines()
    figures = [i for i, line in enumerate(lines) if line.startswith("# ```{glue:figure}")]
    assert all(lines[i + 1].startswith("# :alt: ") and len(lines[i + 1]) > 30 for i in figures), name


def test_the_opener_builds_the_typed_section_from_the_cell_values(tmp_path):
    values = {**parameters_cell("03_deblur_study"), "n_kernels": 8, "output_dir": str(tmp_path)}
    chapter = open_chapter("03_deblur_study", values)
    assert chapter.config.n_kernels == 8 and chapter.output_dir == tmp_path
    assert chapter.device.type in ("cpu", "cuda") and chapter.profile.name == "quick"
    assert chapter.experiment(chapter.config.motion_arms["natural"]).blur == "motion"


@pytest.mark.parametrize("override, key, allowed", [
    ({"n_kernels": 40}, "deblur_study.n_kernels", "<= 32"),
    ({"n_kernels": "8"}, "deblur_study.n_kernels", "expected int"),
    ({"classical": "magic"}, "deblur_study.classical", "'richardson_lucy'"),
    ({"motion_arms": {"dead leaves": "deblur_dead_leaves", "natural": "nope"}}, "motion_arms.natural",
     "no experiment 'nope'"),
    ({"test_images": "no/such/folder"}, "test_images", "does not exist"),
    ({"device": "cuda:7"} if not __import__("torch").cuda.is_available() else {"device": "tpu"}, "device", "cuda"),
])
def test_a_bad_cell_value_raises_the_profile_error_naming_the_key(override, key, allowed):
    with pytest.raises(ProfileError) as err:
        open_chapter("03_deblur_study", {**parameters_cell("03_deblur_study"), **override})
    message = str(err.value)
    assert "parameters of chapter 03_deblur_study" in message and key in message and allowed in message


def test_cross_validation_accepts_sigmas_without_25():
    chapter = open_chapter("04_cross_validation", {**parameters_cell("04_cross_validation"), "sigmas": [15, 50]})
    assert chapter.config.sigmas == (15.0, 50.0)


def test_trained_model_trains_once_per_run_even_when_fresh(tmp_path):
    from rstor_core.networks.checkpoints import MODEL_FILE

    values = {**parameters_cell("04_cross_validation"), "profile": "smoke", "output_dir": str(tmp_path)}
    chapter = open_chapter("04_cross_validation", {**values, "fresh": True})
    tiny = dataclasses.replace(chapter.experiment("denoise_dead_leaves"), steps=2, val_every=1, checkpoint_every=1)
    chapter.profile.experiments["denoise_dead_leaves"] = tiny
    chapter.trained_model("denoise_dead_leaves")
    written = (chapter.checkpoint_dir("denoise_dead_leaves") / MODEL_FILE).stat().st_mtime_ns
    chapter.trained_model("denoise_dead_leaves")  # same run: loaded, not retrained
    assert (chapter.checkpoint_dir("denoise_dead_leaves") / MODEL_FILE).stat().st_mtime_ns == written
    with pytest.raises(KeyError, match="no experiment 'other'"):
        chapter.trained_model("other")


def _tiny_chapter(tmp_path, **values):
    """Chapter 04 on the smoke profile, its experiments cut to two steps."""
    values = {**parameters_cell("04_cross_validation"), "profile": "smoke", "output_dir": str(tmp_path), **values}
    chapter = open_chapter("04_cross_validation", values)
    for name, experiment in chapter.profile.experiments.items():
        chapter.profile.experiments[name] = dataclasses.replace(experiment, steps=2, val_every=1, checkpoint_every=1)
    return chapter


def test_trained_models_train_run_0_in_the_experiment_folder_and_each_other_run_beside_it(tmp_path):
    import torch

    from rstor_core.networks.checkpoints import MODEL_FILE, read_checkpoint

    chapter = _tiny_chapter(tmp_path)
    models = chapter.trained_models("denoise_dead_leaves", 3)
    folders = [tmp_path / "checkpoints" / name for name in
               ("denoise_dead_leaves", "denoise_dead_leaves.run1", "denoise_dead_leaves.run2")]
    assert [chapter.checkpoint_dir("denoise_dead_leaves", run) for run in range(3)] == folders
    assert [read_checkpoint(folder / MODEL_FILE)[1].run for folder in folders] == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f.name for f in folders]
    weights = [next(iter(model.state_dict().values())) for model in models]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])


def test_training_curves_carry_the_run_of_each_log(tmp_path):
    chapter = _tiny_chapter(tmp_path)
    chapter.trained_models("denoise_dead_leaves", 2)
    curves = chapter.training_curves({"dead leaves": "denoise_dead_leaves"}, runs=2)
    assert curves.groupby("run").step.max().to_dict() == {0: 2, 1: 2}
    assert set(curves.experiment) == {"dead leaves"}


def test_unseen_photos_restrict_each_natural_run_to_its_fold_and_leave_dead_leaves_on_every_photo(tmp_path):
    chapter = _tiny_chapter(tmp_path)
    arms = {"dead leaves": "denoise_dead_leaves", "natural": "denoise_natural"}
    assert chapter.unseen_photos(arms, 3, "skimage") == {("natural", 0): ("chelsea", "coffee"),
                                                         ("natural", 1): ("astronaut", "motorcycle"),
                                                         ("natural", 2): ("rocket",)}


def test_comparable_photos_are_those_every_arm_has_a_network_that_never_saw_them(tmp_path):
    chapter = _tiny_chapter(tmp_path)
    arms = {"dead leaves": "denoise_dead_leaves", "natural": "denoise_natural"}
    photos = {name: name for name in ("chelsea", "coffee", "astronaut", "motorcycle", "rocket")}
    one_run = chapter.comparable_photos(photos, chapter.unseen_photos(arms, 1, "skimage"), arms, 1)
    assert list(one_run) == ["chelsea", "coffee"]  # the natural run 0 trained on the other three
    assert list(chapter.comparable_photos(photos, chapter.unseen_photos(arms, 3, "skimage"), arms, 3)) == list(photos)


def test_comparable_photos_of_one_run_are_those_no_first_network_saw(tmp_path):
    chapter = _tiny_chapter(tmp_path)
    arms = {"dead leaves": "denoise_dead_leaves", "natural": "denoise_natural"}
    photos = {name: name for name in ("chelsea", "coffee", "astronaut", "motorcycle", "rocket")}
    assert list(chapter.comparable_photos(photos, chapter.unseen_photos(arms, 3, "skimage"), arms, 1)) == ["chelsea",
                                                                                                   "coffee"]


def test_compare_arms_scores_each_network_on_the_photos_it_never_saw_among_the_comparable_ones(tmp_path):
    chapter = _tiny_chapter(tmp_path)
    arms = {"dead leaves": "denoise_dead_leaves", "natural": "denoise_natural"}
    calls = []
    chapter.evaluate = lambda name, models, photos, grid, **options: calls.append((name, models, photos, options))
    chapter.compare_arms("04_x", arms, ["grid"], models={"m": "networks"}, runs=1, lpips=False)
    name, models, photos, options = calls[0]
    assert (name, models, list(photos)) == ("04_x", {"m": "networks"}, ["chelsea", "coffee"])
    assert list(options) == ["test_set", "lpips", "photos_of"]  # in order: the rows' fingerprint reads it
    assert options["photos_of"] == {("natural", 0): ("chelsea", "coffee")} and options["test_set"] == "natural"
    assert list(chapter.arm_photos(arms, runs=1)) == ["chelsea", "coffee"]


def test_a_fresh_list_retrains_only_the_experiments_it_names(tmp_path):
    from rstor_core.networks.checkpoints import MODEL_FILE

    values = {**parameters_cell("04_cross_validation"), "profile": "smoke", "output_dir": str(tmp_path)}
    first = open_chapter("04_cross_validation", values)
    for name in ("denoise_dead_leaves", "denoise_natural"):
        first.profile.experiments[name] = dataclasses.replace(first.experiment(name), steps=2, val_every=1,
                                                              checkpoint_every=1)
        first.trained_model(name)
    written = {name: (first.checkpoint_dir(name) / MODEL_FILE).stat().st_mtime_ns
               for name in ("denoise_dead_leaves", "denoise_natural")}
    chapter = open_chapter("04_cross_validation", {**values, "fresh": ["denoise_natural"]})
    chapter.profile.experiments.update(first.profile.experiments)
    for name in written:
        chapter.trained_model(name)
    assert (chapter.checkpoint_dir("denoise_dead_leaves") / MODEL_FILE).stat().st_mtime_ns == written["denoise_dead_leaves"]
    assert (chapter.checkpoint_dir("denoise_natural") / MODEL_FILE).stat().st_mtime_ns != written["denoise_natural"]


def test_logged_trials_reads_trained_runs_and_says_how_to_train_the_others_without_training_them(tmp_path):
    from rstor_core.networks.checkpoints import MODEL_FILE

    values = {**parameters_cell("03_deblur_study"), "profile": "smoke", "output_dir": str(tmp_path),
              "recipe_trials": ["deblur_dead_leaves"], "first_recipe": [], "scaling_steps": [10], "long_runs": []}
    chapter = open_chapter("03_deblur_study", values)
    chapter.profile.experiments["deblur_dead_leaves"] = dataclasses.replace(
        chapter.experiment("deblur_dead_leaves"), steps=2, val_every=1, checkpoint_every=1, snapshots=())
    chapter.trained_model("deblur_dead_leaves")  # run 0 only
    read, left_out = chapter.logged_trials(["deblur_dead_leaves", "deblur_natural"])
    assert list(read) == ["deblur_dead_leaves"] and len(read["deblur_dead_leaves"][2]) == 1
    assert read["deblur_dead_leaves"][1].step.max() == 2  # run 0's log
    assert left_out == {"deblur_natural": "not trained: `python -m rstor_core train --profile smoke --experiment "
                                          "deblur_natural --run 0`"}  # a code span: the book shows it as code
    assert not chapter.checkpoint_dir("deblur_natural").exists()  # read only: nothing trained
    read, left_out = chapter.logged_trials(["deblur_dead_leaves"], runs=2)  # run 1 is missing
    assert not read and "--run 1" in left_out["deblur_dead_leaves"]
    chapter.profile.experiments["deblur_dead_leaves"] = dataclasses.replace(
        chapter.experiment("deblur_dead_leaves"), lr=0.5)  # the profile changed since it trained
    _, left_out = chapter.logged_trials(["deblur_dead_leaves"])
    assert left_out["deblur_dead_leaves"].startswith("trained with another configuration")
    assert (chapter.checkpoint_dir("deblur_dead_leaves") / MODEL_FILE).is_file()


def test_training_facts_say_what_the_prose_says_of_an_experiments_training():
    chapter = open_chapter("03_deblur_study", parameters_cell("03_deblur_study"))
    config = chapter.experiment("deblur_gaussian_dead_leaves")
    facts = chapter.training_facts("deblur_gaussian_dead_leaves", prefix="gaussian_")
    network = model_from_config(config.model)
    assert facts == {"gaussian_steps": config.steps, "gaussian_batch": config.batch_size, "gaussian_crop": config.crop,
                     "gaussian_noise_max": f"{config.noise[1]:g}", "gaussian_blur_sigma": "0.5-3",
                     "gaussian_parameters": f"{sum(p.numel() for p in network.parameters()):,}"}
    assert chapter.ours == "ours (quick, skimage)"
    baselines = chapter.validation_baselines({"a": "deblur_dead_leaves", "b": "deblur_natural"}, runs=2)
    assert list(baselines) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert baselines["a", 0] != baselines["b", 0] and baselines["a", 0] != baselines["a", 1]  # each run's own draws
    assert baselines["a", 1] == validation_input_psnr(chapter.experiment("deblur_dead_leaves", 1))


def test_trained_arms_are_each_experiments_runs_under_its_label(tmp_path):
    values = {**parameters_cell("02_denoise_study"), "profile": "smoke", "output_dir": str(tmp_path)}
    chapter = open_chapter("02_denoise_study", values)
    for name in ("denoise_dead_leaves", "denoise_natural"):
        chapter.profile.experiments[name] = dataclasses.replace(chapter.experiment(name), steps=1, val_every=1,
                                                                checkpoint_every=1, snapshots=())
    arms = chapter.trained_arms({"dl": "denoise_dead_leaves", "nat": "denoise_natural"}, runs=2)
    assert list(arms) == ["dl", "nat"] and all(len(networks) == 2 for networks in arms.values())
    assert not torch.equal(next(arms["dl"][0].parameters()), next(arms["dl"][1].parameters()))  # other draws


def test_a_chapter_run_by_hand_writes_into_scratch_unless_asked_to_publish():
    """Issue 32: a chapter run from JupyterLab wrote straight into the committed outputs/quick/."""
    from rstor_core.book.chapter import SCRATCH_DIR

    defaults = parameters_cell("04_cross_validation")
    by_hand = open_chapter("04_cross_validation", {**defaults, "device": "cpu"})
    assert by_hand.tables == SCRATCH_DIR / "quick" / "tables" and by_hand.output_dir == Path("outputs/quick")
    published = open_chapter("04_cross_validation", {**defaults, "device": "cpu", "publish": True})
    assert published.figures == Path("outputs/quick/figures")
    runner = open_chapter("04_cross_validation", {**defaults, "device": "cpu", "staging_dir": "outputs/quick/.x"})
    assert runner.figures == Path("outputs/quick/.x/figures")
