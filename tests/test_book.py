"""The runner: chapter order and failure behaviour on tiny notebooks, then the smoke book end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import PIL.Image
import pytest
from conftest import ROOT

from rstor_core.book.runner import Chapter, ChapterError, OutputsConflict, run_book, run_chapters, select_chapters
from rstor_core.book.site import toc_chapters
from rstor_core.settings.files import pid_alive
from rstor_core.settings.profiles import load_profile

CHAPTER = """# %% tags=["parameters"]
value = 0
output_dir = "."

# %%
from pathlib import Path
Path(output_dir, "{name}.txt").write_text(str(value))

# %%
{body}
"""


def _chapter(tmp_path: Path, name: str, body: str = "pass", value: int = 1) -> Chapter:
    source = tmp_path / "src" / f"{name}.py"
    source.parent.mkdir(exist_ok=True)
    source.write_text(CHAPTER.format(name=name, body=body))
    return Chapter(name, source, {"value": value, "output_dir": str(tmp_path)})


def test_declared_parameters_are_read_from_the_jupytext_source(tmp_path):
    from rstor_core.book.runner import declared_parameters

    assert declared_parameters(_chapter(tmp_path, "01_a").source) == {"value", "output_dir"}
    assert {"fresh", "device", "n_kernels"} <= declared_parameters(ROOT / "book" / "03_deblur_study.py")


def test_toc_lists_the_chapters_with_a_source():
    assert toc_chapters(ROOT)[0] == "01_data_generation"


def test_chapters_are_selected_by_number_or_name_in_toc_order():
    available = ["01_a", "02_b", "03_c"]
    assert select_chapters(available, ["03", "01_a"]) == ["01_a", "03_c"]
    assert select_chapters(available, None) == available
    with pytest.raises(ValueError, match="no chapter '04'"):
        select_chapters(available, ["04"])


def test_parameters_are_injected_and_the_manifest_records_each_chapter(tmp_path):
    out = tmp_path / "out"
    run_chapters([_chapter(tmp_path, "01_a", value=41)], out, cwd=tmp_path, provenance={"profile": "t"})
    assert (tmp_path / "01_a.txt").read_text() == "41"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chapters"]["01_a"]["status"] == "ok" and manifest["chapters"]["01_a"]["seconds"] > 0
    assert manifest["profile"] == "t"
    assert (out / "notebooks" / "01_a.ipynb").is_file()


def test_failing_chapter_names_itself_and_its_cell_and_leaves_other_outputs_intact(tmp_path):
    out = tmp_path / "out"
    good, bad, after = (_chapter(tmp_path, "01_a"), _chapter(tmp_path, "02_b"), _chapter(tmp_path, "03_c"))
    run_chapters([good, bad], out, cwd=tmp_path, provenance={})
    before = {p.name: p.read_bytes() for p in (out / "notebooks").iterdir()}
    entry = json.loads((out / "manifest.json").read_text())["chapters"]["02_b"]

    bad = _chapter(tmp_path, "02_b", body='raise ValueError("forced failure")', value=2)
    with pytest.raises(ChapterError) as err:
        run_chapters([good, bad, after], out, cwd=tmp_path, provenance={})
    message = str(err.value)
    assert "chapter 02_b" in message and "cell 3" in message and "forced failure" in message
    assert 'raise ValueError("forced failure")' in message
    assert (out / "notebooks" / "02_b.ipynb").read_bytes() == before["02_b.ipynb"]  # last good copy kept
    assert (out / "notebooks" / "02_b.failed.ipynb").is_file()
    assert not (out / "notebooks" / "03_c.ipynb").exists()  # never started
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    chapters = json.loads((out / "manifest.json").read_text())["chapters"]
    assert chapters["02_b"] == entry  # it still says what made the outputs kept


# A chapter writing a figure and a table as ChapterRun does: into the runner's staging folder when given one.
STAGED_CHAPTER = """# %% tags=["parameters"]
value = 0
output_dir = "."
staging_dir = None
fail = False
sleep = 0

