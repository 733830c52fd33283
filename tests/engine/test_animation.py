"""Animations written by the engine: GIF with one palette that keeps the colour maps, lossless
WebP, atomic writes that a cancel leaves untouched."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lstm_viz.formats.export import ExportCancelled, gif_palette, to_palette, write_animation


def _ramp_frames(n: int = 4) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Frames with two 256-colour ramps (as colour bars), grey text-like noise and a moving
    red cursor; and the two lookup tables."""
    x = np.linspace(0, 1, 256)
    warm = (np.stack([x, x ** 2, 1 - x], 1) * 255).astype(np.uint8)
    cool = (np.stack([1 - x, 0.5 + 0.5 * x, x ** 0.5], 1) * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    frames = []
    for k in range(n):
        f = np.full((256, 120, 3), 255, np.uint8)
        f[:, 0:20] = warm[:, None, :]
        f[:, 30:50] = cool[::-1][:, None, :]
        grey = rng.integers(0, 256, size=(256, 40))
        f[:, 60:100] = grey[..., None]
        f[:, 105 + k] = (255, 23, 68)
        frames.append(f)
    return frames, warm, cool


def test_gif_palette_keeps_every_colour_map_within_a_few_levels():
    frames, warm, cool = _ramp_frames()
    palette = gif_palette(frames, [warm, cool])
    assert palette.shape == (256, 3)
    for lut in (warm, cool):
        idx = to_palette(lut[None, :, :], palette)
        assert np.abs(palette[idx[0]].astype(int) - lut.astype(int)).max() <= 6
    # without the maps, the same 256 colours lose the ramps
    plain = gif_palette(frames)
    idx = to_palette(warm[None, :, :], plain)
    assert np.abs(plain[idx[0]].astype(int) - warm.astype(int)).max() > 6


def test_gif_frames_keep_the_ramps(tmp_path):
    frames, warm, cool = _ramp_frames()
    path = write_animation(frames, tmp_path / "a.gif", keep=[warm, cool])
    with Image.open(path) as im:
        assert im.n_frames == len(frames)
        im.seek(2)
        got = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(got[:, 0:50] - frames[2][:, 0:50].astype(int)).max() <= 6
    assert tuple(got[10, 107]) == (255, 23, 68)


def test_webp_is_lossless(tmp_path):
    frames, _, _ = _ramp_frames(3)
    path = write_animation(frames, tmp_path / "a.webp")
    with Image.open(path) as im:
        for k in range(3):
            im.seek(k)
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frames[k])


@pytest.mark.parametrize("at", [0, 2, 4])
def test_cancelled_animation_writes_nothing_and_keeps_the_old_file(tmp_path, at):
    frames, warm, cool = _ramp_frames()
    target = tmp_path / "a.gif"
    target.write_bytes(b"old")
    seen = []

    def progress(done, total):
        seen.append(done)

    with pytest.raises(ExportCancelled):
        write_animation(frames, target, keep=[warm], progress=progress,
                        cancelled=lambda: len(seen) > at)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]


def test_animation_needs_a_gif_or_webp_name_and_frames(tmp_path):
    frames, _, _ = _ramp_frames(1)
    with pytest.raises(ValueError, match=r"\.gif or \.webp"):
        write_animation(frames, tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="no frames"):
        write_animation([], tmp_path / "a.gif")
