"""Leaf sampling that jumps over unused draws: every value a leaf uses keeps its bits (issue 28).

The reference is the plain whole-array sampler the project used before (every field drawn, in the same
order): the fast one must give the same leaves wherever a leaf reads them, and leave the generator where
the reference leaves it, so the next image of an "until covered" round or a caller's later draws do
not move either.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rstor_core.images import leaf_kernels as K
from rstor_core.images.colours import pick_photo, sample_colours, skip_colours
from rstor_core.images.deadleaves import render_leaves
from rstor_core.images.leaf_packing import (APOTHEM, KIND_OF_SHAPE, NORMALS, gradient_directions, texture_lattices,
                                            turn_directions)
from rstor_core.images.leaf_sampling import APPEARANCES, SHAPES, power_law_radii, sample_leaves
from rstor_core.settings.configs import DeadLeavesConfig
from rstor_core.settings.rng import skip_doubles


def _reference_leaves(size: int, params: DeadLeavesConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every field drawn, in the sampler's order (the sampler before issue 28)."""
    n = params.n_leaves or round(params.leaf_density * (params.radius_reference or size))
    scale = size / (params.radius_reference or size)
    weights = {name: np.array([getattr(w, f.name) for f in dataclasses.fields(w)], dtype=float)
               for name, w in (("shapes", params.shapes), ("looks", params.appearance))}
    centres = rng.random((n, 2)) * np.array([size, size], dtype=np.float64)
    radii = power_law_radii(n, params.alpha, params.r_min * scale, params.r_max * scale, rng)
    kinds = rng.choice(len(SHAPES), size=n, p=weights["shapes"] / weights["shapes"].sum())
    angles = rng.uniform(0.0, 180.0, n) if params.angle is None else np.full(n, float(params.angle))
    aspects = rng.uniform(*params.anisotropy, n)
    aspects[np.isin(kinds, [SHAPES.index("disc"), SHAPES.index("square")])] = 1.0
    aspects[kinds == SHAPES.index("bar")] = params.bar_width
    sides = rng.integers(params.polygon_sides[0], params.polygon_sides[1] + 1, n)
    photo = pick_photo(params.palette, params.palette_run, rng) if params.colour == "photo" else None
    colours, colours2 = (sample_colours(n, params.colour, rng, pixels=photo) for _ in range(2))
    look = rng.choice(len(APPEARANCES), size=n, p=weights["looks"] / weights["looks"].sum())
    radial = rng.random(n) < 0.5
    modes = np.select([look == 1, look == 2], [np.where(radial, K.RADIAL, K.LINEAR), K.TEXTURED], K.FLAT)
    gradient_angles = rng.uniform(0.0, 360.0, n)
    textures = rng.uniform(-1.0, 1.0, ((modes == K.TEXTURED).sum(), params.texture_cells + 1, params.texture_cells + 1))
    return dict(centres=centres, radii=radii, kinds=kinds, angles=angles, aspects=aspects, sides=sides, colours=colours,
                colours2=colours2, modes=modes, gradient_angles=gradient_angles, textures=textures)


MODELS = {
    "the seed's flat discs": {},
    "every shape and look": {"shapes": dict.fromkeys(SHAPES, 1.0),
                             "appearance": {"flat": 1, "gradient": 1, "texture": 1}},
    "squares and bars, flat": {"shapes": {"disc": 0.0, "square": 1.0, "bar": 1.0}},
    "discs with textures": {"appearance": {"flat": 1.0, "texture": 1.0}},
    "gradients only, grey": {"appearance": {"flat": 0.0, "gradient": 1.0}, "colour": "grey"},
    "saturated ellipses at one angle": {"shapes": {"disc": 0.0, "ellipse": 1.0}, "angle": 30.0, "colour": "saturated"},
    "natural palette": {"colour": "natural"},
    "an odd count of polygons": {"n_leaves": 1441, "shapes": {"disc": 1.0, "polygon": 1.0}},
    "original_study, shrunk": {"preset": "original_study", "window_of": None, "radius_reference": 512},
}  # the preset itself draws a 512-pixel scene's leaves, then its window (tests/test_original_study_preset.py)


def _used(fields: dict[str, np.ndarray], leaves) -> dict[str, np.ndarray]:
    """What rendering reads of each leaf: a disc's angle only if textured, a second colour and a gradient
    angle only for gradients, an aspect only for shapes that have one."""
    kinds, modes = fields["kinds"], fields["modes"]
    turned = (kinds != SHAPES.index("disc")) | (modes == K.TEXTURED)
    gradient = (modes == K.LINEAR) | (modes == K.RADIAL)
    return {"angles": np.where(turned, fields["angles"], 0.0),
            "colours2": np.where(gradient[:, None], fields["colours2"], fields["colours"]),
            "gradient_angles": np.where(modes == K.LINEAR, fields["gradient_angles"], 0.0)}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("half_word_waiting", [False, True])