# %%
import os, time
from pathlib import Path
root = Path(staging_dir or output_dir)
(root / "tables").mkdir(parents=True, exist_ok=True)
(root / "tables" / "01_a.csv").write_text(f"value\\n{value}\\n")
(root / "figures").mkdir(parents=True, exist_ok=True)
(root / "figures" / "01_a.png").write_bytes(bytes([value]) * 64)
Path(output_dir, "kernel.pid").write_text(str(os.getpid()))

# %%
time.sleep(sleep)
if fail:
    raise ValueError("forced failure")
"""


def _staged_chapter(tmp_path: Path, **parameters) -> Chapter:
    source = tmp_path / "src" / "01_a.py"
    source.parent.mkdir(exist_ok=True)
    source.write_text(STAGED_CHAPTER)
    return Chapter("01_a", source, {"output_dir": str(tmp_path / "out"), **parameters})


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "kernel.pid" and not p.name.endswith(".lock")}


def test_a_failing_chapter_publishes_none_of_its_figures_and_tables(tmp_path):
    out = tmp_path / "out"
    run_chapters([_staged_chapter(tmp_path, value=1)], out, cwd=tmp_path, provenance={})
    before = _snapshot(out)
    assert {"tables/01_a.csv", "figures/01_a.png", "notebooks/01_a.ipynb", "manifest.json"} <= set(before)

    with pytest.raises(ChapterError, match="forced failure"):
        run_chapters([_staged_chapter(tmp_path, value=2, fail=True)], out, cwd=tmp_path, provenance={})
    after = _snapshot(out)
    assert after.pop("notebooks/01_a.failed.ipynb")  # the failed run, for its traceback
    assert after == before
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_a_chapter_that_succeeds_publishes_its_figures_tables_and_notebook_together(tmp_path):
    out = tmp_path / "out"
    run_chapters([_staged_chapter(tmp_path, value=1)], out, cwd=tmp_path, provenance={})
    run_chapters([_staged_chapter(tmp_path, value=2)], out, cwd=tmp_path, provenance={})
    assert (out / "tables" / "01_a.csv").read_text() == "value\n2\n"
    assert (out / "figures" / "01_a.png").read_bytes() == bytes([2]) * 64
    assert not (out / "notebooks" / "01_a.failed.ipynb").exists()
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    published = (out / "notebooks" / "01_a.ipynb").read_text()
    assert 'staging_dir = \\"out/.01_a.tmp-' in published  # relative to the kernel's cwd: no machine path
    injected = [c for c in json.loads(published)["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "hide-input" in injected[0]["metadata"]["tags"]


def test_a_chapter_run_removes_its_figures_and_tables_the_run_did_not_write_and_no_other_chapters(tmp_path):
    out = tmp_path / "out"
    for stale in ("tables/01_gone.csv", "figures/01_gone.png", "tables/02_other.csv", "tables/01_dir/keep.csv"):
        (out / stale).parent.mkdir(parents=True, exist_ok=True)
        (out / stale).write_text("from an earlier run")
    run_chapters([_staged_chapter(tmp_path, value=1)], out, cwd=tmp_path, provenance={})
    assert not (out / "tables" / "01_gone.csv").exists() and not (out / "figures" / "01_gone.png").exists()
    assert (out / "tables" / "02_other.csv").is_file() and (out / "tables" / "01_dir" / "keep.csv").is_file()
    assert (out / "tables" / "01_a.csv").read_text() == "value\n1\n"


def test_chapter_run_writes_into_the_staging_folder_under_the_runner_and_into_outputs_without_it(tmp_path):
    import pandas as pd
    import torch

    from rstor_core.book.chapter import ChapterRun

    def run(staging):
        return ChapterRun(name="01_a", config=None, profile=None, output_dir=tmp_path / "out",
                          device=torch.device("cpu"), staging_dir=staging)

    run(tmp_path / "staging").save_table(pd.DataFrame({"a": [1]}), "t.csv")
    assert (tmp_path / "staging" / "tables" / "t.csv").is_file() and not (tmp_path / "out").exists()
    assert run(tmp_path / "staging").figures == tmp_path / "staging" / "figures"
    run(None).save_table(pd.DataFrame({"a": [1]}), "t.csv")  # JupyterLab, or papermill by hand
    assert (tmp_path / "out" / "tables" / "t.csv").is_file()
    shown = run(None).save_table(pd.DataFrame({"a": [1.0, None], "lpips": [None, None], "note": ["why", ""]}), "u.csv")
    assert (tmp_path / "out" / "tables" / "u.csv").read_text().startswith("a,note\n")  # no empty column written
    assert list(shown) == ["a", "lpips", "note"]  # the chapter's code still finds every column it computed


def _in_terminal() -> None:
    """A process started from a terminal takes Ctrl-C (one started in the background by a script ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_a_chapter_promptly_publishes_nothing_and_stops_its_kernel(tmp_path):
    out = tmp_path / "out"
    run_chapters([_staged_chapter(tmp_path, value=1)], out, cwd=tmp_path, provenance={})
    before = _snapshot(out)
    (out / "kernel.pid").unlink()
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from rstor_core.book.runner import Chapter, run_chapters
        try:
            run_chapters([Chapter("01_a", Path({str(tmp_path / "src" / "01_a.py")!r}),
                                  {{"output_dir": {str(out)!r}, "value": 2, "sleep": 120}})],
                         Path({str(out)!r}), cwd=Path({str(tmp_path)!r}), provenance={{}})
        except KeyboardInterrupt:  # what the CLI turns into exit 130
            sys.exit(130)
        """)
    run = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True, preexec_fn=_in_terminal,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (out / "kernel.pid").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # inside the sleeping cell
    os.killpg(run.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    start = time.monotonic()
    try:
        output, _ = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 130, output[-3000:]
    assert time.monotonic() - start < 15
    assert "Traceback" not in output  # not even the kernel's, stopped mid-cell
    kernel = int((out / "kernel.pid").read_text())
    deadline = time.monotonic() + 10
    while pid_alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_alive(kernel)
    assert _snapshot(out) == before
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


@pytest.mark.slow  # a Python process and two Jupyter kernels at once: 5 s alone, 22 s on a busy 2-core machine
def test_two_chapters_run_at_once_both_reach_the_manifest(tmp_path):
    """The slow chapter read the manifest before the fast one wrote it; its update must not erase the other."""
    out = tmp_path / "out"
    go = tmp_path / "go"
    slow = _chapter(tmp_path, "01_a", body=f"import time\nwhile not Path({str(go)!r}).exists(): time.sleep(0.1)")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from rstor_core.book.runner import Chapter, run_chapters
        run_chapters([Chapter("01_a", Path({str(slow.source)!r}), {slow.parameters!r})], Path({str(out)!r}),
                     cwd=Path({str(tmp_path)!r}), provenance={{}})
        """)
    first = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "01_a.txt").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the slow chapter is running
        run_chapters([_chapter(tmp_path, "02_b")], out, cwd=tmp_path, provenance={})
        go.touch()
        output, _ = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, output[-3000:]
    chapters = json.loads((out / "manifest.json").read_text())["chapters"]
    assert set(chapters) == {"01_a", "02_b"}


