"""Named public test sets (kodak24, div2k ...): fetched once through deepinv's dataset classes into
the cache, read from it with no network, and a clear exit 2 naming the set, its URL and the folder
when they cannot be fetched. Downloads are served on 127.0.0.1: no test reaches the real URLs."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import socket
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from train_helpers import TINY

from rstor_core.__main__ import main
from rstor_core.images import photos
from rstor_core.images.photos import natural_images
from rstor_core.images.public_sets import PUBLIC_SETS, PublicSetUnavailable, data_home, public_set
from rstor_core.images.sources import chapter_missing_data, missing_sources
from rstor_core.settings.chapters import DenoiseStudyConfig
from rstor_core.settings.configs import ExperimentConfig

KODAK_IMAGES = "Kodak-Lossless-True-Color-Image-Suite-master/PhotoCD_PCD0992"  # inside deepinv's archive


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder, named by RSTOR_DATA."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RSTOR_DATA", str(folder))
    return folder


def tiny_pngs(folder: Path, n: int) -> Path:
    """``n`` distinct 6 x 8 RGB PNGs named 01.png, 02.png ... in ``folder``."""
    import PIL.Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.full((6, 8, 3), 10 * i, dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(folder / f"{i + 1:02d}.png")
    return folder


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/served``; ``.requests`` lists the paths asked for."""
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_CountingHandler, directory=str(served)))
    server.requests, server.served = [], served
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # never through a proxy
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def kodak_archive(tmp_path: Path, served: Path) -> str:
    """A zip laid out like deepinv's Kodak24 archive, holding 24 tiny PNGs; returns the folder's md5
    as deepinv computes it (the checksum its class verifies)."""
    from deepinv.datasets.utils import calculate_md5_for_folder

    source = tiny_pngs(tmp_path / "kodak_source" / KODAK_IMAGES, 24)
    with zipfile.ZipFile(served / "kodak.zip", "w") as archive:
        for path in sorted(source.iterdir()):
            archive.write(path, f"{KODAK_IMAGES}/{path.name}")
    return calculate_md5_for_folder(str(source))


def serve_kodak_from(monkeypatch, url: str, checksum: str) -> None:
    """Point deepinv's Kodak24 class at ``url`` (its class attributes are the seam)."""
    from deepinv.datasets import Kodak24

    monkeypatch.setattr(Kodak24, "_archive_urls", {"Kodak-Lossless-True-Color-Image-Suite-master.zip": url})
    monkeypatch.setattr(Kodak24, "_checksums", {KODAK_IMAGES: checksum})


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: a download that fails at once, as offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/kodak.zip"


# --- the cache ---------------------------------------------------------------------------------

def test_the_cache_is_rstor_data_when_set(cache):
    assert data_home() == cache


