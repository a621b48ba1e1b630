"""LPIPS (random backbone: the code path, not the numbers), its missing-weights message, ST-LPIPS in every
evaluation row, evaluation rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rstor_core.__main__ import main
from rstor_core.degradation.degrade import bank_kernels, degrade
from rstor_core.images.deadleaves import dead_leaves
from rstor_core.images.photos import centre_crop, natural_images
from rstor_core.measurement import metrics
from rstor_core.measurement.rows import INPUT
from rstor_core.networks.batches import to_tensor
from rstor_core.networks.evaluate import (Degradation, bank_degraders, deconvolution, degradation_grid, degrade_image,
                                          evaluate, non_blind_anchors, restoration_panels)


@pytest.fixture
def no_alexnet(empty_torch_home):
    metrics.lpips_model.cache_clear()
    yield empty_torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    metrics.lpips_model.cache_clear()


def test_missing_lpips_weights_raise_one_error_naming_the_file_and_where_to_put_it(no_alexnet):
    with pytest.raises(metrics.LPIPSWeightsMissing) as err:
        metrics.lpips_model()
    assert str(no_alexnet) in str(err.value) and metrics.ALEXNET_URL in str(err.value)


def test_lpips_with_a_random_backbone_is_zero_for_identical_images_and_positive_otherwise():
    model = metrics.lpips_model(random_backbone=True)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(metrics.lpips_distance(x, x, model=model), torch.zeros(2))
    assert (metrics.lpips_distance(x, torch.rand_like(x), model=model) > 0).all()


def test_evaluation_has_one_row_per_model_image_degradation_and_size(leaves, no_alexnet):
    grid = degradation_grid([10, 30], ["big:0-1"], blur_sigma=1.0)
    table = evaluate({"identity": torch.nn.Identity()}, leaves, grid, sizes=[32, 48], n_images=2, progress=False)
    assert len(table) == 2 * 2 * len(grid) * 2  # models (input + identity) x images x degradations x sizes
    assert set(table.model) == {INPUT, "identity"}
    assert table.lpips.isna().all() and table.lpips_note.str.contains("weights").all()
    assert table.st_lpips.notna().all()  # the offline perceptual metric fills every row
    noisier = table[(table.model == INPUT) & (table.blur == "none")].groupby("sigma_255").psnr.mean()
    assert noisier[10] > noisier[30]


def test_an_image_smaller_than_the_crop_is_skipped_at_that_size_never_mislabelled(leaves, caplog):
    """Issue 12, item 8: a 48 x 16 image asked at 32 pixels was evaluated at 32 x 16 and recorded as size_px=32."""
    mixed = {**leaves, "strip": dead_leaves((48, 16), seed=9)}
    grid = [Degradation("", 25.0)]
    table = evaluate({}, mixed, grid, sizes=[32, None], lpips=False, st_lpips=False, progress=False)
    assert set(table[table.size_px == 32].image) == set(leaves)
    assert table[(table.image == "strip")].size_px.tolist() == [48]  # whole image: its longer side
    assert "'strip' (48 x 16) is smaller than the 32-pixel crop: skipped at size 32" in caplog.text
    with pytest.raises(ValueError, match="no test image can be scored: is smaller than the 32-pixel crop"):
        evaluate({}, {"strip": mixed["strip"]}, grid, sizes=[32], lpips=False, progress=False)


@pytest.mark.parametrize("shape", [(1, 1), (2, 320)], ids=["1x1", "2x320"])
def test_an_image_too_narrow_for_a_metric_is_skipped_before_any_scoring(leaves, caplog, monkeypatch, shape):
    """Issue 30, item 5: the photos were scored, then a 1 x 1 (or 2 x 5120) image failed SSIM and the run
    ended without its table."""
    import rstor_core.networks.evaluate as E

    scored = []
    monkeypatch.setattr(E, "ssim", lambda *a: scored.append("'tiny'" in caplog.text) or metrics.ssim(*a))
    tiny = {**leaves, "tiny": np.zeros((*shape, 3), np.float32)}
    grid = [Degradation("", 25.0)]
    table = evaluate({}, tiny, grid, sizes=[None], lpips=False, st_lpips=False, progress=False)
    assert set(table.image) == set(leaves) and scored == [True] * len(leaves)  # said before the first score
    assert f"'tiny' ({shape[0]} x {shape[1]}) is narrower than the 11 px a side SSIM needs: skipped" in caplog.text
    with pytest.raises(ValueError, match="no test image can be scored: is narrower than the 21 px a side ST-LPIPS"):
        evaluate({}, {"tiny": tiny["tiny"]}, grid, sizes=[None], lpips=False, progress=False)


def test_every_model_sees_the_same_degraded_inputs(leaves):
    grid = [Degradation("", 25.0), Degradation("mild:2", 2.0)]
    kwargs = dict(sizes=[None], seed=3, lpips=False, progress=False)
    first = evaluate({"a": torch.nn.Identity(), "b": torch.nn.Identity()}, leaves, grid, **kwargs)
    second = evaluate({"a": torch.nn.Identity()}, leaves, grid, **kwargs)
    a, b = first[first.model == "a"].psnr.to_numpy(), first[first.model == "b"].psnr.to_numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, second[second.model == "a"].psnr.to_numpy())


class _Scaled(torch.nn.Module):
    """A "network" whose output says which one it is."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_each_run_of_a_model_gets_its_rows_and_the_input_rows_are_not_duplicated(leaves):
    grid = [Degradation("", 25.0)]
    table = evaluate({"arm": [_Scaled(1.0), _Scaled(0.9), _Scaled(0.8)], "solo": torch.nn.Identity()}, leaves, grid,
                     lpips=False, st_lpips=False, progress=False)
    assert table.groupby(["model", "run"]).size().to_dict() == {
        (INPUT, 0): 3, ("arm", 0): 3, ("arm", 1): 3, ("arm", 2): 3, ("solo", 0): 3}
    arm = table[table.model == "arm"].pivot(index="image", columns="run", values="psnr")
    assert (arm[0] > arm[1]).all() and (arm[1] > arm[2]).all()  # each run's own network, in order
    np.testing.assert_array_equal(table[table.model == "solo"].set_index("image").psnr, arm[0])  # same inputs