@pytest.mark.slow  # a Python process and a Jupyter kernel: 4 s alone, 12 s on a busy 2-core machine
def test_the_runner_prints_one_line_per_chapter_start_and_end_and_no_papermill_or_kernel_chatter(tmp_path):
    script = textwrap.dedent(f"""
        import logging
        from pathlib import Path
        from rstor_core.book.runner import Chapter, run_chapters
        logging.basicConfig(level=logging.INFO, format="%(message)s")  # as the CLI does
        run_chapters([Chapter("01_a", Path({str(_chapter(tmp_path, "01_a").source)!r}),
                              {{"value": 1, "output_dir": {str(tmp_path)!r}}})],
                     Path({str(tmp_path / "out")!r}), cwd=Path({str(tmp_path)!r}), provenance={{"profile": "t"}})
        """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.startswith("[1/1] 01_a: ") for line in lines), lines


def test_a_second_book_run_on_the_same_outputs_waits_for_the_first_saying_so(tmp_path, monkeypatch, caplog):
    import threading

    import filelock

    import rstor_core.book.runner as book

    ran = []
    monkeypatch.setattr(book, "run_chapters", lambda *a, **k: ran.append(a))
    (tmp_path / "smoke").mkdir()
    second = threading.Thread(target=run_book, args=(load_profile("smoke"),),
                              kwargs={"root": ROOT, "outputs_root": tmp_path, "build": False})
    with filelock.FileLock(tmp_path / "smoke" / ".book.lock"):  # the first run
        second.start()
        time.sleep(1.0)
        assert ran == [] and second.is_alive()
    second.join(timeout=30)
    assert len(ran) == 1
    assert "waiting for another book run" in caplog.text


