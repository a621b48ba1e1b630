"""The command line as a careful user meets it (issue 12): unique model names, the profiles' bounds,
one-line errors with exit 2 before anything is written, and help that says what each command does."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from train_helpers import TINY, flip_a_weight_byte

from rstor_core.__main__ import main
from rstor_core.degradation.degrade import BANKS
from rstor_core.measurement.rows import INPUT
from rstor_core.networks.evaluate import Degradation, evaluate


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny trained model.pt (two steps), copied wherever a test needs one."""
    from rstor_core.networks.runs import train_experiment
    from rstor_core.settings.configs import ExperimentConfig

    out = tmp_path_factory.mktemp("trained") / "tiny"
    return train_experiment(ExperimentConfig(**{**TINY, "steps": 2}), out, device="cpu", progress=False)


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """A folder this process cannot write into: mode 555, or for root (who ignores modes) one under /proc."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
    elif Path("/proc/self").is_dir():
        yield Path("/proc/rstor-read-only")
    else:
        pytest.skip("running as root without /proc: no folder is read-only here")


def place(checkpoint: Path, *parts: str) -> Path:
    """A copy of ``checkpoint`` at ``parts`` (e.g. tmp_path, "a", "net", "model.pt")."""
    path = Path(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint, path)
    return path


def infer(checkpoints: list[Path], out: Path, *options: str) -> int:
    return main(["infer", "--checkpoints", *map(str, checkpoints), "--images", "skimage", "--sizes", "32",
                 "--sigmas", "5", "--n", "1", "--no-lpips", "--device", "cpu", "--out", str(out), *options])


def one_error_line(err: str) -> str:
    """The single ``error:`` line of stderr (no traceback, no second error)."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


# --- item 7: every checkpoint gets its own row name -----------------------------------------------

def test_checkpoints_in_folders_of_one_name_are_told_apart_by_their_parent_folders(checkpoint, tmp_path):
    a, b = place(checkpoint, tmp_path, "a", "net", "model.pt"), place(checkpoint, tmp_path, "b", "net", "model.pt")
    assert infer([a, b], tmp_path / "r.csv") == 0
    table = pd.read_csv(tmp_path / "r.csv")
    assert table.model.value_counts().to_dict() == {INPUT: 1, "a/net": 1, "b/net": 1}


def test_a_checkpoint_folder_named_input_is_not_merged_into_the_degraded_input_rows(checkpoint, tmp_path):
    ours = place(checkpoint, tmp_path, "runs", "input", "model.pt")
    assert infer([ours], tmp_path / "r.csv") == 0
    table = pd.read_csv(tmp_path / "r.csv")
    assert table.model.value_counts().to_dict() == {INPUT: 1, "runs/input": 1}


def test_model_names_take_the_shortest_path_suffix_that_tells_checkpoints_apart():
    from rstor_core.networks.evaluate import model_names

    paths = [Path("x/a/net/model.pt"), Path("y/a/net/model.pt"), Path("b/net/model.pt"), Path("c/solo/model.pt"),
             Path("c/other.pt")]
    assert model_names(paths) == ["x/a/net", "y/a/net", "b/net", "solo", "other"]


def test_the_same_checkpoint_given_twice_is_refused_naming_it(checkpoint, tmp_path, capsys):
    assert infer([checkpoint, checkpoint], tmp_path / "r.csv") == 2
    assert str(checkpoint) in one_error_line(capsys.readouterr().err) and not (tmp_path / "r.csv").exists()


def test_evaluate_refuses_a_model_named_like_the_degraded_input_rows():
    images = {"grey": np.full((16, 16, 3), 0.5, dtype=np.float32)}
    with pytest.raises(ValueError, match="'input'"):
        evaluate({INPUT: torch.nn.Identity()}, images, [Degradation("", 5.0)], lpips=False, progress=False)


# --- item 10: the profiles' bounds, before any work -------------------------------------------------

@pytest.mark.parametrize("option, value", [("--n", "-1"), ("--n", "0"), ("--sigmas", "nan"), ("--sigmas", "1e6"),
                                           ("--sizes", "8"), ("--seed", "-1")])
