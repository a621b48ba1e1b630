"""Dead-leaves rendering speed, in Mpix/s: our kernels against the original study's two kernels.

The original study's default kernel gives each pixel a thread that tests the leaves in sampling
order and stops at the first that covers it; its other kernel visits every leaf at every pixel
(cost ∝ pixels × leaves). Both are kept here as numba kernels on the same threads, as references:
the default one is the baseline that matters. Ours bins the leaves by tile first, so a pixel
tests only the leaves whose bounding box meets its tile, and a tile stops once it is covered
(:mod:`rstor_core.images.leaf_kernels`). Every engine renders the same sampled leaves (the seed's defaults:
flat discs, 30 × size of them, alpha = 3) and must give the same image; sampling is excluded.
"single" is one image, "batch" is ``batch`` images back to back. CUDA rows appear when a GPU is
present (host-device copies included). :func:`end_to_end_table` times what a user pays, sampling
included, against the original study's generator end to end (its draws and its default kernel).
Chapter 01 shows :func:`rendering_speed_table` and a small :func:`end_to_end_table`;
``benchmarks/deadleaves.py`` prints them and :func:`rendering_scaling_table`. Timings on a shared
2-core machine vary by tens of percent between runs: compare ratios within one run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from unittest import mock

import numba
import numpy as np
import pandas as pd

from rstor_core.images import deadleaves
from rstor_core.images.antialiasing import antialiased
from rstor_core.images.deadleaves import dead_leaves, image_rng, render_leaves
from rstor_core.images.leaf_sampling import SHAPES, sample_leaves
from rstor_core.settings.configs import DeadLeavesConfig
from rstor_core.settings.rng import stream

DEFAULT, EXHAUSTIVE = "original default (numba CPU)", "original exhaustive (numba CPU)"


@numba.njit(parallel=True, cache=True)
def first_hit_render(cy, cx, radius, colours, background, out):  # pragma: no cover - compiled
    """The original study's default kernel: every pixel tests the leaves front to back, first hit wins."""
    height, width = out.shape[:2]
    for y in numba.prange(height):
        for x in range(width):
            for c in range(3):
                out[y, x, c] = background
            for k in range(radius.shape[0]):
                dy, dx = y - cy[k], x - cx[k]
                if dx * dx + dy * dy <= radius[k] * radius[k]:
                    for c in range(3):
                        out[y, x, c] = colours[k, c]
                    break


@numba.njit(parallel=True, cache=True)
def exhaustive_render(cy, cx, radius, colours, background, out):  # pragma: no cover - compiled
    """The original study's other kernel: every pixel visits every leaf, back to front, last hit wins."""
    height, width = out.shape[:2]
    for y in numba.prange(height):
        for x in range(width):
            for c in range(3):
                out[y, x, c] = background
            for k in range(radius.shape[0] - 1, -1, -1):
                dy, dx = y - cy[k], x - cx[k]
                if dx * dx + dy * dy <= radius[k] * radius[k]:
                    for c in range(3):
                        out[y, x, c] = colours[k, c]


def _original(kernel):
    def render(leaves, size: int) -> np.ndarray:
        out = np.empty((size, size, 3))
        kernel(leaves.centres[:, 0].copy(), leaves.centres[:, 1].copy(), leaves.radii, leaves.colours, 0.5, out)
        return out.astype(np.float32)
    return render


def _engines() -> dict:
    from rstor_core.images.cuda_compat import numba_cuda

    cuda = numba_cuda()

    engines = {"ours (numba CPU)": lambda leaves, size: render_leaves(leaves, size),
               DEFAULT: _original(first_hit_render), EXHAUSTIVE: _original(exhaustive_render)}
    if cuda.is_available() and not numba.config.ENABLE_CUDASIM:  # the simulator is far too slow to time
        engines["ours (numba CUDA)"] = lambda leaves, size: render_leaves(leaves, size, backend="cuda")
    return engines