def test_a_profile_file_of_the_same_name_elsewhere_does_not_write_over_another_profiles_outputs(tmp_path, monkeypatch):
    import rstor_core.book.runner as book

    ran = []
    monkeypatch.setattr(book, "run_chapters", lambda *a, **k: ran.append(a))
    outputs = tmp_path / "outputs"
    (outputs / "smoke").mkdir(parents=True)
    (outputs / "smoke" / "manifest.json").write_text(json.dumps({"profile_file": "parameters/smoke.yaml"}))
    copy = tmp_path / "smoke.yaml"
    copy.write_text((ROOT / "parameters" / "smoke.yaml").read_text())
    with pytest.raises(OutputsConflict, match="parameters/smoke.yaml.*--outputs"):
        run_book(load_profile(str(copy)), root=ROOT, outputs_root=outputs, build=False)
    from rstor_core.__main__ import main

    assert main(["book", "--profile", str(copy), "--outputs", str(outputs), "--no-build"]) == 2  # bad input
    assert ran == []
    run_book(load_profile("smoke"), root=ROOT, outputs_root=outputs, build=False)  # the profile that wrote them
    run_book(load_profile(str(copy)), root=ROOT, outputs_root=tmp_path / "elsewhere", build=False)
    assert len(ran) == 2


def test_a_book_run_removes_what_killed_runs_left_in_its_outputs(tmp_path, monkeypatch):
    import rstor_core.book.runner as book

    monkeypatch.setattr(book, "run_chapters", lambda *a, **k: None)
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    leftover = tmp_path / "smoke" / "checkpoints" / "x" / f".model.tmp-{process.pid}.pt"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("half written")
    run_book(load_profile("smoke"), root=ROOT, outputs_root=tmp_path, build=False)
    assert not leftover.exists()


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory) -> tuple[Path, Path]:
    """The smoke profile run end to end (every chapter, HTML book) into a temporary folder."""
    import dataclasses

    from test_pairs import write_pairs

    tmp = tmp_path_factory.mktemp("smoke")
    profile = load_profile("smoke")  # chapter 03 also scored on recorded-blur pairs the test makes
    section = dataclasses.replace(profile.deblur_study, real_pairs=str(write_pairs(tmp / "shots", n=2, size=64)))
    out = run_book(dataclasses.replace(profile, deblur_study=section), root=ROOT, outputs_root=tmp / "outputs",
                   build_root=tmp)
    return out, tmp / "_build" / "html"


@pytest.mark.slow
def test_smoke_profile_runs_every_chapter_and_builds_the_book(smoke_book):
    out, html = smoke_book
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["chapters"]) == set(toc_chapters(ROOT))
    assert all(entry["status"] == "ok" for entry in manifest["chapters"].values())
    for key in ("git_commit", "profile_sha256", "packages", "device", "seeds"):
        assert key in manifest
    assert {"01_gallery.png", "01_radius_law.png", "01_power_spectra.png"} <= {p.name for p in (out / "figures").iterdir()}
    assert {"01_radius_ks.csv", "01_spectral_slopes.csv"} <= {p.name for p in (out / "tables").iterdir()}
    page = (html / "book" / "01_data_generation.html").read_text()
    assert (html / "index.html").is_file() and page.count("<img") >= 3
    assert "Traceback" not in page
    from reading_checks import reading_problems  # issue 32: raw headers, self-comparisons, bare options

    assert {n.stem: reading_problems(n) for n in (out / "notebooks").glob("0*.ipynb")} == {
        name: [] for name in toc_chapters(ROOT)}


