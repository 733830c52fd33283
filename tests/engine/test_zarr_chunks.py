"""Whole chunks written straight into a Zarr array's files: the files are byte for byte those
zarr writes for the same values, zarr reads them back, and arrays of any other layout are left
to zarr."""

from __future__ import annotations

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

from zarr.codecs import BloscCodec, ZstdCodec  # noqa: E402

from lstm_viz.zarr_chunks import ChunkWriter  # noqa: E402

LZ4 = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")


def _pair(tmp_path, shape, dtype, **layout):
    """The same empty array in two stores: one for zarr to write, one for ChunkWriter."""
    arrays = []
    for name in ("by_zarr", "direct"):
        root = zarr.open_group(str(tmp_path / f"{name}.zarr"), mode="w")
        array = root.create_array("a", shape=shape, dtype=dtype, fill_value=float("nan"),
                                  **layout)
        arrays.append(array.with_config({"write_empty_chunks": True}))
    return arrays


def _files(tmp_path, name):
    folder = tmp_path / f"{name}.zarr" / "a" / "c"
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


LAYOUTS = {
    # the corpus store's gates: chunked along tokens and in blocks of units
    "gates": ((100, 4, 10), dict(chunks=(32, 4, 4), compressors=LZ4)),
    # its h and c: one shard per chunk row of inner chunks of a few units
    "states": ((100, 10), dict(chunks=(32, 4), shards=(32, 12), compressors=LZ4)),
    # both where the rows and units fit the chunks exactly
    "exact": ((96, 8), dict(chunks=(32, 4), shards=(32, 8), compressors=LZ4)),
    "byte shuffle": ((70, 6), dict(chunks=(16, 6), compressors=BloscCodec(
        cname="zstd", clevel=1, shuffle="shuffle"))),
}


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_whole_chunk_rows_are_the_bytes_zarr_writes_and_read_back_equal(tmp_path, layout,
                                                                        dtype):
    shape, kw = LAYOUTS[layout]
    rng = np.random.default_rng(0)
    values = np.tanh(np.cumsum(rng.standard_normal(shape), axis=0) * 0.2).astype(dtype)
    by_zarr, direct = _pair(tmp_path, shape, dtype, **kw)
    by_zarr[:] = values
    writer = ChunkWriter.of(direct)
    assert writer is not None
    step = writer.chunk[0]
    # one chunk row, then the rest up to the array's end (its last chunk row is short)
    writer.write(0, values[:step])
    writer.write(step, values[step:])
    expected, written = _files(tmp_path, "by_zarr"), _files(tmp_path, "direct")
    assert sorted(written) == sorted(expected)
    assert all(written[k] == expected[k] for k in expected)
    back = zarr.open_group(str(tmp_path / "direct.zarr"), mode="r")["a"]
    np.testing.assert_array_equal(np.asarray(back[:]), values)


def test_rows_that_are_not_whole_chunk_rows_are_refused(tmp_path):
    [array] = _pair(tmp_path, (100, 10), "float32", chunks=(32, 4), shards=(32, 12),
                    compressors=LZ4)[1:]
    writer = ChunkWriter.of(array)
    assert writer is not None
    assert writer.covers(0, 64) and writer.covers(64, 36) and not writer.covers(0, 0)
    for start, rows in ((0, 10), (10, 32), (64, 20), (96, 10)):
        assert not writer.covers(start, rows)
        with pytest.raises(ValueError, match="not whole chunk rows"):
            writer.write(start, np.zeros((rows, 10), "float32"))


def test_an_array_of_another_layout_or_store_is_left_to_zarr(tmp_path):
    root = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    zstd = root.create_array("zstd", shape=(10, 4), chunks=(5, 4), dtype="float32",
                             compressors=ZstdCodec(level=1))
    plain = root.create_array("plain", shape=(10, 4), chunks=(5, 4), dtype="float32",
                              compressors=None)
    in_memory = zarr.open_group(zarr.storage.MemoryStore(), mode="w").create_array(
        "a", shape=(10, 4), chunks=(5, 4), dtype="float32", compressors=LZ4)
    for array in (zstd, plain, in_memory):
        assert ChunkWriter.of(array) is None
