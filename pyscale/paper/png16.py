"""16-bit colour PNG files at full precision (Pillow reads them as 8-bit colour).

PNG stores the samples big-endian after per-row filters (none, sub, up, average, Paeth) and zlib
compression; undoing the filters is sequential along a row, so it runs in a Numba kernel.
"""

from __future__ import annotations

import struct
import zlib

import numba as nb
import numpy as np

__all__ = ["read_png16"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@nb.njit(cache=True)
def _unfilter(data, height, stride, bpp):
    out = np.empty((height, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for y in range(height):
        kind = data[y * (stride + 1)]
        row = data[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        for x in range(stride):
            a = np.int32(out[y, x - bpp]) if x >= bpp else np.int32(0)
            b = np.int32(prev[x])
            c = np.int32(prev[x - bpp]) if x >= bpp else np.int32(0)
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[y, x] = (np.int32(row[x]) + pred) & 0xFF
        prev = out[y]
    return out


def read_png16(path):
    """The samples of a non-interlaced 16-bit RGB or RGBA PNG file, ``(H, W, 3 or 4)`` uint16.

    Raises ``ValueError`` for any other kind of file.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    pos, idat, header = len(_SIGNATURE), [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("PNG file without a header")
    width, height, depth, colour, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 16 or channels is None or interlace:
        raise ValueError("not a non-interlaced 16-bit RGB(A) PNG file")
    stride = width * channels * 2
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    if raw.size != height * (stride + 1):
        raise ValueError("truncated PNG image data")
    rows = _unfilter(raw, height, stride, channels * 2)
    return rows.view(">u2").reshape(height, width, channels).astype(np.uint16)