def test_a_network_restricted_to_its_unseen_photos_is_tested_on_those_only(leaves):
    grid = [Degradation("", 25.0), Degradation("", 50.0)]
    photos_of = {("natural", 0): {"leaves0"}, ("natural", 1): ("leaves1", "leaves2")}
    table = evaluate({"natural": [torch.nn.Identity()] * 2, "dead leaves": [torch.nn.Identity()] * 2}, leaves, grid,
                     photos_of=photos_of, lpips=False, st_lpips=False, progress=False)
    tested = table.groupby(["model", "run"]).image.unique().map(set).to_dict()
    assert tested[("natural", 0)] == {"leaves0"} and tested[("natural", 1)] == {"leaves1", "leaves2"}
    assert tested[("dead leaves", 0)] == tested[("dead leaves", 1)] == tested[(INPUT, 0)] == set(leaves)
    assert len(table[table.model == INPUT]) == len(leaves) * len(grid)


@pytest.mark.parametrize("photos_of, problem", [({("natural", 1): {"leaves0"}}, r"\('natural', 1\)"),
                                                 ({("natrual", 0): {"leaves0"}}, "natrual"),
                                                 ({("natural", 0): {"chelsea"}}, "chelsea")])
def test_a_restriction_naming_an_unknown_network_or_image_is_refused(leaves, photos_of, problem):
    with pytest.raises(ValueError, match=problem):
        evaluate({"natural": torch.nn.Identity()}, leaves, [Degradation("", 25.0)], photos_of=photos_of,
                 lpips=False, st_lpips=False, progress=False)


