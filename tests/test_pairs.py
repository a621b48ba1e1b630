"""Paired real-blur test sets (issue 34): a folder of blurred/NAME.png beside sharp/NAME.png, and Köhler's
recorded camera shake fetched through deepinv (served on 127.0.0.1: no test reaches the real URLs), scored
by ``infer --pairs`` in the rows ``evaluate`` writes; bad pairs and an offline fetch are exit 2, one line,
nothing written."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import PIL.Image
import pytest
import test_public_sets
import torch
from test_public_sets import closed_port_url
from train_helpers import TINY

from rstor_core.__main__ import main
from rstor_core.degradation.degrade import bank_kernels, degrade
from rstor_core.images.deadleaves import dead_leaves
from rstor_core.images.pairs import KOHLER_SHOTS, PairsFolder, kohler_pairs, pairs_folder
from rstor_core.images.public_sets import PublicSetUnavailable
from rstor_core.measurement.rows import INPUT
from rstor_core.networks.batches import to_image, to_tensor
from rstor_core.networks.evaluate import Degradation, evaluate
from rstor_core.networks.pair_scoring import RECORDED, evaluate_pairs

cache, loopback = test_public_sets.cache, test_public_sets.loopback  # the fixtures: $RSTOR_DATA, a local server


def write_pairs(folder: Path, n: int = 3, size: int = 40, *, seed: int = 0) -> Path:
    """``n`` dead-leaves images and their blur by bank kernel small:0 (plus a little noise), as 8-bit PNGs in
    ``folder/sharp`` and ``folder/blurred``, named shot0, shot1 ..."""
    kernels = bank_kernels("small:0")
    for side in ("sharp", "blurred"):
        (folder / side).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sharp = dead_leaves(size, seed=seed + i)
        blurred = to_image(degrade(to_tensor(sharp)[None], kernels=kernels, sigma=2 / 255, seed=i)[0])
        for side, image in (("sharp", sharp), ("blurred", blurred)):
            PIL.Image.fromarray((image.clip(0, 1) * 255 + 0.5).astype(np.uint8)).save(folder / side / f"shot{i}.png")
    return folder


def png(path: Path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path).convert("RGB"), dtype=np.float64) / 255


def psnr_numpy(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny trained model.pt (two steps)."""
    from rstor_core.networks.runs import train_experiment
    from rstor_core.settings.configs import ExperimentConfig

    out = tmp_path_factory.mktemp("trained") / "tiny"
    return train_experiment(ExperimentConfig(**{**TINY, "steps": 2}), out, device="cpu", progress=False)


def infer_pairs(checkpoint: Path, pairs: str | Path, out: Path, *options: str) -> int:
    return main(["infer", "--checkpoints", str(checkpoint), "--pairs", str(pairs), "--no-lpips", "--device", "cpu",
                 "--out", str(out), *options])