def _seconds(fn, repeats: int) -> float:
    """The median of ``repeats`` timings: a shared 2-core machine's stalls move a best-of by tens of percent."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _warm_up(fn, seconds: float = 0.3) -> None:
    """Call ``fn`` untimed, with the arguments and shapes about to be timed, and keep calling it
    for ``seconds``. Every table calls it before each engine, size and model: a timed first call
    would count numba's compile (seconds, in a fresh kernel); and on this project's 2-core VM the
    first calls of a parallel kernel after another kernel's long parallel runs took 1.5-4x their
    steady time (ours at 256²: 1.45 ms an image right after the original's kernels, 0.34 ms a
    minute later), which would charge to one engine the history of another."""
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < seconds:
        fn()


def rendering_speed_table(sizes=(128, 256, 512), *, batch: int = 16, repeats: int = 3, naive_max_size: int = 512,
                          seed: int = 0) -> pd.DataFrame:
    """Mpix/s of every engine at each size, single image (the median over the ``batch`` images of each
    one's median of ``repeats`` timings; the exhaustive kernel: two images, once) and batch (the images back
    to back, median of ``repeats``), with the speed-up over each of the original study's kernels (the
    exhaustive one only up to ``naive_max_size``: it is slow)."""
    params = DeadLeavesConfig()
    rows = []
    for size in sizes:
        rng = stream(seed, "benchmark", size)
        sets = [sample_leaves(size, params, rng) for _ in range(batch)]
        reference = None
        for name, render in _engines().items():
            if name == EXHAUSTIVE and size > naive_max_size:
                continue
            _warm_up(lambda: render(sets[0], size))
            image = render(sets[0], size)
            reference = image if reference is None else reference
            assert np.array_equal(image, reference), f"{name} differs from our CPU kernel at {size}"
            timed, times = (sets[:2], 1) if name == EXHAUSTIVE else (sets, repeats)  # the exhaustive kernel is slow
            single = float(np.median([_seconds(lambda s=s: render(s, size), times) for s in timed]))  # of medians
            many = _seconds(lambda: [render(s, size) for s in sets], times)
            rows.append({"engine": name, "size_px": size, "leaves": len(sets[0]),
                         "single_mpix_s": size * size / single / 1e6,
                         "batch_mpix_s": batch * size * size / many / 1e6})
    table = pd.DataFrame(rows)
    for column, engine in (("speedup_vs_default", DEFAULT), ("speedup_vs_exhaustive", EXHAUSTIVE)):
        baseline = table[table.engine == engine].set_index("size_px")["single_mpix_s"]
        table[column] = table.single_mpix_s / table.size_px.map(baseline)
    return table


def rendering_scaling_table(sizes=(128, 256, 512, 1024), leaf_factors=(1, 2, 4), *, repeats: int = 3,
                            seed: int = 0) -> pd.DataFrame:
    """Our CPU kernel's time per image as the canvas and the number of leaves grow (``leaf_factors`` x
    the seed's 30 leaves per pixel of side), with the time per pixel and per pixel x leaf: a cost that
    follows the pixels keeps ``ns_per_pixel`` flat while ``ns_per_pixel_leaf`` falls."""
    rows = []
    for size in sizes:
        for factor in leaf_factors:
            params = dataclasses.replace(DeadLeavesConfig(), leaf_density=30.0 * factor)
            leaves = sample_leaves(size, params, stream(seed, "scaling", size, factor))
            _warm_up(lambda: render_leaves(leaves, size))
            seconds = _seconds(lambda: render_leaves(leaves, size), repeats)
            rows.append({"size_px": size, "leaves": len(leaves), "ms_per_image": seconds * 1e3,
                         "ns_per_pixel": seconds / size ** 2 * 1e9,
                         "ns_per_pixel_leaf": seconds / (size ** 2 * len(leaves)) * 1e9})
    return pd.DataFrame(rows)


# The models end_to_end_table times: the seed's (the original study's live generator), the preset of its
# stored sets, and two the original never drew (no baseline for those).
END_TO_END_MODELS = {
    "flat discs": {},
    "original_study": {"preset": "original_study"},
    "primitives, gradients, textures": {"shapes": dict.fromkeys(SHAPES, 1.0),
                                        "appearance": {"flat": 1.0, "gradient": 1.0, "texture": 1.0}},
    "until covered": {"until_covered": True},
}
ORIGINAL_MODELS = ("flat discs", "original_study")
# Those chapter 01 times, all but the preset (the original's rows of it take seconds an image:
# benchmarks/deadleaves.py times it).
CHAPTER_MODELS = ("flat discs", "primitives, gradients, textures", "until covered")


def original_end_to_end(size: int, params: DeadLeavesConfig, seed: int) -> np.ndarray:
    """One image made the original study's way, end to end: its numpy draws (integer centres, the radius
    law by its inverse CDF, rounded to whole pixels; uniform RGB colours from a second generator seeded by
    the first) for ``params``' leaf count and radius range on the rendered canvas, its default kernel
    (:func:`first_hit_render`), and with ``ds_factor`` > 1 the same low-pass and decimation as ours. With
    ``window_of`` it renders its whole scene and crops the window, as it cropped its stored images."""
    d = params.ds_factor
    scene = params.window_of or size
    canvas = scene * d
    reference = params.radius_reference or scene
    n = params.n_leaves or round(params.leaf_density * reference)
    scale = d * scene / reference
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    cx, cy = rng.integers(0, canvas, size=n), rng.integers(0, canvas, size=n)
    alpha = params.alpha
    radius = rng.uniform((params.r_max * scale) ** (1 - alpha), (params.r_min * scale) ** (1 - alpha), size=n)
    radius = (radius ** (-1 / (alpha - 1))).round()
    colours = np.random.default_rng(np.random.SeedSequence(int(rng.integers(0, 1e10)))).uniform(size=(n, 3))
    out = np.empty((canvas, canvas, 3))
    first_hit_render(cy.astype(np.float64), cx.astype(np.float64), radius, colours, 0.5, out)
    return antialiased(out, None, params, parallel=True, return_index=False)[:size, :size]


def end_to_end_table(sizes=(256, 512), models: Sequence[str] | Mapping[str, dict] = tuple(END_TO_END_MODELS), *,
                     images: int = 7, repeats: int = 3, original_repeats: int = 1, seed: int = 0) -> pd.DataFrame:
    """What a whole dead-leaves image costs: ``dead_leaves(size, rng, params=...)`` (sampling, packing,
    painting, shading, anti-aliasing), the time spent sampling inside those very calls and its share,
    our painting alone (:func:`render_leaves` of the same leaves), and the original study's generator end
    to end (:func:`original_end_to_end`; only for the models it drew) with the speed-up. Milliseconds per
    image: the median over ``images`` images of each one's median of ``repeats`` calls (the original's:
    ``original_repeats``). Every row of ours is timed before any of the original's: on this project's
    2-core VM a short parallel call right after the original's long ones (50 ms to 16 s, both cores) took
    1.5-2x its time, which interleaving charged to ours. ``models``: names of :data:`END_TO_END_MODELS`,
    or ``{name: dead-leaves fields}``."""
    models = models if isinstance(models, Mapping) else {name: END_TO_END_MODELS[name] for name in models}
    settings = [(name, DeadLeavesConfig(**DeadLeavesConfig.expand(fields)), size)
                for name, fields in models.items() for size in sizes]
    rows = []
    _steady_allocator()
    for name, params, size in settings:
        _warm_up(lambda: dead_leaves(size, image_rng(seed, 0, "benchmark"), params=params))
        first = sample_leaves(size, params, image_rng(seed, 0, "benchmark"))
        _warm_up(lambda: render_leaves(first, size, params))  # painting alone, as it is timed below
        timings = {key: [] for key in ("e2e", "sample", "paint")}
        for i in range(images):
            generators = [image_rng(seed, i, "benchmark") for _ in range(repeats)]  # made before the clock starts
            e2e, sampled = _timed_sampling(lambda: dead_leaves(size, generators.pop(), params=params), repeats)
            timings["e2e"].append(e2e)
            timings["sample"].append(sampled)
            leaves = sample_leaves(size, params, image_rng(seed, i, "benchmark"))
            timings["paint"].append(_seconds(lambda: render_leaves(leaves, size, params), repeats))
        ms = {key: float(np.median(values)) * 1e3 for key, values in timings.items()}
        rows.append({"model": name, "size_px": size, "leaves": len(leaves),  # the first round's, until covered
                     "images": images, "sample_ms": ms["sample"], "paint_ms": ms["paint"], "e2e_ms": ms["e2e"],
                     "sampling_share": float(np.median(np.array(timings["sample"]) / np.array(timings["e2e"])))})
    for row, (name, params, size) in zip(rows, settings):
        original = np.nan
        if name in ORIGINAL_MODELS:
            _warm_up(lambda: original_end_to_end(size, params, seed))  # the timed size (up to 20 s)
            original = 1e3 * float(np.median([_seconds(lambda: original_end_to_end(size, params, i), original_repeats)
                                               for i in range(images)]))
        row.update(original_e2e_ms=original, speedup_e2e=original / row["e2e_ms"])
    return pd.DataFrame(rows)


def _steady_allocator() -> None:
    """Put glibc's malloc where a working process has it: once a block of some size has been freed, freed
    blocks up to that size stay with the process instead of going back to the system. A process that has
    held a training batch or a large image is there; a fresh one making only small images is not, and pays
    page faults for its arrays on every image (at 256² here: 1.3 ms an image instead of 0.8 ms, same code).
    Freeing one 24 MiB block does it."""
    np.empty(24 << 20, dtype=np.uint8)


def _timed_sampling(call, repeats: int) -> tuple[float, float]:
    """Median seconds of ``call()`` and of the :func:`sample_leaves` calls made inside it, over the same
    ``repeats`` calls (every round of "until covered" counted)."""
    totals, sampling = [], []
    original = sample_leaves
    spent = [0.0]

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    with mock.patch.object(deadleaves, "sample_leaves", timed):  # where dead_leaves looks it up
        for _ in range(repeats):
            spent[0] = 0.0
            start = time.perf_counter()
            call()
            totals.append(time.perf_counter() - start)
            sampling.append(spent[0])
    return float(np.median(totals)), float(np.median(sampling))


def speed_facts(rendering: pd.DataFrame, end_to_end: pd.DataFrame) -> dict[str, float]:
    """The numbers chapter 01's prose quotes: at the largest size both tables have, our renderer's speed-up
    over the original's two kernels (painting alone), and a whole flat-disc image's cost, its speed-up over
    the original study's generator end to end and the share of sampling in it."""
    ours = rendering[rendering.engine == "ours (numba CPU)"].set_index("size_px")
    discs = end_to_end[end_to_end.model == "flat discs"].set_index("size_px")
    size = int(max(set(ours.speedup_vs_exhaustive.dropna().index) & set(discs.index)))
    return {"bench_size": size, "bench_speedup": float(ours.loc[size, "speedup_vs_default"]),
            "bench_speedup_exhaustive": float(ours.loc[size, "speedup_vs_exhaustive"]),
            "e2e_ms": float(discs.loc[size, "e2e_ms"]), "e2e_original_ms": float(discs.loc[size, "original_e2e_ms"]),
            "e2e_speedup": float(discs.loc[size, "speedup_e2e"]),
            "e2e_sampling": float(discs.loc[size, "sampling_share"])}