def test_evaluation_uses_lpips_when_it_can(leaves, monkeypatch):
    random_lpips = metrics.lpips_model(random_backbone=True)
    monkeypatch.setattr("rstor_core.networks.evaluate.lpips_model", lambda **_: random_lpips)
    table = evaluate({}, leaves, [Degradation("", 20.0)], progress=False)
    assert table.lpips.notna().all() and (table.lpips_note == "").all()


def test_st_lpips_fills_the_rows_of_the_input_the_models_and_the_classical_methods(leaves, no_alexnet):
    def keep_noisy(degraded, degradation):  # a classical method that applies to noise only
        return None if degradation.blur else degraded

    grid = [Degradation("", 25.0), Degradation("mild:2", 2.0)]
    table = evaluate({"identity": torch.nn.Identity()}, leaves, grid, classical={"keep": keep_noisy}, progress=False)
    assert set(table.model) == {INPUT, "identity", "keep"} and table.st_lpips.notna().all()
    kept, noisy = (table[(table.model == model) & (table.blur == "none")].st_lpips for model in ("keep", INPUT))
    np.testing.assert_allclose(kept, noisy, rtol=0, atol=1e-6)  # the same images, the same distances
    assert (table[table.model == INPUT].st_lpips > 0).all()


def test_an_image_too_small_for_st_lpips_is_refused_before_any_work(leaves):
    strip = {"strip": dead_leaves((48, 16), seed=9)}
    with pytest.raises(ValueError, match=r"narrower than the 21 px a side ST-LPIPS needs.*st_lpips=False"):
        evaluate({"never": None}, strip, [Degradation("", 25.0)], progress=False)


def test_st_lpips_false_leaves_its_column_nan(leaves):
    table = evaluate({}, leaves, [Degradation("", 25.0)], lpips=False, st_lpips=False, progress=False)
    assert table.st_lpips.isna().all() and table.psnr.notna().all()


def test_infer_cli_rejects_a_missing_checkpoint_naming_it_before_work(tmp_path, capsys):
    code = main(["infer", "--checkpoints", str(tmp_path / "x.pt"), "--images", "skimage", "--sigmas", "5",
                 "--out", str(tmp_path / "r.csv")])
    assert code == 2 and "x.pt" in capsys.readouterr().err and not (tmp_path / "r.csv").exists()


def test_infer_cli_evaluates_a_trained_checkpoint_and_writes_a_tidy_csv(tmp_path):
    import pandas as pd
    from train_helpers import TINY

    from rstor_core.networks.runs import train_experiment
    from rstor_core.settings.configs import ExperimentConfig

    checkpoint = train_experiment(ExperimentConfig(**{**TINY, "steps": 2}), tmp_path / "tiny", device="cpu",
                                  progress=False)
    out = tmp_path / "results.csv"
    assert main(["infer", "--checkpoints", str(checkpoint), "--images", "skimage", "--sizes", "32", "--sigmas", "5,25",
                 "--blur", "small:0", "--n", "1", "--no-lpips", "--out", str(out), "--save-images",
                 str(tmp_path / "png"), "--device", "cpu"]) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * 3 and set(table.model) == {"input", "tiny"}
    assert len(list((tmp_path / "png").rglob("*.png"))) == 6


def test_infer_cli_scores_a_natural_checkpoint_only_on_the_bundled_photos_its_run_never_saw(tmp_path):
    import pandas as pd
    from train_helpers import TINY

    from rstor_core.networks.runs import train_experiment
    from rstor_core.settings.configs import ExperimentConfig

    config = ExperimentConfig(**{**TINY, "data": "natural", "steps": 2, "run": 1})
    checkpoint = train_experiment(config, tmp_path / "natural.run1", device="cpu", progress=False)
    out = tmp_path / "results.csv"
    assert main(["infer", "--checkpoints", str(checkpoint), "--images", "skimage", "--sizes", "32", "--sigmas", "25",
                 "--no-lpips", "--no-st-lpips", "--out", str(out), "--device", "cpu"]) == 0
    table = pd.read_csv(out)
    assert set(table[table.model == "natural.run1"].image) == {"astronaut", "motorcycle"}
    assert len(table[table.model == INPUT]) == 5