def test_infer_rejects_an_out_of_range_option_naming_it_before_writing(checkpoint, tmp_path, capsys, option, value):
    assert infer([checkpoint], tmp_path / "r.csv", option, value) == 2
    error = one_error_line(capsys.readouterr().err)
    assert option in error and value in error and not (tmp_path / "r.csv").exists()


def test_infer_rejects_a_negative_noise_after_blur(checkpoint, tmp_path, capsys):
    assert infer([checkpoint], tmp_path / "r.csv", "--blur", "small:0", "--blur-sigma", "-5") == 2
    error = one_error_line(capsys.readouterr().err)
    assert "--blur-sigma" in error and "-5" in error and not (tmp_path / "r.csv").exists()


def test_infer_rejects_a_crop_larger_than_every_test_image(checkpoint, tmp_path, capsys):
    assert infer([checkpoint], tmp_path / "r.csv", "--sizes", "100000") == 2
    assert "100000" in one_error_line(capsys.readouterr().err) and not (tmp_path / "r.csv").exists()


def save(out: Path, *options: str) -> int:
    return main(["deadleaves", "save", "--out", str(out), *options])


@pytest.mark.parametrize("option, value", [("--size", "1"), ("--size", "100000"), ("--n", "-1"), ("--seed", "-1")])
def test_deadleaves_save_rejects_an_out_of_range_option_naming_it_before_writing(tmp_path, capsys, option, value):
    options = {"--n": "2", "--size": "16", option: value}
    assert save(tmp_path / "set", *[x for pair in options.items() for x in pair]) == 2
    error = one_error_line(capsys.readouterr().err)
    assert option in error and value in error and not (tmp_path / "set").exists()


def test_deadleaves_save_refuses_an_image_that_would_not_fit_in_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("rstor_core.networks.batches.physical_memory", lambda: 2**20)
    assert save(tmp_path / "set", "--n", "1", "--size", "256") == 2
    assert "memory" in one_error_line(capsys.readouterr().err) and not (tmp_path / "set").exists()


def test_deadleaves_save_rejects_params_that_are_not_a_json_object(tmp_path, capsys):
    params = tmp_path / "params.json"
    params.write_text("[1, 2]")
    assert save(tmp_path / "set", "--n", "1", "--size", "16", "--params", str(params)) == 2
    assert "JSON object" in one_error_line(capsys.readouterr().err) and not (tmp_path / "set").exists()


def test_deadleaves_save_rejects_params_with_an_unknown_field_naming_it(tmp_path, capsys):
    params = tmp_path / "params.json"
    params.write_text('{"alphaa": 3}')
    assert save(tmp_path / "set", "--n", "1", "--size", "16", "--params", str(params)) == 2
    assert "alphaa" in one_error_line(capsys.readouterr().err) and not (tmp_path / "set").exists()


# --- item 11: one line and exit 2 instead of a traceback, checked before the work --------------------

def test_infer_rejects_a_text_file_named_model_pt_in_one_line(tmp_path, capsys):
    fake = tmp_path / "run" / "model.pt"
    fake.parent.mkdir()
    fake.write_text("not a checkpoint\n")
    assert infer([fake], tmp_path / "r.csv") == 2
    assert str(fake) in one_error_line(capsys.readouterr().err) and not (tmp_path / "r.csv").exists()


def test_infer_rejects_a_truncated_checkpoint_in_one_line(checkpoint, tmp_path, capsys):
    cut = tmp_path / "run" / "model.pt"
    cut.parent.mkdir()
    cut.write_bytes(checkpoint.read_bytes()[:1000])
    assert infer([cut], tmp_path / "r.csv") == 2
    assert str(cut) in one_error_line(capsys.readouterr().err) and not (tmp_path / "r.csv").exists()


