"""The training recipe's knobs (issue 15): AdamW and its betas, a cosine schedule, NAFNet's PSNR loss, a
curriculum over the motion-blur families, sharp crops among the blurred ones, and validation on a part
of the natural photos that training never sees. Their defaults train exactly what the committed
networks trained."""

from __future__ import annotations

import csv
import dataclasses
import math
import re

import numpy as np
import pytest
import torch
from train_helpers import TINY, Killed, kill_at_step

from rstor_core.degradation.degrade import FAMILIES, motion_blur_kernels
from rstor_core.measurement.metrics import psnr
from rstor_core.networks.batches import TrainingBatches, _families, degrade_batch
from rstor_core.networks.checkpoints import MODEL_FILE
from rstor_core.networks.runs import train_experiment
from rstor_core.networks.train import Trainer, psnr_loss
from rstor_core.settings.configs import ExperimentConfig
from rstor_core.settings.knobs import ConfigError


def _lrs(path) -> list[float]:
    with (path / "log.csv").open() as file:
        return [float(row["lr"]) for row in csv.DictReader(file)]


def test_adamw_with_its_betas_and_a_cosine_schedule_decays_to_lr_min(tmp_path, device):
    config = ExperimentConfig(**{**TINY, "steps": 8, "optimiser": "adamw", "betas": [0.9, 0.9], "weight_decay": 0.01,
                                 "schedule": "cosine", "lr": 1e-3, "lr_min": 1e-6})
    trainer = Trainer(config, tmp_path, device=device, progress=False)
    assert isinstance(trainer.optimiser, torch.optim.AdamW)
    assert trainer.optimiser.param_groups[0]["betas"] == (0.9, 0.9)
    trainer.fit()
    lrs = _lrs(tmp_path)
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] == pytest.approx(1e-6)
    assert lrs[3] == pytest.approx(1e-6 + (1e-3 - 1e-6) * (1 + math.cos(math.pi * 4 / 8)) / 2)


def test_a_constant_schedule_keeps_the_lr_so_a_snapshot_is_a_shorter_run(tmp_path):
    """What chapter 03's compute-scaling figure rests on: under a constant lr the weights kept at step N are
    those of an N-step run (under a cosine schedule they are not: its decay depends on the total steps)."""
    config = ExperimentConfig(**{**TINY, "steps": 5, "schedule": "constant", "optimiser": "adamw", "snapshots": [3]})
    train_experiment(config, tmp_path / "long", progress=False)
    assert _lrs(tmp_path / "long") == [config.lr] * 5
    short = train_experiment(dataclasses.replace(config, steps=3, snapshots=()), tmp_path / "short", progress=False)
    kept = torch.load(tmp_path / "long" / "model.step3.pt", weights_only=True)["model"]
    assert all(torch.equal(kept[key], value) for key, value in torch.load(short, weights_only=True)["model"].items())
    cosine = dataclasses.replace(config, schedule="cosine")
    train_experiment(cosine, tmp_path / "cosine", progress=False)
    train_experiment(dataclasses.replace(cosine, steps=3, snapshots=()), tmp_path / "cosine3", progress=False)
    kept = torch.load(tmp_path / "cosine" / "model.step3.pt", weights_only=True)["model"]
    short = torch.load(tmp_path / "cosine3" / "model.pt", weights_only=True)["model"]
    assert not all(torch.equal(kept[key], value) for key, value in short.items())