def test_the_sampler_gives_the_reference_leaves_and_leaves_the_generator_where_it_does(model, half_word_waiting):
    """Also from a generator with a 32-bit half-word buffered (an odd count of small integers drawn before):
    jumping over the kinds keeps it for the polygon sides."""
    params = DeadLeavesConfig(**DeadLeavesConfig.expand(MODELS[model]))
    for seed in range(3):
        expected_rng, rng = np.random.default_rng(seed), np.random.default_rng(seed)
        if half_word_waiting:
            assert expected_rng.integers(0, 5, 1) == rng.integers(0, 5, 1)
        expected, leaves = _reference_leaves(64, params, expected_rng), sample_leaves(64, params, rng)
        for name in ("centres", "radii", "kinds", "aspects", "sides", "colours", "modes", "textures"):
            np.testing.assert_array_equal(getattr(leaves, name), expected[name], err_msg=name)
        actual = _used({f.name: getattr(leaves, f.name) for f in dataclasses.fields(leaves)}, leaves)
        for name, values in _used(expected, leaves).items():
            np.testing.assert_array_equal(actual[name], values, err_msg=name)
        assert rng.integers(0, 2 ** 40, 5).tolist() == expected_rng.integers(0, 2 ** 40, 5).tolist()
        assert rng.random() == expected_rng.random()


def test_leaves_no_leaf_reads_hold_neutral_values():
    leaves = sample_leaves(64, DeadLeavesConfig(), np.random.default_rng(0))
    assert (leaves.angles == 0).all() and (leaves.gradient_angles == 0).all() and (leaves.aspects == 1).all()
    assert leaves.colours2 is leaves.colours


@pytest.mark.parametrize("bits", [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox])
@pytest.mark.parametrize("half_word_waiting", [False, True])
def test_skipping_doubles_is_drawing_them(bits, half_word_waiting):
    """Whatever the bit generator, and with a 32-bit half-word buffered by an odd count of small integers
    (PCG64's ``advance`` drops it, so the jump keeps it)."""
    drawn, skipped = np.random.Generator(bits(5)), np.random.Generator(bits(5))
    if half_word_waiting:
        assert drawn.integers(0, 10, 3).tolist() == skipped.integers(0, 10, 3).tolist()
    drawn.random(1001)
    skip_doubles(skipped, 1001)
    assert drawn.integers(0, 10, 7).tolist() == skipped.integers(0, 10, 7).tolist()
    assert drawn.random(3).tolist() == skipped.random(3).tolist()


@pytest.mark.parametrize("sampler", ["uniform", "grey", "saturated", "natural", "photo"])
def test_skipping_colours_moves_the_generator_as_drawing_them(sampler):
    pixels = np.random.default_rng(0).random((500, 3))
    drawn, skipped = np.random.default_rng(3), np.random.default_rng(3)
    sample_colours(257, sampler, drawn, pixels=pixels)
    skip_colours(257, sampler, skipped, pixels=pixels)
    assert drawn.random(4).tolist() == skipped.random(4).tolist()


def test_skipping_colours_names_a_bad_sampler():
    with pytest.raises(ValueError, match="pink"):
        skip_colours(4, "pink", np.random.default_rng(0))


@pytest.mark.parametrize("chunks", [1, 2, 3, 8])
def test_leaves_binned_in_any_number_of_chunks_paint_the_same_image(chunks):
    """The parallel binning keeps each tile's leaves in sampling order, however the leaves are split."""
    params = DeadLeavesConfig(shapes=dict.fromkeys(SHAPES, 1.0), appearance={"flat": 1, "gradient": 1, "texture": 1})
    leaves = sample_leaves((75, 130), params, np.random.default_rng(2))
    expected, expected_index = render_leaves(leaves, (75, 130), params, return_index=True)
    index, out = np.full((75, 130), -1, np.int32), np.empty((75, 130, 3), np.float32)
    K.render_cpu(leaves.centres, leaves.radii, leaves.kinds, KIND_OF_SHAPE, leaves.aspects, leaves.sides,
                 turn_directions(leaves), leaves.colours, leaves.colours2, gradient_directions(leaves), leaves.modes,
                 leaves.texture_rows, NORMALS, APOTHEM, texture_lattices(leaves.textures), params.texture_amplitude,
                 params.background, 1, index, out, chunks)
    np.testing.assert_array_equal(index, expected_index)
    np.testing.assert_array_equal(out, expected)
