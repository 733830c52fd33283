"""Whole chunks written straight into the files of a Zarr v3 array on local disk.

Zarr's own write path takes every chunk through its asynchronous codec pipeline. For the
corpus trace's writer, which writes gigabytes of whole chunk rows, that path took about twice
as long as the compression it does. ``ChunkWriter`` encodes whole chunks with the
array's own codecs (numcodecs' Blosc, which zarr's Blosc codec calls) and writes each
chunk's file: the bytes zarr writes for the same values (the tests compare the files). It
knows the layouts that ``lstm_viz.corpus`` creates: a regular chunk grid, the bytes codec
and one Blosc codec, optionally inside a sharding codec with its index at the end (bytes
and crc32c). ``ChunkWriter.of`` is None for any other array, which the caller then writes
through zarr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_SHUFFLES = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _blosc(codecs: tuple, itemsize: int) -> Any | None:
    """The numcodecs Blosc that encodes like ``codecs`` (the bytes codec, little endian or
    none, then one Blosc codec), or None where the codecs are any others."""
    from numcodecs import Blosc
    from zarr.codecs import BloscCodec

    if len(codecs) != 2 or not _little_endian(codecs[0], itemsize):
        return None
    blosc = codecs[1]
    if not isinstance(blosc, BloscCodec) or blosc.typesize != itemsize:
        return None
    return Blosc(cname=blosc.cname.value, clevel=blosc.clevel,
                 shuffle=_SHUFFLES[blosc.shuffle.value], blocksize=blosc.blocksize,
                 typesize=blosc.typesize)


@dataclass
class ChunkWriter:
    """Writes rows of whole chunks (along the first axis) of one array; see the module doc."""

    folder: Path  # the array's folder
    key: Callable[[tuple[int, ...]], str]  # a chunk's path in it
    shape: tuple[int, ...]
    chunk: tuple[int, ...]  # each file's shape: the chunk's, or the shard's where sharded
    inner: tuple[int, ...] | None  # the inner chunks' shape where sharded
    dtype: np.dtype
    fill: Any
    blosc: Any
    made: set[Path] = field(default_factory=set)  # folders known to exist

    @classmethod
    def of(cls, array: Any) -> ChunkWriter | None:
        """The writer of the zarr ``array`` (``zarr.Array``), or None where its store is not a
        local folder or its layout is not one this module writes."""
        from zarr.codecs import Crc32cCodec, ShardingCodec
        from zarr.core.chunk_grids import RegularChunkGrid
        from zarr.storage import LocalStore

        meta = array.metadata
        store = array.store_path.store
        if (getattr(meta, "zarr_format", None) != 3 or not isinstance(store, LocalStore)
                or not isinstance(meta.chunk_grid, RegularChunkGrid)):
            return None
        dtype = np.dtype(array.dtype).newbyteorder("<")
        chunk = tuple(meta.chunk_grid.chunk_shape)
        inner = None
        codecs = tuple(meta.codecs)
        if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec):
            sharding = codecs[0]
            index = tuple(sharding.index_codecs)
            if (sharding.index_location.value != "end" or len(index) != 2
                    or not _little_endian(index[0], 8) or not isinstance(index[1], Crc32cCodec)):
                return None
            inner = tuple(sharding.chunk_shape)
            codecs = tuple(sharding.codecs)
            if any(c % i for c, i in zip(chunk, inner, strict=True)):
                return None
        blosc = _blosc(codecs, dtype.itemsize)
        if blosc is None:
            return None
        return cls(Path(store.root) / array.store_path.path, meta.encode_chunk_key,
                   tuple(array.shape), chunk, inner, dtype, meta.fill_value, blosc)

    def covers(self, start: int, rows: int) -> bool:
        """Whether the rows [start, start + rows) are whole chunk rows (the last may end at the
        array's end), which ``write`` writes."""
        step = self.chunk[0]
        stop = start + rows
        return (rows > 0 and start % step == 0 and stop <= self.shape[0]
                and (stop % step == 0 or stop == self.shape[0]))

    def write(self, start: int, rows: np.ndarray) -> None:
        """Write ``rows``, the array's rows from ``start`` on, whole chunk rows (``covers``)."""
        if not self.covers(start, len(rows)):
            raise ValueError(f"rows {start} to {start + len(rows)} are not whole chunk rows"
                             f" of {self.chunk[0]}")
        step = self.chunk[0]
        for at in range(0, len(rows), step):
            tiles = _tiles(self._padded(rows[at:at + step]), self.chunk)
            for where in np.ndindex(tiles.shape[:len(self.chunk)]):
                data = tiles[where]
                parts = ([self.blosc.encode(data)] if self.inner is None
                         else self._shard(data))
                self._put(((start + at) // step,) + where[1:], parts)

    def _padded(self, block: np.ndarray) -> np.ndarray:
        """``block`` (a chunk row) in the stored dtype, with the fill value after its end up to
        whole chunks (an edge chunk is stored whole)."""
        shape = tuple(-(-n // c) * c for n, c in zip((self.chunk[0],) + block.shape[1:],
                                                      self.chunk, strict=True))
        if block.shape == shape:
            return block.astype(self.dtype, copy=False)
        whole = np.full(shape, self.fill, dtype=self.dtype)
        whole[tuple(slice(0, n) for n in block.shape)] = block
        return whole

    def _put(self, coords: tuple[int, ...], parts: list[Any]) -> None:
        path = self.folder / self.key(coords)
        if path.parent not in self.made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(path.parent)
        with open(path, "wb") as f:
            f.writelines(parts)

    def _shard(self, data: np.ndarray) -> list[Any]:
        """A shard's parts: its inner chunks encoded, in C order, then the index of their
        offsets and lengths (uint64, little endian) and that index's crc32c."""
        import google_crc32c

        assert self.inner is not None
        tiles = _tiles(data, self.inner)
        index = np.empty(tiles.shape[:data.ndim] + (2,), dtype="<u8")
        parts: list[Any] = []
        offset = 0
        for where in np.ndindex(tiles.shape[:data.ndim]):
            encoded = self.blosc.encode(tiles[where])
            index[where] = (offset, len(encoded))
            offset += len(encoded)
            parts.append(encoded)
        table = index.tobytes()
        parts += [table, np.uint32(google_crc32c.value(table)).astype("<u4").tobytes()]
        return parts


def _little_endian(codec: Any, itemsize: int) -> bool:
    """Whether ``codec`` is the bytes codec laying values out little endian (or in single
    bytes, where the order does not matter)."""
    from zarr.codecs import BytesCodec

    if not isinstance(codec, BytesCodec):
        return False
    return codec.endian.value == "little" if codec.endian is not None else itemsize == 1


def _tiles(a: np.ndarray, tile: tuple[int, ...]) -> np.ndarray:
    """``a`` (each side a multiple of ``tile``'s) cut into tiles, laid out one after another
    in one copy (none where they already are): ``out[i, j, ...]`` is the C-contiguous tile
    ``a[i * tile[0]:(i + 1) * tile[0], j * tile[1]:...]``."""
    split = a.reshape(tuple(x for n, t in zip(a.shape, tile, strict=True) for x in (n // t, t)))
    order = tuple(range(0, 2 * a.ndim, 2)) + tuple(range(1, 2 * a.ndim, 2))
    return np.ascontiguousarray(split.transpose(order))