def test_the_cache_is_under_the_user_cache_folder_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("RSTOR_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data_home() == tmp_path / "rstor"


def test_a_cached_set_is_read_like_a_folder_without_any_network_access(cache, no_network):
    tiny_pngs(cache / "kodak24", 24)
    images = photos.test_photos("kodak24")
    assert len(images) == 24 and list(images)[:2] == ["01", "02"]
    assert all(image.shape == (6, 8, 3) and image.dtype == np.float32 for image in images.values())
    assert natural_images("kodak24").keys() == images.keys()
    assert missing_sources(DenoiseStudyConfig(test_images="kodak24")) == []


def test_a_cache_folder_missing_images_of_a_set_is_refused_with_the_count(cache, no_network):
    tiny_pngs(cache / "kodak24", 23)
    with pytest.raises(PublicSetUnavailable, match="holds 23 images, the set has 24"):
        public_set("kodak24")


# --- the download, served on 127.0.0.1 --------------------------------------------------------

def test_a_set_is_downloaded_once_through_deepinv_and_verified(cache, loopback, monkeypatch, tmp_path):
    serve_kodak_from(monkeypatch, f"{loopback.url}/kodak.zip", kodak_archive(tmp_path, loopback.served))
    folder = public_set("kodak24")
    assert folder == cache / "kodak24" and len(photos.test_photos("kodak24")) == 24
    public_set("kodak24")
    assert loopback.requests == ["/kodak.zip"]
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["kodak24"]  # no leftovers


def test_a_download_that_fails_its_checksum_is_refused_and_leaves_no_folder(cache, loopback, monkeypatch, tmp_path):
    kodak_archive(tmp_path, loopback.served)
    serve_kodak_from(monkeypatch, f"{loopback.url}/kodak.zip", "0" * 32)
    with pytest.raises(PublicSetUnavailable, match="kodak24"):
        public_set("kodak24")
    assert not (cache / "kodak24").exists()
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_offline_the_error_names_the_set_its_url_and_the_folder_to_fill(cache, monkeypatch):
    url = closed_port_url()
    serve_kodak_from(monkeypatch, url, "0" * 32)
    with pytest.raises(PublicSetUnavailable) as error:
        public_set("kodak24")
    message = str(error.value)
    assert "\n" not in message
    assert "kodak24" in message and url in message and str(cache / "kodak24") in message
    assert list(cache.iterdir()) == []  # issue 30, item 7: an offline try left .kodak24.lock behind


def test_missing_sources_reports_an_unavailable_set_with_its_url(cache, monkeypatch):
    url = closed_port_url()
    serve_kodak_from(monkeypatch, url, "0" * 32)
    [problem] = missing_sources(ExperimentConfig(data="natural", natural_images="kodak24"))
    assert problem.startswith("natural_images: ") and url in problem and str(cache / "kodak24") in problem


def test_an_unknown_name_is_reported_as_a_missing_folder_listing_the_set_names(cache):
    [problem] = missing_sources(DenoiseStudyConfig(test_images="kodak25"))
    assert "'kodak25'" in problem and "kodak24" in problem and "div2k" in problem


@pytest.mark.parametrize("name", sorted(PUBLIC_SETS))
def test_every_set_names_a_deepinv_class_and_a_download_address(name):
    import deepinv.datasets

    from rstor_core.images.public_sets import source_url

    assert hasattr(deepinv.datasets, PUBLIC_SETS[name].dataset)
    assert source_url(PUBLIC_SETS[name]).startswith(("http://", "https://"))


# --- the command line: exit 2 before any work ---------------------------------------------------

def _profile(tmp_path: Path, **denoise_study) -> Path:
    """A profile whose one experiment, ``run`` (which every chapter names), trains on kodak24."""
    from rstor_core.settings.chapters import sections_naming

    chapters = sections_naming("run")
    chapters["denoise_study"].update(denoise_study)
    path = tmp_path / "sets.yaml"
    path.write_text(yaml.safe_dump({**chapters, "experiments": {
        "run": {**TINY, "data": "natural", "natural_images": "kodak24"}}}, sort_keys=False))
    return path


def _error_line(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_check_profile_accepts_a_set_name_without_fetching_it(cache, tmp_path, no_network, capsys):
    assert main(["check-profile", str(_profile(tmp_path, test_images="kodak24"))]) == 0


def test_train_on_a_set_that_cannot_be_fetched_exits_2_with_one_line_and_writes_nothing(cache, tmp_path, monkeypatch,
                                                                                          capsys):
    url = closed_port_url()
    serve_kodak_from(monkeypatch, url, "0" * 32)
    out = tmp_path / "out"
    assert main(["train", "--profile", str(_profile(tmp_path)), "--experiment", "run", "--outputs", str(out)]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "kodak24" in line and url in line and str(cache / "kodak24") in line and not out.exists()


def test_infer_on_a_set_that_cannot_be_fetched_exits_2_with_one_line(cache, tmp_path, monkeypatch, capsys):
    url = closed_port_url()
    serve_kodak_from(monkeypatch, url, "0" * 32)
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")
    code = main(["infer", "--checkpoints", str(checkpoint), "--images", "kodak24", "--sigmas", "25",
                 "--out", str(tmp_path / "r.csv")])
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and url in line and str(cache / "kodak24") in line and not (tmp_path / "r.csv").exists()


def test_training_batches_read_a_cached_set_by_name(cache, tmp_path, no_network):
    import PIL.Image

    from rstor_core.networks.batches import TrainingBatches

    (cache / "kodak24").mkdir(parents=True)
    for i in range(24):  # the crops are 16 px
        PIL.Image.new("RGB", (20, 20), (i, 60, 90)).save(cache / "kodak24" / f"{i:02d}.png")
    config = ExperimentConfig(**{**TINY, "data": "natural", "natural_images": "kodak24"})
    degraded, clean = TrainingBatches(config).batch(0)
    assert clean.shape == (2, 3, 16, 16)


def test_train_checks_the_cached_folder_of_a_set_it_names(cache, tmp_path, no_network, capsys):
    (cache / "kodak24").mkdir(parents=True)
    for i in range(24):
        (cache / "kodak24" / f"{i:02d}.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["train", "--profile", str(_profile(tmp_path)), "--experiment", "run", "--outputs", str(out)]) == 2
    assert str(cache / "kodak24") in _error_line(capsys.readouterr().err) and not out.exists()


def test_a_profile_reports_the_missing_sets_of_a_chapter_and_of_its_experiments(cache, tmp_path, monkeypatch):
    from rstor_core.settings.profiles import load_profile

    serve_kodak_from(monkeypatch, closed_port_url(), "0" * 32)
    profile = load_profile(_profile(tmp_path, test_images="kodak24"))
    problems = chapter_missing_data(profile, "02_denoise_study")
    assert [p.split(":")[0] for p in problems] == ["denoise_study.test_images", "experiments.run.natural_images"]
    assert chapter_missing_data(profile, "01_data_generation") == []


def test_the_book_runner_refuses_a_set_it_cannot_fetch_before_any_chapter_runs(cache, tmp_path, monkeypatch):
    from rstor_core.book.runner import run_book
    from rstor_core.settings.profiles import load_profile

    url = closed_port_url()
    serve_kodak_from(monkeypatch, url, "0" * 32)
    profile = load_profile(_profile(tmp_path, test_images="kodak24"))
    with pytest.raises(ValueError, match="denoise_study.test_images") as error:
        run_book(profile, chapters=["02"], outputs_root=tmp_path / "out", build=False)
    assert url in str(error.value) and not (tmp_path / "out").exists()


# --- training sets: flickr2k, bsds500, lsdir ------------------------------------------------------

def test_flickr2k_is_downloaded_through_deepinv_into_its_cache_folder(cache, loopback, monkeypatch, tmp_path):
    from deepinv.datasets import Flickr2kHR
    from deepinv.datasets.utils import calculate_md5_for_folder

    source = tiny_pngs(tmp_path / "flickr_source" / "Flickr2K", 5)
    with zipfile.ZipFile(loopback.served / "Flickr2K.zip", "w") as archive:
        for path in sorted(source.iterdir()):
            archive.write(path, f"Flickr2K/{path.name}")
    monkeypatch.setattr(Flickr2kHR, "_archive_urls", {"Flickr2K.zip": f"{loopback.url}/Flickr2K.zip"})
    monkeypatch.setattr(Flickr2kHR, "_checksums", {"Flickr2K": calculate_md5_for_folder(str(source))})
    monkeypatch.setitem(PUBLIC_SETS, "flickr2k", dataclasses.replace(PUBLIC_SETS["flickr2k"], count=5))
    assert public_set("flickr2k") == cache / "flickr2k"
    assert list(natural_images("flickr2k")) == ["01", "02", "03", "04", "05"]
    assert loopback.requests == ["/Flickr2K.zip"]


def _lsdir_shards(tmp_path: Path, served: Path, collide: bool = False) -> tuple[str, list[str]]:
    """LSDIR's train split as deepinv lays it out, one tiny PNG in each of its 85 folders (named as LSDIR's
    are, so no two collide, unless ``collide`` names the second folder's image as the first's), packed five
    folders to a shard as ``shard-NN.tar.gz`` in ``served``; returns the split's md5 as deepinv computes
    it and the names of the images."""
    import hashlib
    import tarfile

    import PIL.Image
    from deepinv.datasets.utils import calculate_md5_for_folder

    folders = [tmp_path / "lsdir_source" / str(i * 1000).zfill(7) for i in range(1, 86)]
    md5 = hashlib.md5()
    for i, folder in enumerate(folders):
        folder.mkdir(parents=True)
        name = 1 if collide and i == 1 else i * 1000 + 1
        PIL.Image.fromarray(np.full((6, 8, 3), i, dtype=np.uint8)).save(folder / f"{name:07d}.png")
        md5.update(calculate_md5_for_folder(str(folder)).encode())
    for shard in range(17):
        with tarfile.open(served / f"shard-{shard:02d}.tar.gz", "w:gz") as archive:
            for folder in folders[5 * shard:5 * shard + 5]:
                archive.add(folder, folder.name)
    return md5.hexdigest(), [f"{i * 1000 + 1:07d}" for i in range(85)]


def _fake_hub(url: str):
    """A stand-in for ``huggingface_hub`` (not installed here, and LSDIR is gated) whose ``hf_hub_download``
    fetches the file from ``url`` over HTTP into ``local_dir``, as the real one does from the Hub."""
    import types
    import urllib.request

    def hf_hub_download(repo_id, filename, local_dir, cache_dir, **options):
        assert repo_id == "ofsoundof/LSDIR"
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(f"{url}/{filename}", Path(local_dir) / filename)
        return str(Path(local_dir) / filename)

    return types.SimpleNamespace(hf_hub_download=hf_hub_download)


def test_lsdir_is_gathered_from_its_85_folders_into_one_cache_folder(cache, loopback, monkeypatch, tmp_path):
    from deepinv.datasets import LsdirHR

    checksum, names = _lsdir_shards(tmp_path, loopback.served)
    monkeypatch.setitem(sys.modules, "huggingface_hub", _fake_hub(loopback.url))
    monkeypatch.setattr(LsdirHR, "_checksums", {"train": checksum, "val": "0" * 32})
    monkeypatch.setitem(PUBLIC_SETS, "lsdir", dataclasses.replace(PUBLIC_SETS["lsdir"], count=85))
    folder = public_set("lsdir")
    assert folder == cache / "lsdir" and sorted(p.stem for p in folder.iterdir()) == names
    assert len(loopback.requests) == 17
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["lsdir"]  # no staging left


def test_a_gathered_set_whose_folders_share_an_image_name_is_refused_and_leaves_nothing(cache, loopback, monkeypatch,
                                                                                       tmp_path):
    from deepinv.datasets import LsdirHR

    checksum, _ = _lsdir_shards(tmp_path, loopback.served, collide=True)
    monkeypatch.setitem(sys.modules, "huggingface_hub", _fake_hub(loopback.url))
    monkeypatch.setattr(LsdirHR, "_checksums", {"train": checksum, "val": "0" * 32})
    monkeypatch.setitem(PUBLIC_SETS, "lsdir", dataclasses.replace(PUBLIC_SETS["lsdir"], count=85))
    with pytest.raises(PublicSetUnavailable, match="two images are named '0000001.png' in the download"):
        public_set("lsdir")
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_lsdir_without_the_hub_client_says_what_it_needs_the_url_and_the_folder(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # importing it fails, as where it is not installed
    with pytest.raises(PublicSetUnavailable) as error:
        public_set("lsdir")
    message = str(error.value)
    assert "huggingface-hub" in message and "https://huggingface.co/ofsoundof/LSDIR" in message
    assert str(cache / "lsdir") in message and "84991 images" in message and "\n" not in message
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("name", ["flickr2k", "bsds500", "lsdir"])
def test_check_profile_accepts_a_training_set_by_name_without_fetching_it(name, cache, tmp_path, no_network):
    path = _profile(tmp_path)
    path.write_text(path.read_text().replace("natural_images: kodak24", f"natural_images: {name}"))
    assert f"natural_images: {name}" in path.read_text()
    assert main(["check-profile", str(path)]) == 0


def test_bsds500_gathers_its_train_and_test_splits_and_leaves_val_to_the_test_sets(cache, loopback, monkeypatch,
                                                                                   tmp_path):
    import deepinv.datasets.bsds500 as bsds500
    import PIL.Image

    images = "BSDS500-master/BSDS500/data/images"
    with zipfile.ZipFile(loopback.served / "master.zip", "w") as archive:
        for split, ids in (("train", (2092, 8049)), ("test", (2018,)), ("val", (3096,))):
            for i in ids:
                path = tmp_path / f"{i}.jpg"
                PIL.Image.new("RGB", (8, 6), (i % 255, 0, 0)).save(path)
                archive.write(path, f"{images}/{split}/{i}.jpg")
    served = bsds500.download_archive  # deepinv's class names its address and checksum inside __init__
    monkeypatch.setattr(bsds500, "download_archive", lambda url, path: served(f"{loopback.url}/master.zip", path))
    monkeypatch.setattr(bsds500, "calculate_md5", lambda fpath: "7bfe17302a219367694200a61ce8256c")
    monkeypatch.setitem(PUBLIC_SETS, "bsds500", dataclasses.replace(PUBLIC_SETS["bsds500"], count=3))
    assert sorted(natural_images("bsds500")) == ["2018", "2092", "8049"]
    assert loopback.requests == ["/master.zip"]