@pytest.mark.slow
def test_a_profile_value_that_makes_the_chapter_raise_exits_nonzero_naming_chapter_and_cell(smoke_book, tmp_path):
    broken = tmp_path / "photos"  # a PNG whose header reads (the runner's check passes) but whose pixels do not
    broken.mkdir()
    PIL.Image.new("RGB", (64, 64), "white").save(broken / "photo.png")
    data = (broken / "photo.png").read_bytes()
    (broken / "photo.png").write_bytes(data[:len(data) // 2])
    profile = tmp_path / "smoke.yaml"
    text = (ROOT / "parameters" / "smoke.yaml").read_text()
    profile.write_text(text.replace("natural_images: skimage", f"natural_images: {broken}"))
    out = tmp_path / "outputs" / "smoke"  # the good run's outputs, as if this profile file had written them
    for folder in ("notebooks", "figures", "tables"):
        shutil.copytree(smoke_book[0] / folder, out / folder)
    (out / "manifest.json").write_text(json.dumps({"profile_file": str(profile)}))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = subprocess.run([sys.executable, "-m", "rstor_core", "book", "--profile", str(profile),
                             "--outputs", str(out.parent), "--no-build"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert "chapter 01_data_generation failed in cell" in result.stderr
    assert "cannot read image 'photo.png'" in result.stderr and "photos = load_photos" in result.stderr
    assert {p: p.read_bytes() for p in before} == before  # the notebook, 01's figures and tables: all kept
    added = {p for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"} - set(before)
    assert added == {out / "notebooks" / "01_data_generation.failed.ipynb"}


@pytest.mark.slow
def test_every_page_reads_in_headless_chromium_at_1400_px(smoke_book):
    """What a reader sees: every page's images load, no table is wider than the text column, the
    landing page's headline table holds numbers, maths renders, and a player steps to a new frame;
    and no page requests anything outside the built site (no CDN: the book reads offline)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: run `make chromium`")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    html = smoke_book[1]
    pages = [html / "book" / "intro.html", *sorted((html / "book").glob("0*.html"))]  # index.html redirects there
    seen, players, requests = {}, [], []  # requests: (page, URL) of everything each page asked for
    current = "index.html"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("request", lambda request: requests.append((current, request.url)))
        page.goto((html / "index.html").as_uri())
        page.wait_for_url("**/book/intro.html")  # the book's front door opens the landing page
        for path in pages:
            current = path.name
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")  # what loads late (MathJax's fonts) is recorded too
            seen[path.name] = page.evaluate("""() => ({
                images: Array.from(document.images).map(i => [i.src.slice(-60), i.complete && i.naturalWidth > 0]),
                sources: Array.from(document.images).map(i => i.src),
                tables: Array.from(document.querySelectorAll('article table')).map(
                    t => [t.scrollWidth, document.querySelector('article').clientWidth]),
                firstTable: (document.querySelector('article table') || {}).innerText || '',
                maths: document.querySelectorAll('mjx-container').length,
                players: document.querySelectorAll('.animation').length})""")
            if seen[path.name]["players"] and not players:
                frame = page.locator(".animation img").first
                before = frame.get_attribute("src")
                page.locator(".animation button[onclick*='next_frame']").first.click()
                players.append((path.name, before != frame.get_attribute("src")))
        browser.close()
    for name, found in seen.items():
        assert all(ok for _, ok in found["images"]), (name, [src for src, ok in found["images"] if not ok])
        assert all(width <= column + 1 for width, column in found["tables"]), (name, found["tables"])
    assert re.search(r"[+-]?\d+\.\d+ dB", seen["intro.html"]["firstTable"]), seen["intro.html"]["firstTable"]
    assert seen["01_data_generation.html"]["maths"] > 0, "MathJax did not render (vendored copy missing?)"
    assert sum(found["players"] for found in seen.values()) >= 2 and players and players[0][1], players
    from urllib.parse import unquote, urlparse

    from rstor_core.book.figures import ARMS_KEY, arm_colour

    arms = {}  # each figure the pages show names the colour it drew each arm in: the palette's
    for found in seen.values():
        for src in found["sources"]:
            if src.startswith("file:") and src.endswith(".png"):
                arms.update(json.loads(PIL.Image.open(unquote(urlparse(src).path)).text.get(ARMS_KEY, "{}")))
    assert arms, "no figure named its arms' colours"
    assert {label: colour for label, colour in arms.items() if colour != arm_colour(label)} == {}
    assert len(requests) > len(pages)  # the recorder saw the pages and their files
    external = [(name, url) for name, url in requests if url.split(":", 1)[0] not in ("file", "data", "blob", "about")]
    assert not external, external


@pytest.mark.slow
def test_denoising_chapters_write_their_tables_and_the_networks_beat_the_noisy_input(smoke_book):
    import pandas as pd

    tables = smoke_book[0] / "tables"
    rows = pd.read_csv(tables / "02_denoise_natural.csv")
    assert {"model", "test_set", "image", "degradation", "sigma_255", "size_px", "psnr", "ssim", "st_lpips",
            "lpips_note"} <= set(rows.columns)
    for csv in tables.glob("*.csv"):  # a metric that could not be computed is explained, not an empty column
        assert pd.read_csv(csv).notna().any().all(), csv.name
    assert rows[rows.sigma_255.isin([25.0, 50.0])].st_lpips.notna().all()  # ST-LPIPS at the table's sigmas
    psnr = rows.groupby(["model", "sigma_255"]).psnr.mean()
    for model in ("dead leaves (discs)", "dead leaves + primitives", "natural"):
        for sigma in (25.0, 50.0):
            assert psnr[model, sigma] > psnr["input", sigma], (model, sigma)
    assert "BM3D (knows σ)" in set(rows.model)
    table = pd.read_csv(tables / "02_denoise_table.csv")
    assert {"model", "psnr_sigma25_db", "ssim_sigma25", "st_lpips_sigma25", "psnr_sigma50_db", "n_images"} <= set(table)
    assert table.filter(like="lpips").notna().any().all()  # never an all-empty column
    assert {"step", "loss", "lr", "val_psnr", "img_per_s", "experiment"} <= set(pd.read_csv(tables / "02_training_curves.csv"))
    assert {"source", "sigma_255", "dead_leaves_db", "natural_db", "gap_db"} <= set(
        pd.read_csv(tables / "02_published_comparison.csv"))
    cross = pd.read_csv(tables / "04_cross_validation.csv")
    assert {"sigma_255", "test_set", "model", "psnr", "ssim", "n_images"} <= set(cross.columns)
    assert set(cross.test_set) == {"natural", "dead leaves"} and set(cross.model) == {"input", "dead leaves", "natural"}


@pytest.mark.slow
def test_deblurring_chapter_writes_one_row_per_model_and_test_set_and_a_column_group_per_family(smoke_book):
    import pandas as pd

    out, html = smoke_book
    tables, figures = out / "tables", out / "figures"
    table = pd.read_csv(tables / "03_deblur_table.csv")
    families = ("small", "mild", "big")
    assert {f"{family}_{metric}" for family in families for metric in ("psnr_db", "ssim", "st_lpips")} <= set(table)
    assert table.filter(like="lpips").notna().any().all()  # never an all-empty column
    assert set(table.test_set) == {"natural", "dead leaves"}
    anchor = "Richardson-Lucy (non-blind, knows the kernel)"
    assert set(table.model) == {"input", "dead leaves", "natural", anchor}
    assert len(table) == len(table[["model", "test_set"]].drop_duplicates()) == 8
    assert table[[f"{f}_psnr_db" for f in families]].notna().all().all()
    # the smoke profile deblurs with banks' first kernels: kernels of each family, never the training ones
    rows = pd.read_csv(tables / "03_deblur_rows.csv")
    assert set(rows.family) == set(families) and set(rows.blur.str.split(":").str[1].astype(int)) == {0, 1}
    gains = pd.read_csv(tables / "03_gain_vs_radius.csv")
    assert {"blur", "radius_px", "dead leaves", "natural", anchor} <= set(gains)
    assert gains.radius_px.between(0.5, 6.0).all()
    assert set(pd.read_csv(tables / "03_gaussian_table.csv").model) == {"input", "dead leaves", "natural", anchor}
    comparison = pd.read_csv(tables / "03_published_comparison.csv")
    assert comparison.query("source.str.startswith('published')").shape[0] == 6
    written = {p.name for p in figures.iterdir()}
    assert {"03_deblur_grid.png", "03_gain_vs_radius.png", "03_inspector_big.png"} <= written
    page = (html / "book" / "03_deblur_study.html").read_text()
    assert page.count("<img") >= 4 and "Traceback" not in page
    real = pd.read_csv(tables / "03_real_blur_rows.csv")  # the pairs of the profile: recorded, not bank, blur
    assert set(real.model) == {"input", "dead leaves", "natural"} and set(real.blur) == {"recorded"}
    assert set(real.image) == {"shot0"} and set(real.size_px) == {48}  # n_images 1, eval_size 48
    assert real.groupby("model").run.nunique().to_dict() == {"input": 1, "dead leaves": 2, "natural": 2}
    real_table = pd.read_csv(tables / "03_real_blur_table.csv").set_index("model")
    assert real_table.psnr_gain_db.isna()["input"] and real_table.psnr_gain_db.notna().drop("input").all()
    assert set(real_table.test_set) == set(real.test_set) == {"shots"}  # the folder's name, not its path
    assert "1 pair of" in page and "shots" in page


def test_batch_runs_inject_the_section_and_never_build_live_widgets(tmp_path):
    from rstor_core.book.runner import chapter_parameters

    profile = load_profile("smoke")
    for name in toc_chapters(ROOT):
        source = ROOT / "book" / f"{name}.py"
        params = chapter_parameters(profile, name, source, tmp_path, fresh=True, device="cpu")
        assert params["live_widgets"] is False and params["profile"] == "parameters/smoke.yaml", name
        assert params["fresh"] is True and params["device"] == "cpu", name
    params = chapter_parameters(profile, "03_deblur_study", ROOT / "book" / "03_deblur_study.py", tmp_path)
    assert params["n_kernels"] == profile.deblur_study.n_kernels and "fresh" not in params and "device" not in params


def test_a_fresh_run_retrains_each_experiment_in_the_first_chapter_that_names_it(tmp_path, monkeypatch):
    import rstor_core.book.runner as book

    planned = {}
    monkeypatch.setattr(book, "run_chapters",
                        lambda plan, *a, **k: planned.update({c.name: c.parameters for c in plan}))
    run_book(load_profile("smoke"), root=ROOT, outputs_root=tmp_path, fresh=True, build=False)
    profile = load_profile("smoke")
    for name in ("02_denoise_study", "03_deblur_study"):  # each retrains its own experiments, every one
        assert planned[name]["fresh"] == sorted(profile.chapter_experiments(name)), name
    assert "fresh" not in planned["04_cross_validation"]  # its denoisers are chapter 02's, retrained once


@pytest.mark.slow
def test_papermill_overrides_reach_the_chapter_and_a_bad_value_fails_with_the_profile_error(smoke_book, tmp_path):
    """The papermill idiom on the paired notebook: cross-validation at sigmas without 25 runs end to end
    (the smoke book's networks, tiny test sets); an out-of-range value stops at the opener with the profile's
    message."""
    import pandas as pd

    shutil.copytree(smoke_book[0] / "checkpoints", tmp_path / "out" / "checkpoints")
    papermill = [sys.executable, "-m", "papermill", "-k", "python3", "--cwd", str(ROOT)]
    overrides = ["-p", "profile", "smoke", "-p", "output_dir", str(tmp_path / "out"), "-p", "publish", "True",
                 "-p", "n_images", "1",
                 "-p", "n_dead_leaves", "1", "-p", "dead_leaves_size", "32", "-p", "eval_size", "32",
                 "-y", "sigmas: [15.0, 50.0]"]
    good = subprocess.run([*papermill, "book/04_cross_validation.ipynb", str(tmp_path / "04.ipynb"), *overrides],
                          cwd=ROOT, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr[-3000:]
    cross = pd.read_csv(tmp_path / "out" / "tables" / "04_cross_validation.csv")
    assert sorted(cross.sigma_255.unique()) == [15.0, 50.0] and set(cross.n_images) == {1}
    bad = subprocess.run([*papermill, "book/03_deblur_study.ipynb", str(tmp_path / "03.ipynb"), "-p", "n_kernels", "40",
                          "-p", "output_dir", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0
    assert "ProfileError" in bad.stderr and "deblur_study.n_kernels: 40 is out of range" in bad.stderr
    assert not (tmp_path / "out" / "tables" / "03_deblur_table.csv").exists()