@pytest.mark.parametrize("method, options", [("wiener", {"balance": 0.003}), ("richardson_lucy", {"iterations": 30})])
def test_non_blind_deconvolution_told_the_kernel_beats_the_blurred_input(method, options):
    photo = natural_images("skimage", split="test")["chelsea"]
    clean = to_tensor(centre_crop(photo, 128))[None]
    degradation = Degradation("mild:2", 1.0)
    blurred = degrade(clean, kernels=bank_kernels(degradation.blur), sigma=1.0 / 255, seed=0)
    restored = deconvolution(method, **options)(blurred, degradation)
    assert restored.shape == clean.shape and 0 <= restored.min() and restored.max() <= 1
    assert metrics.psnr(restored, clean) > metrics.psnr(blurred, clean) + 1.0
    assert deconvolution(method)(blurred, Degradation("", 25.0)) is None  # noise only: not its job


def test_unknown_deconvolution_is_refused_before_any_work():
    with pytest.raises(ValueError, match="richardson_lucy"):
        deconvolution("blind_magic")


def test_non_blind_anchors_name_what_they_are_told_and_none_gives_no_anchor():
    assert non_blind_anchors("none") == {}
    (label, method), = non_blind_anchors("wiener", balance=0.003).items()
    assert label == "Wiener (non-blind, knows the kernel)"
    photo = to_tensor(centre_crop(natural_images("skimage", split="test")["chelsea"], 64))[None]
    blurred = degrade_image(photo, Degradation("mild:1", 1.0), seed=0, image="chelsea")
    torch.testing.assert_close(method(blurred, Degradation("mild:1", 1.0)),
                               deconvolution("wiener", balance=0.003)(blurred, Degradation("mild:1", 1.0)))


def test_bank_degraders_give_a_figure_the_very_inputs_the_evaluation_scores(leaves):
    clean = to_tensor(leaves["leaves0"])[None]
    columns = bank_degraders(["small", "big"], 2, 1.0, seed=5, image="leaves0")
    assert list(columns) == ["small", "big"]
    table = evaluate({"identity": torch.nn.Identity()}, {"leaves0": leaves["leaves0"]},
                     [Degradation("small:2", 1.0), Degradation("big:2", 1.0)], seed=5, lpips=False, st_lpips=False,
                     progress=False)
    for family, degrade_fn in columns.items():
        psnr = table[(table.model == INPUT) & (table.blur == f"{family}:2")].psnr.item()
        assert float(metrics.psnr(degrade_fn(clean), clean)[0]) == pytest.approx(psnr, abs=1e-6)


def test_restoration_panels_score_each_degraded_and_restored_crop_against_its_clean_image(leaves):
    halve = {"dimmed": lambda x: 0.5 * x}
    rows, scores, cleans = restoration_panels({"a": leaves["leaves0"]}, halve, {"doubler": lambda x: 2 * x})
    assert list(rows) == ["degraded", "doubler"]  # one image: rows are the input and the models
    assert scores["doubler"]["dimmed"] == pytest.approx(float(metrics.psnr(rows["doubler"]["dimmed"], cleans["doubler"])[0]))
    assert scores["doubler"]["dimmed"] > 60 > scores["degraded"]["dimmed"]  # doubling undoes the dimming
    two = restoration_panels(leaves, halve, {"doubler": lambda x: 2 * x})[0]
    assert list(two)[:2] == ["leaves0", "leaves0, doubler"]  # several: the image names the rows