def test_infer_refuses_an_out_that_is_a_folder_before_evaluating(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("rstor_core.networks.evaluate.evaluate", lambda *a, **k: pytest.fail("evaluated before refusing"))
    assert infer([checkpoint], tmp_path) == 2
    assert str(tmp_path) in one_error_line(capsys.readouterr().err)


def test_infer_refuses_an_out_in_a_read_only_folder(checkpoint, read_only_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("rstor_core.networks.evaluate.evaluate", lambda *a, **k: pytest.fail("evaluated before refusing"))
    assert infer([checkpoint], read_only_folder / "r.csv") == 2
    assert str(read_only_folder) in one_error_line(capsys.readouterr().err)


def test_deadleaves_save_refuses_a_read_only_folder(read_only_folder, capsys):
    assert save(read_only_folder / "set", "--n", "1", "--size", "16") == 2
    assert str(read_only_folder) in one_error_line(capsys.readouterr().err)


def profile_with(tmp_path: Path, **experiment) -> Path:
    """A profile whose one experiment, ``run`` (which every chapter names), is the tiny config with
    ``experiment`` on top."""
    import yaml

    from rstor_core.settings.chapters import sections_naming

    chapters = sections_naming("run")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**chapters, "experiments": {"run": {**TINY, **experiment}}}, sort_keys=False))
    return path