def test_the_default_recipe_is_adam_on_a_plateau_schedule(tmp_path):
    trainer = Trainer(ExperimentConfig(**TINY), tmp_path, device=torch.device("cpu"), progress=False)
    assert type(trainer.optimiser) is torch.optim.Adam
    assert trainer.optimiser.param_groups[0]["betas"] == (0.9, 0.999)
    assert isinstance(trainer.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_a_cosine_run_killed_midway_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    config = ExperimentConfig(**{**TINY, "steps": 6, "checkpoint_every": 1, "schedule": "cosine",
                                 "optimiser": "adamw", "betas": [0.9, 0.9]})
    whole = train_experiment(config, tmp_path / "whole", progress=False)
    kill_at_step(monkeypatch, 4)
    with pytest.raises(Killed):
        train_experiment(config, tmp_path / "killed", progress=False)
    monkeypatch.undo()
    resumed = train_experiment(config, tmp_path / "killed", progress=False)
    a, b = torch.load(whole, weights_only=True)["model"], torch.load(resumed, weights_only=True)["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert _lrs(tmp_path / "whole") == _lrs(tmp_path / "killed")


def test_the_psnr_loss_is_minus_the_mean_psnr(rng):
    target = torch.from_numpy(rng.random((3, 3, 8, 8), dtype=np.float32))
    output = (target + 0.05 * torch.from_numpy(rng.standard_normal((3, 3, 8, 8), dtype=np.float32))).clamp(0, 1)
    assert psnr_loss(output, target).item() == pytest.approx(-psnr(output, target).mean().item(), rel=1e-5)


def test_a_psnr_loss_run_trains(tmp_path):
    path = train_experiment(ExperimentConfig(**{**TINY, "steps": 3, "loss": "psnr"}), tmp_path, progress=False)
    assert path == tmp_path / MODEL_FILE and path.is_file()


def test_motion_kernels_from_a_subset_of_families_draw_only_those():
    drawn = motion_blur_kernels(60, ("small", "big"), seed=3)["family"]
    assert set(drawn.tolist()) == {list(FAMILIES).index("small"), list(FAMILIES).index("big")}
    with pytest.raises(ValueError, match="unknown blur family 'huge'"):
        motion_blur_kernels(2, ("small", "huge"), seed=0)


def test_every_family_draws_as_it_always_did():
    """"all" must keep the committed networks' training batches: one randint over the three families."""
    rng = torch.Generator().manual_seed(7)
    expected = torch.randint(len(FAMILIES), (40,), generator=rng)
    assert torch.equal(motion_blur_kernels(40, "all", seed=7)["family"], expected)


def test_a_curriculum_widens_the_families_from_small_to_all():
    config = ExperimentConfig(**{**TINY, "blur": "motion", "curriculum": 0.5})
    assert [_families(config, p) for p in (0.0, 0.24, 0.3, 0.49, 0.5, 0.9, None)] == [
        ("small",), ("small",), ("small", "mild"), ("small", "mild"), "all", "all", "all"]
    assert _families(dataclasses.replace(config, curriculum=0.0), 0.0) == "all"
    assert _families(dataclasses.replace(config, blur="big"), 0.0) == "big"


def test_sharp_crops_are_left_unblurred_and_the_others_blurred(rng):
    clean = torch.from_numpy(rng.random((16, 3, 32, 32), dtype=np.float32))
    config = ExperimentConfig(**{**TINY, "blur": "motion", "noise": [0.0, 0.0], "identity_fraction": 1.0})
    assert torch.equal(degrade_batch(clean, config, 0, "training", 1), clean)
    half = degrade_batch(clean, dataclasses.replace(config, identity_fraction=0.5), 0, "training", 1)
    unchanged = [torch.equal(half[i], clean[i]) for i in range(16)]
    assert 2 <= sum(unchanged) <= 14
    assert not torch.equal(degrade_batch(clean, dataclasses.replace(config, identity_fraction=0.0), 0, "training", 1),
                           clean)


def test_validation_on_held_out_rows_never_overlaps_the_training_rows():
    config = ExperimentConfig(**{**TINY, "data": "natural", "natural_images": "skimage", "crop": 32,
                                 "val_holdout": 0.25})
    batches, whole = TrainingBatches(config), TrainingBatches(dataclasses.replace(config, val_holdout=0.0))
    for trained, held, photo in zip(batches.photos, batches.validation_photos, whole.photos):
        assert trained.shape[0] + held.shape[0] == photo.shape[0] and held.shape[0] == round(0.25 * photo.shape[0])
        assert np.array_equal(np.concatenate([trained, held]), photo)
    assert whole.validation_photos is whole.photos  # no hold-out: validation crops the training photos


def test_a_hold_out_too_small_for_a_crop_is_refused_before_training():
    config = ExperimentConfig(**{**TINY, "data": "natural", "natural_images": "skimage", "crop": 200,
                                 "val_holdout": 0.1})
    with pytest.raises(ValueError, match="val_holdout 0.1 leaves a part of .* smaller than the crop"):
        TrainingBatches(config)


@pytest.mark.parametrize("fields, key", [({"optimiser": "sgd"}, "optimiser"), ({"betas": [0.9, 1.0]}, "betas"),
                                         ({"schedule": "step"}, "schedule"), ({"loss": "ssim"}, "loss"),
                                         ({"curriculum": 1.5}, "curriculum"), ({"val_holdout": 0.9}, "val_holdout")])
def test_bad_recipe_values_are_refused_naming_the_field(fields, key):
    with pytest.raises(ConfigError, match=f"^{key}:"):
        ExperimentConfig(**{**TINY, **fields})


def test_chapter_03_reads_its_recipe_trials_and_scaling_snapshots_but_never_trains_the_trials(tmp_path):
    """A trial or a scaling step the profile cannot serve is refused when the profile loads, before any
    chapter runs; the trials are not among what the chapter trains (a fresh book never retrains them)."""
    import yaml

    from rstor_core.settings.profiles import ProfileError, load_profile

    quick = load_profile("quick")
    trained = quick.chapter_experiments("03_deblur_study")
    assert quick.deblur_study.recipe_trials and not trained & set(quick.deblur_study.recipe_trials)
    data = yaml.safe_load(quick.path.read_text())
    for change, problem in (({"recipe_trials": ["recipe_nafnet", "no_such_trial"]},
                             "recipe_trials[1]: no experiment 'no_such_trial'"),
                            ({"scaling_steps": [200, 276]}, "scaling_steps[1] of motion_arms.dead leaves: experiment "
                             "'deblur_dead_leaves' keeps no weights at step 276")):
        changed = {**data, "deblur_study": {**data["deblur_study"], **change}}  # arms keep their order
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(changed, sort_keys=False, allow_unicode=True))
        with pytest.raises(ProfileError, match=re.escape(problem)):
            load_profile(tmp_path / "bad.yaml")


def test_the_recipe_is_chosen_on_images_that_no_chapter_tests_on_and_no_run_trains_on():
    """Issue 31, item 3: the trials were scored on chelsea and coffee, two of the five test photos."""
    from rstor_core.images.photos import natural_images, test_photos
    from rstor_core.measurement.recipes import SELECTION_CROPS, SELECTION_SIZE
    from rstor_core.networks.selection import selection_images, selection_photo

    photo = selection_photo()
    bundled = {**test_photos("skimage"), **natural_images("skimage")}
    assert all(image.shape != photo.shape or not np.array_equal(image, photo) for image in bundled.values())
    natural = ExperimentConfig(**{**TINY, "data": "natural", "natural_images": "skimage", "blur": "motion"})
    crops = selection_images(natural)
    assert crops.shape == (SELECTION_CROPS, 3, SELECTION_SIZE, SELECTION_SIZE)
    assert torch.equal(crops, selection_images(dataclasses.replace(natural, crop=32, lr=0.5)))  # one set per arm
    leaves = ExperimentConfig(**{**TINY, "blur": "motion", "crop": SELECTION_SIZE, "val_images": 4})
    chosen_on = selection_images(leaves)
    batches = TrainingBatches(leaves)
    drawn = torch.cat([batches.validation()[1], batches.batch(0)[1]])
    assert not any(torch.equal(image, other) for image in chosen_on[:4] for other in drawn)


def test_selection_gains_are_each_networks_psnr_over_its_blurred_selection_images():
    from rstor_core.networks.selection import selection_gains

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    class Grey(torch.nn.Module):
        def forward(self, x):
            return torch.full_like(x, 0.5)

    leaves = ExperimentConfig(**{**TINY, "blur": "motion"})
    gains = selection_gains({"same": Identity(), "grey": Grey()}, {"same": leaves, "grey": leaves}, sigma=1.0)
    assert list(gains.columns) == list(FAMILIES) and list(gains.index) == ["same", "grey"]
    assert gains.loc["same"].abs().max() < 1e-4 and (gains.loc["grey"] < -1).all()  # clamping to [0, 1] only
    assert gains.equals(selection_gains({"same": Identity(), "grey": Grey()}, {"same": leaves, "grey": leaves},
                                        sigma=1.0))  # the same kernels and noise every time