def one_error_line(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


# --- a folder of pairs ----------------------------------------------------------------------------

def test_infer_pairs_writes_evaluates_columns_with_the_input_scored_against_the_sharp_image(checkpoint, tmp_path):
    pairs = write_pairs(tmp_path / "mine")
    out = tmp_path / "scores.csv"
    assert infer_pairs(checkpoint, pairs, out) == 0
    table = pd.read_csv(out)
    reference = evaluate({}, {"a": dead_leaves(32)}, [Degradation("", 5.0)], lpips=False, st_lpips=False,
                         device="cpu", progress=False)
    assert list(table.columns) == list(reference.columns)
    assert sorted(table.model.unique()) == sorted([INPUT, "tiny"]) and len(table) == 2 * 3
    assert set(table.test_set) == {"mine"} and set(table.degradation) == {RECORDED} and set(table.size_px) == {40}
    assert table.lpips.isna().all() and table.st_lpips.notna().all() and table.ssim.between(-1, 1).all()
    for name, row in table[table.model == INPUT].set_index("image").iterrows():
        expected = psnr_numpy(png(pairs / "blurred" / f"{name}.png"), png(pairs / "sharp" / f"{name}.png"))
        assert row.psnr == pytest.approx(expected, abs=1e-4)


def test_an_identity_network_scores_as_the_blurred_input_and_a_perfect_one_is_infinite(tmp_path):
    folder = pairs_folder(write_pairs(tmp_path / "p", n=2))
    oracle = _Oracle([tuple(to_tensor(image)[None] for image in folder.pair(name)) for name in folder.names])
    table = evaluate_pairs({"identity": torch.nn.Identity(), "oracle": oracle}, folder, test_set="p", lpips=False,
                           st_lpips=False, device="cpu", progress=False)
    by = table.set_index(["model", "image"]).psnr
    for name in folder.names:
        assert by["identity", name] == by[INPUT, name] and by[INPUT, name] < 40
        assert by["oracle", name] > 100 or np.isinf(by["oracle", name])


def test_the_runs_of_an_arm_are_scored_each_under_its_run_number(tmp_path):
    folder = pairs_folder(write_pairs(tmp_path / "p", n=2))
    oracle = _Oracle([tuple(to_tensor(image)[None] for image in folder.pair(name)) for name in folder.names])
    table = evaluate_pairs({"arm": [torch.nn.Identity(), oracle]}, folder, test_set="p", lpips=False,
                           st_lpips=False, device="cpu", progress=False)
    assert sorted(zip(table.model, table.run)) == sorted([(INPUT, 0), ("arm", 0), ("arm", 1)] * 2)
    by = table.set_index(["model", "run", "image"]).psnr
    assert all(by["arm", 0, n] == by[INPUT, 0, n] < by["arm", 1, n] for n in folder.names)


class _Oracle(torch.nn.Module):
    """Returns the sharp image of the blurred image it is given: a network that deblurs perfectly."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        super().__init__()
        self.pairs = pairs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return next(sharp for blurred, sharp in self.pairs if torch.equal(blurred, x.cpu())).to(x)


def test_a_pair_too_small_for_a_crop_or_a_metric_is_skipped_and_none_usable_is_refused(tmp_path, caplog):
    folder = pairs_folder(write_pairs(tmp_path / "p", n=1, size=40))
    identity = {"identity": torch.nn.Identity()}
    table = evaluate_pairs(identity, folder, test_set="p", sizes=(32, 48), lpips=False, st_lpips=False,
                           device="cpu", progress=False)
    assert set(table.size_px) == {32} and "is smaller than the 48-pixel crop: skipped at size 48" in caplog.text
    with pytest.raises(ValueError, match="no pair of 'p' can be scored at sizes \\[16\\]: .*21 px a side ST-LPIPS"):
        evaluate_pairs(identity, folder, test_set="p", sizes=(16,), lpips=False, st_lpips=True, device="cpu",
                       progress=False)


def test_sizes_centre_crop_both_images_of_a_pair_and_n_takes_the_first_pairs(checkpoint, tmp_path):
    out = tmp_path / "s.csv"
    assert infer_pairs(checkpoint, write_pairs(tmp_path / "p", n=3), out, "--sizes", "24,32", "--n", "2") == 0
    table = pd.read_csv(out)
    assert sorted(set(table.size_px)) == [24, 32] and sorted(set(table.image)) == ["shot0", "shot1"]


def test_save_images_writes_the_blurred_input_and_each_output(checkpoint, tmp_path):
    saved = tmp_path / "saved"
    assert infer_pairs(checkpoint, write_pairs(tmp_path / "p", n=1), tmp_path / "r.csv", "--save-images", str(saved)) == 0
    assert sorted(p.name for p in (saved / "p" / "shot0_full").iterdir()) == ["input.png", "tiny.png"]
    assert np.array_equal(png(saved / "p" / "shot0_full" / "input.png"), png(tmp_path / "p" / "blurred" / "shot0.png"))


@pytest.mark.parametrize("damage, named", [
    (lambda p: (p / "sharp" / "shot1.png").unlink(), "shot1.png"),
    (lambda p: (p / "blurred" / "shot2.png").rename(p / "blurred" / "other.png"), "other.png"),
    (lambda p: PIL.Image.new("RGB", (40, 36)).save(p / "sharp" / "shot0.png"), "shot0.png"),
    (lambda p: (p / "blurred" / "shot0.png").write_bytes(b"not a png"), "shot0.png"),
    (lambda p: PIL.Image.new("RGB", (40, 40)).save(p / "blurred" / "shot1.jpg"), "shot1.jpg"),
])
def test_a_bad_pair_is_refused_naming_its_file_before_any_checkpoint_is_read(tmp_path, capsys, damage, named):
    pairs = write_pairs(tmp_path / "p")
    damage(pairs)
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")  # never read: the pairs are refused first
    out = tmp_path / "r.csv"
    assert infer_pairs(checkpoint, pairs, out) == 2
    assert named in one_error_line(capsys.readouterr().err) and not out.exists()


@pytest.mark.parametrize("layout", ["no folder", "no sharp", "empty"])
def test_a_folder_not_laid_out_as_pairs_is_refused_saying_the_layout(tmp_path, capsys, layout):
    pairs = tmp_path / "p"
    if layout != "no folder":
        (pairs / "blurred").mkdir(parents=True)
    if layout == "empty":
        (pairs / "sharp").mkdir()
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")
    assert infer_pairs(checkpoint, pairs, tmp_path / "r.csv") == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(pairs) in line and ("blurred/NAME.png beside sharp/NAME.png" in line or "no image" in line)
    assert not (tmp_path / "r.csv").exists()


def test_pairs_and_images_are_exclusive(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:  # argparse's exit 2
        infer_pairs(checkpoint, write_pairs(tmp_path / "p", n=1), tmp_path / "r.csv", "--images", "skimage")
    assert exited.value.code == 2 and "not allowed with" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("extra", [["--sigmas", "25"], ["--blur", "small:0"], ["--blur-sigma", "1"]])
def test_pairs_refuse_made_degradations(checkpoint, tmp_path, capsys, extra):
    assert infer_pairs(checkpoint, write_pairs(tmp_path / "p", n=1), tmp_path / "r.csv", *extra) == 2
    assert "recorded" in one_error_line(capsys.readouterr().err) and not (tmp_path / "r.csv").exists()


def test_infer_without_images_or_pairs_is_refused(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["infer", "--checkpoints", str(checkpoint), "--sigmas", "5", "--out", str(tmp_path / "r.csv")])
    assert exited.value.code == 2 and "--pairs" in capsys.readouterr().err


def test_infer_help_says_the_pairs_layout_and_kohlers_middle_frame(capsys):
    with pytest.raises(SystemExit):
        main(["infer", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "blurred/NAME.png beside sharp/NAME.png" in text and "frames='middle'" in text and "kohler" in text
    assert "GoPro's test folder as it unpacks (SEQUENCE/blur/ beside SEQUENCE/sharp/)" in text


# --- Köhler, through deepinv, served on 127.0.0.1 -------------------------------------------------

def kohler_archives(tmp_path: Path, served: Path, *, frames: int = 3) -> dict[str, str]:
    """The five archives of deepinv's Kohler class, laid out as it expects, holding tiny PNGs: per shot the
    blurred image and ``frames`` sharp frames (the middle one 0.5 grey, the others black); ``{name: md5}``."""
    checksums = {}
    for archive in [f"GroundTruth_pngs_Image{p}.zip" for p in range(1, 5)] + ["BlurryImages.zip"]:
        with zipfile.ZipFile(served / archive, "w") as zipped:
            for printout, trajectory in KOHLER_SHOTS:
                if archive == "BlurryImages.zip":
                    zipped.writestr(f"Blurry{printout}_{trajectory}.png",
                                    _png_bytes(tmp_path, 100 + printout * 12 + trajectory))
                elif archive == f"GroundTruth_pngs_Image{printout}.zip":
                    count = _frame_count(printout, trajectory)
                    for frame in range(1, count + 1):
                        zipped.writestr(f"Image{printout}/Kernel{trajectory}/GroundTruth{printout}_{trajectory}_"
                                        f"{frame}.png", _png_bytes(tmp_path, 128 if frame == (count + 1) // 2 else 0))
        checksums[archive] = hashlib.md5((served / archive).read_bytes()).hexdigest()
    return checksums


def _frame_count(printout: int, trajectory: int) -> int:
    from deepinv.datasets import Kohler

    return Kohler.get_frame_count(printout, trajectory)


def _png_bytes(tmp_path: Path, value: int) -> bytes:
    path = tmp_path / "one.png"
    PIL.Image.fromarray(np.full((32, 32, 3), value, dtype=np.uint8)).save(path)
    return path.read_bytes()


def serve_kohler_from(monkeypatch, base: str, checksums: dict[str, str]) -> None:
    """Point deepinv's Kohler class at ``base`` (its class attributes are the seam)."""
    from deepinv.datasets import Kohler

    monkeypatch.setattr(Kohler, "_archive_urls", tuple(f"{base}/{name}" for name in checksums))
    monkeypatch.setattr(Kohler, "_archive_checksums", dict(checksums))


@pytest.fixture
def small_frame_counts(monkeypatch):
    """Three sharp frames per shot, not about 200: the middle one is frame 2."""
    from deepinv.datasets import Kohler

    monkeypatch.setattr(Kohler, "_frame_count_table", {"others": 3})


def test_kohler_is_downloaded_once_through_deepinv_with_its_middle_frame_as_reference(
        cache, loopback, monkeypatch, tmp_path, small_frame_counts, checkpoint):
    checksums = kohler_archives(tmp_path, loopback.served)
    serve_kohler_from(monkeypatch, loopback.url, checksums)
    folder = kohler_pairs()
    assert folder == cache / "kohler" and len(PairsFolder(folder)) == 48
    assert np.all(png(folder / "sharp" / "i1_k1.png") == 128 / 255)  # the middle frame, not the first
    assert np.all(png(folder / "blurred" / "i2_k3.png") == (100 + 24 + 3) / 255)
    requested = list(loopback.requests)
    assert set(requested) == {f"/{name}" for name in checksums}
    out = tmp_path / "k.csv"
    assert infer_pairs(checkpoint, "kohler", out, "--no-st-lpips") == 0
    table = pd.read_csv(out)
    assert set(table.test_set) == {"kohler"} and len(table) == 2 * 48 and loopback.requests == requested  # no refetch
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["kohler"]  # no leftovers


def test_a_kohler_archive_that_fails_its_checksum_leaves_nothing(cache, loopback, monkeypatch, tmp_path,
                                                                 small_frame_counts):
    checksums = kohler_archives(tmp_path, loopback.served)
    serve_kohler_from(monkeypatch, loopback.url, {**checksums, "BlurryImages.zip": "0" * 32})
    with pytest.raises(PublicSetUnavailable, match="kohler"):
        kohler_pairs()
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_offline_infer_pairs_kohler_exits_2_naming_the_urls_and_the_folder_and_writes_nothing(cache, monkeypatch,
                                                                                                 tmp_path, capsys):
    url = closed_port_url()
    base = url.rsplit("/", 1)[0]
    serve_kohler_from(monkeypatch, base, {"GroundTruth_pngs_Image1.zip": "0" * 32, "BlurryImages.zip": "0" * 32})
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")
    out = tmp_path / "r.csv"
    assert infer_pairs(checkpoint, "kohler", out) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{base}/BlurryImages.zip" in line and str(cache / "kohler") in line and not out.exists()
    assert list(cache.iterdir()) == []


def test_kohler_archives_extracted_by_hand_are_read_without_network(cache, monkeypatch, tmp_path, no_network,
                                                                    small_frame_counts):
    served = tmp_path / "archives"
    served.mkdir()
    kohler_archives(tmp_path, served)
    for archive in served.iterdir():
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(cache / "kohler")
    folder = kohler_pairs()
    assert len(PairsFolder(folder)) == 48 and np.all(png(folder / "sharp" / "i4_k12.png") == 128 / 255)


def test_kohler_archives_missing_a_file_are_refused_naming_it(cache, tmp_path, no_network, small_frame_counts):
    (cache / "kohler").mkdir(parents=True)
    with pytest.raises(PublicSetUnavailable) as error:
        kohler_pairs()
    assert "Blurry1_1.png" in str(error.value) and str(cache / "kohler") in str(error.value)
    assert not (cache / "kohler" / "blurred").exists()


# --- a profile's recorded blur: chapter 03's real_pairs ---------------------------------------------

def test_a_profile_naming_pairs_is_checked_before_any_work(tmp_path, cache, monkeypatch):
    from rstor_core.images.sources import missing_sources
    from rstor_core.settings.chapters import DeblurStudyConfig

    assert missing_sources(DeblurStudyConfig()) == []  # no pairs named: nothing to check
    assert missing_sources(DeblurStudyConfig(real_pairs=str(write_pairs(tmp_path / "shots", n=2)))) == []
    [absent] = missing_sources(DeblurStudyConfig(real_pairs=str(tmp_path / "nowhere")))
    assert absent.startswith("real_pairs: ") and "nowhere" in absent and "blurred/NAME.png" in absent
    (tmp_path / "shots" / "sharp" / "shot1.png").unlink()
    [unmatched] = missing_sources(DeblurStudyConfig(real_pairs=str(tmp_path / "shots")))
    assert "shot1.png" in unmatched and "no sharp image" in unmatched
    base = closed_port_url().rsplit("/", 1)[0]
    serve_kohler_from(monkeypatch, base, {"GroundTruth_pngs_Image1.zip": "0" * 32, "BlurryImages.zip": "0" * 32})
    [offline] = missing_sources(DeblurStudyConfig(real_pairs="kohler"))
    assert f"{base}/BlurryImages.zip" in offline and str(cache / "kohler") in offline


def test_gopros_test_folder_is_read_as_it_unpacks_one_sequence_a_folder(checkpoint, tmp_path):
    """GOPRO_Large/test/<sequence>/{blur,blur_gamma,sharp}/NNNNNN.png: each sequence's blur/ against its sharp/,
    a pair named SEQUENCE/NAME (the stems repeat across sequences)."""
    import shutil

    gopro = tmp_path / "test"
    for sequence, seed in (("GOPR0384_11_00", 0), ("GOPR0862_11_00", 5)):
        write_pairs(tmp_path / sequence, n=2, seed=seed)
        for side, name in (("blurred", "blur"), ("sharp", "blur_gamma"), ("sharp", "sharp")):  # gamma: not read
            shutil.copytree(tmp_path / sequence / side, gopro / sequence / name)
    folder = pairs_folder(gopro)
    assert folder.names == ["GOPR0384_11_00/shot0", "GOPR0384_11_00/shot1", "GOPR0862_11_00/shot0",
                            "GOPR0862_11_00/shot1"]
    blurred, sharp = folder.pair("GOPR0862_11_00/shot1")
    np.testing.assert_allclose(blurred, png(gopro / "GOPR0862_11_00" / "blur" / "shot1.png"), atol=1e-6)
    np.testing.assert_allclose(sharp, png(gopro / "GOPR0862_11_00" / "sharp" / "shot1.png"), atol=1e-6)
    assert not np.allclose(blurred, sharp, atol=1e-3)
    saved, out = tmp_path / "saved", tmp_path / "gopro.csv"
    assert infer_pairs(checkpoint, gopro, out, "--save-images", str(saved)) == 0
    table = pd.read_csv(out)
    assert set(table.image) == set(folder.names) and set(table.test_set) == {"test"}
    assert (saved / "test" / "GOPR0862_11_00" / "shot1_full" / "tiny.png").is_file()
    (gopro / "GOPR0384_11_00" / "sharp" / "shot1.png").unlink()
    with pytest.raises(ValueError, match=r"GOPR0384_11_00/blur/shot1.png'? has no sharp image"):
        pairs_folder(gopro)