def test_train_rejects_an_image_folder_with_no_readable_image_before_training(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    profile = profile_with(tmp_path, data="natural", natural_images=str(folder))
    assert main(["train", "--profile", str(profile), "--experiment", "run", "--outputs", str(tmp_path / "out")]) == 2
    assert str(folder) in one_error_line(capsys.readouterr().err) and not (tmp_path / "out").exists()


def test_train_refuses_a_read_only_outputs_folder_before_training(tmp_path, read_only_folder, capsys):
    profile = profile_with(tmp_path)
    assert main(["train", "--profile", str(profile), "--experiment", "run", "--outputs", str(read_only_folder)]) == 2
    assert str(read_only_folder) in one_error_line(capsys.readouterr().err)


# --- item 13: help a person can act on -----------------------------------------------------------

def help_text(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", [("check-profile",), ("book",), ("train",), ("infer",), ("deadleaves", "save")])
def test_every_command_help_lists_the_exit_codes(capsys, command):
    text = " ".join(help_text(capsys, *command).split())
    assert all(f"{code} " in text for code in (0, 1, 2, 130)) and "exit codes" in text


def test_train_help_says_where_the_model_goes_that_it_resumes_and_that_force_starts_over(capsys):
    text = " ".join(help_text(capsys, "train").split())
    assert "checkpoints/<experiment>" in text and "resume" in text and "--force starts over" in text


def test_infer_help_names_every_blur_bank_and_that_sigmas_or_blur_is_required(capsys):
    text = " ".join(help_text(capsys, "infer").split())
    assert all(bank in text for bank in BANKS) and "--sigmas or --blur is required" in text and "--out" in text


def test_deadleaves_save_and_book_help_say_where_files_go(capsys):
    assert "params.json" in help_text(capsys, "deadleaves", "save")
    assert "<profile>/figures" in " ".join(help_text(capsys, "book").split())


def test_infer_scores_st_lpips_and_prints_only_the_metrics_it_measured(checkpoint, tmp_path, capsys):
    net = place(checkpoint, tmp_path, "net", "model.pt")
    assert infer([net], tmp_path / "r.csv") == 0
    assert pd.read_csv(tmp_path / "r.csv").st_lpips.notna().all()
    summary = capsys.readouterr().out.splitlines()[0]  # the header of the printed means
    assert "st_lpips" in summary and " lpips" not in summary  # --no-lpips: an all-NaN column is not shown
    assert infer([net], tmp_path / "r.csv", "--no-st-lpips") == 0
    assert pd.read_csv(tmp_path / "r.csv").st_lpips.isna().all()
    assert "st_lpips" not in capsys.readouterr().out.splitlines()[0]


# --- issue 30, item 8: values that would count twice or are not numbers ---------------------------------

@pytest.mark.parametrize("option, value, named", [("--sizes", "32,32", "32"), ("--sigmas", "25,25.0", "25"),
                                                  ("--blur", "small:0-2 small:1", "small:1")])
def test_infer_refuses_an_entry_given_twice_before_writing(checkpoint, tmp_path, capsys, option, value, named):
    """Repeated entries made duplicate rows, which the intervals counted as more photos than there are."""
    assert infer([checkpoint], tmp_path / "r.csv", option, *value.split(" ")) == 2
    error = one_error_line(capsys.readouterr().err)
    assert option in error and f"{named} is given twice" in error and not (tmp_path / "r.csv").exists()


def test_a_non_finite_value_is_refused_in_a_profile_and_in_dead_leaves_params(tmp_path, capsys):
    profile = tmp_path / "inf.yaml"
    profile.write_text(Path("parameters/smoke.yaml").read_text().replace("alpha: 3.0", "alpha: .inf", 1))
    assert main(["check-profile", str(profile)]) == 2
    assert "alpha" in one_error_line(capsys.readouterr().err)
    params = tmp_path / "params.json"
    params.write_text('{"alpha": Infinity}')
    assert save(tmp_path / "set", "--n", "1", "--size", "16", "--params", str(params)) == 2
    error = one_error_line(capsys.readouterr().err)
    assert "alpha" in error and "not a finite number" in error and not (tmp_path / "set").exists()


def test_check_profile_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    """Issue 30, item 7: `check-profile DIR` answered about a file DIR.yaml that no one named."""
    assert main(["check-profile", str(tmp_path)]) == 2
    error = one_error_line(capsys.readouterr().err)
    assert str(tmp_path) in error and "is a folder" in error and ".yaml:" not in error


def test_train_with_a_profile_of_the_same_name_elsewhere_leaves_the_owners_checkpoints_alone(tmp_path, capsys):
    """Issue 30, item 1: a copy of smoke.yaml elsewhere retrained and wrote over outputs/smoke's model.pt;
    `book` refused such an impostor, `train` never asked."""
    outputs = tmp_path / "outputs"
    folder = outputs / "smoke" / "checkpoints" / "denoise_dead_leaves"
    folder.mkdir(parents=True)
    (outputs / "smoke" / "manifest.json").write_text('{"profile_file": "parameters/smoke.yaml"}')
    (folder / "model.pt").write_bytes(b"the owner's weights")
    copy = tmp_path / "smoke.yaml"
    copy.write_text(Path("parameters/smoke.yaml").read_text())
    assert main(["train", "--profile", str(copy), "--experiment", "denoise_dead_leaves", "--outputs", str(outputs)]) == 2
    error = one_error_line(capsys.readouterr().err)
    assert "parameters/smoke.yaml" in error and "--outputs" in error
    assert sorted(p.name for p in folder.iterdir()) == ["model.pt"]
    assert (folder / "model.pt").read_bytes() == b"the owner's weights"


def test_infer_refuses_a_model_with_a_flipped_byte_before_scoring(checkpoint, tmp_path, capsys):
    """Issue 30, item 2: the probe's flipped byte changed a weight by 14.9; `infer` scored it, exit 0."""
    damaged = tmp_path / "run" / "model.pt"
    damaged.parent.mkdir()
    damaged.write_bytes(checkpoint.read_bytes())
    flip_a_weight_byte(damaged)
    assert infer([damaged], tmp_path / "r.csv") == 2
    error = one_error_line(capsys.readouterr().err)
    assert str(damaged) in error and "damaged" in error and not (tmp_path / "r.csv").exists()


def test_infer_scores_the_usable_photos_of_a_folder_and_names_the_skipped_ones(checkpoint, tmp_path, capsys, caplog):
    """Issue 30, item 5: a photo was scored, then a 1 x 1 image failed SSIM and no CSV was written; a
    truncated PNG with a valid header aborted the run, while a random-bytes .png was skipped."""
    import PIL.Image

    folder = tmp_path / "photos"
    folder.mkdir()
    photo = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    PIL.Image.fromarray(photo).save(folder / "good.png")
    PIL.Image.fromarray(photo[:1, :1]).save(folder / "dot.png")
    PIL.Image.fromarray(photo).save(folder / "cut.png")
    (folder / "cut.png").write_bytes((folder / "cut.png").read_bytes()[:200])  # the header reads, the pixels do not
    out = tmp_path / "r.csv"
    assert main(["infer", "--checkpoints", str(checkpoint), "--images", str(folder), "--sigmas", "5", "--no-lpips",
                 "--no-st-lpips", "--device", "cpu", "--out", str(out)]) == 0
    assert set(pd.read_csv(out).image) == {"good"}
    assert "cut.png" in caplog.text and "'dot' (1 x 1) is narrower than the 11 px" in caplog.text


class _Runs:
    """Unpickling calls os.getpid: a plain pickle that would run code."""

    def __reduce__(self):
        return os.getpid, ()


@pytest.mark.parametrize("damage, said", [
    (lambda data: data[:len(data) // 2], "cut short"),
    (lambda data: np.random.default_rng(0).bytes(5000), "not a PyTorch checkpoint"),
    (lambda data: __import__("pickle").dumps({"model": _Runs()}, protocol=4), "refused: loading it would call"),
], ids=["truncated", "random bytes", "plain malicious pickle"])
def test_a_bad_checkpoint_file_is_one_line_that_says_what_it_is(checkpoint, tmp_path, capsys, damage, said):
    """Issue 30, items 6 and 7: a truncated file was "cannot be read (Invalid argument)", random bytes were a
    pickle that "would call Python code", and a plain pickle printed torch's warnings before the error."""
    bad = tmp_path / "run" / "model.pt"
    bad.parent.mkdir()
    bad.write_bytes(damage(checkpoint.read_bytes()))
    with warnings.catch_warnings(record=True) as warned:  # what a terminal would show above the error
        warnings.simplefilter("always")
        assert infer([bad], tmp_path / "r.csv") == 2
    err = capsys.readouterr().err
    assert said in one_error_line(err) and len(err.strip().splitlines()) == 1, err
    assert [str(w.message) for w in warned if "torch" in w.filename] == []


def test_infer_given_an_image_file_for_images_says_it_is_a_file(checkpoint, tmp_path, capsys):
    """Issue 30, item 7: `--images a.png` answered that the image folder does not exist."""
    import PIL.Image

    PIL.Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["infer", "--checkpoints", str(checkpoint), "--images", str(tmp_path / "a.png"), "--sigmas", "5",
                 "--out", str(tmp_path / "r.csv")]) == 2
    error = one_error_line(capsys.readouterr().err)
    assert "a.png' is a file: give the folder" in error and "does not exist" not in error


def test_deadleaves_params_of_the_wrong_type_name_the_key_and_the_type(tmp_path, capsys):
    """Issue 30, item 7: `{"alpha": "3"}` gave Python's "'>' not supported between instances of 'str' and 'float'"."""
    params = tmp_path / "params.json"
    params.write_text('{"alpha": "3"}')
    assert save(tmp_path / "set", "--n", "1", "--size", "16", "--params", str(params)) == 2
    error = one_error_line(capsys.readouterr().err)
    assert "alpha: expected float, got '3' (str)" in error and "not supported" not in error
    assert not (tmp_path / "set").exists()


def test_a_full_disk_is_one_error_line_exit_1_and_the_completed_files_stay(tmp_path, capsys, monkeypatch):
    """Issue 30, item 6: `deadleaves save` and `train` ended in an OSError / torch RuntimeError traceback."""
    import png

    real_write, written = png.Writer.write, []

    def fills_up(self, file, rows):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(file.name)
        return real_write(self, file, rows)

    monkeypatch.setattr(png.Writer, "write", fills_up)
    assert save(tmp_path / "set", "--n", "4", "--size", "16") == 1
    error = one_error_line(capsys.readouterr().err)
    assert "No space left on device" in error and "kept" in error
    assert sorted(p.name for p in (tmp_path / "set").glob("*.png")) == ["000000.png", "000001.png"]
    assert not [p for p in (tmp_path / "set").iterdir() if p.name.startswith(".")]  # no temporary left

    def torch_fills_up(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 296064 vs 295952")

    monkeypatch.setattr(torch, "save", torch_fills_up)
    profile = profile_with(tmp_path)
    assert main(["train", "--profile", str(profile), "--experiment", "run", "--outputs", str(tmp_path / "out"),
                 "--device", "cpu"]) == 1
    error = one_error_line(capsys.readouterr().err)
    assert "could not write" in error and "last.opt.pt" in error and "MiB free" in error


def test_the_command_line_prints_its_own_progress_but_not_the_libraries_info_logs(tmp_path):
    """Issue 30, item 6: with the root logger at INFO, torch's atexit hook printed "FakeTensor cache stats"
    after `interrupted`; our own messages stay."""
    import subprocess
    import sys

    script = ("import logging; from rstor_core.__main__ import main; main(['check-profile', 'parameters/smoke.yaml']); "
              "logging.getLogger('torch._subclasses.fake_tensor').info('library noise'); "
              "logging.getLogger('rstor_core.networks.train').info('our progress')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "our progress" in done.stderr and "library noise" not in done.stderr
