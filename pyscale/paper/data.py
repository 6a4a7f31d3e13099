"""Image folders as lists of float images in [0, 1].

:func:`load_images` reads every image of a folder (any format Pillow reads), understands the
layout of the Berkeley segmentation data set BSDS500 (``.../images/{train,val,test}``) and, when
no folder is given, returns a few photographs that ship inside scikit-image. Files that are not
readable images are skipped, named in one :class:`SkippedImageWarning` and counted; with
``strict=True`` they raise instead.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_IMAGES",
    "IMAGE_EXTENSIONS",
    "ImageSet",
    "SkippedImageWarning",
    "UnreadableImageError",
    "default_image_paths",
    "list_images",
    "load_images",
    "photo_channel_axis",
    "read_image",
]

#: File endings read as images (compared case-insensitively). Other files are reported as skipped.
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".gif",
    ".ppm",
    ".pgm",
    ".pbm",
    ".webp",
)

#: Real photographs bundled with scikit-image (no download needed): the default data set.
DEFAULT_IMAGES = (
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
)

#: Sub-folders of the BSDS500 image folder.
BSDS_SPLITS = ("train", "val", "test")


class SkippedImageWarning(UserWarning):
    """Some files of an image folder could not be read and were skipped."""


class UnreadableImageError(ValueError):
    """A file could not be read as an image (raised with ``strict=True``)."""


@dataclass
class ImageSet:
    """Images with their names and the files that were skipped.

    Attributes
    ----------
    images : list of numpy.ndarray
        Float images in [0, 1], ``(H, W)`` or ``(H, W, 3)``.
    names : list of str
        Path of each image relative to the folder (forward slashes).
    skipped : list of tuple of str
        ``(name, reason)`` for every file that was not a readable image.
    """

    images: list = field(default_factory=list)
    names: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def __len__(self):
        return len(self.images)

    def __iter__(self):
        return iter(zip(self.names, self.images, strict=True))


def _skimage_data_dir():
    import skimage

    return Path(skimage.__file__).resolve().parent / "data"


def default_image_paths():
    """Paths of the bundled scikit-image photographs used when no folder is given.

    Returns
    -------
    list of pathlib.Path
        Existing files among :data:`DEFAULT_IMAGES`.

    Examples
    --------
    >>> from pyscale.paper.data import default_image_paths
    >>> [p.name for p in default_image_paths()][:2]
    ['astronaut.png', 'camera.png']
    """
    root = _skimage_data_dir()
    paths = [root / n for n in DEFAULT_IMAGES if (root / n).is_file()]
    if not paths:
        raise FileNotFoundError(
            f"none of the bundled scikit-image photographs {DEFAULT_IMAGES} were found in {root}; "
            "pass a folder of images instead"
        )
    return paths


def _resolve_split(folder, split):
    """The folder holding ``split`` in a BSDS500-like layout."""
    if not isinstance(split, str):
        raise TypeError(f"split must be a string such as 'train', got {type(split).__name__}")
    for cand in (folder / split, folder / "images" / split, folder / "data" / "images" / split):
        if cand.is_dir():
            return cand
    raise ValueError(
        f"split={split!r}: no sub-folder {split!r} under {folder} (looked for {split}/, "
        f"images/{split}/ and data/images/{split}/ as in BSDS500)"
    )


def list_images(folder=None, *, split=None, recursive=True):
    """Files of an image folder, sorted, with their names relative to the folder.

    Parameters
    ----------
    folder : str or path-like, optional
        Folder of images. ``None``: the bundled scikit-image photographs.
    split : str, optional
        Sub-folder to use, e.g. ``"train"``, ``"val"`` or ``"test"`` of BSDS500; found as
        ``folder/split``, ``folder/images/split`` or ``folder/data/images/split``.
    recursive : bool, optional
        Also list files in sub-folders. Hidden files and folders (starting with ``.``) are
        ignored.

    Returns
    -------
    list of tuple
        ``(name, path)`` pairs. Files without an image ending are included (they are reported
        as skipped when read).

    Examples
    --------
    >>> from pyscale.paper.data import list_images
    >>> [name for name, _ in list_images()][:3]
    ['astronaut.png', 'camera.png', 'chelsea.png']
    """
    if folder is None:
        if split is not None:
            raise ValueError("split needs a folder: the bundled photographs have no splits")
        return [(p.name, p) for p in default_image_paths()]
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path, got {type(folder).__name__}")
    root = Path(folder)
    if not root.exists():
        raise ValueError(f"folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ValueError(f"folder {str(root)!r} is not a directory")
    if split is not None:
        root = _resolve_split(root, split)
    out = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in filenames:
                if not fn.startswith("."):
                    p = Path(dirpath) / fn
                    out.append((p.relative_to(root).as_posix(), p))
    else:
        for p in root.iterdir():
            if p.is_file() and not p.name.startswith("."):
                out.append((p.name, p))
    out.sort(key=lambda item: item[0])
    return out


def _to_float(arr, name, float_scale):
    """Samples as float64 in [0, 1]: integers by their type's range, floats as they are.

    Float samples outside [0, 1] are refused unless ``float_scale`` says how to map them (a
    number to divide by, or ``"range"`` for minimum to maximum); NaN and infinities are refused.
    """
    if arr.dtype == np.bool_:
        return arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint8:
            top = 255.0
        elif arr.dtype == np.uint16 or arr.max(initial=0) <= 65535:
            top = 65535.0
        else:
            top = float(arr.max())
        return np.clip(arr.astype(np.float64) / top, 0.0, 1.0)
    u = arr.astype(np.float64)
    if not np.all(np.isfinite(u)):
        raise ValueError(f"{name}: the image contains NaN or infinite values")
    if float_scale == "range":
        lo, hi = float(u.min()), float(u.max())
        return (u - lo) / (hi - lo) if hi > lo else np.zeros_like(u)
    if float_scale is not None:
        u = u / float_scale
    if u.min() < 0 or u.max() > 1:
        raise ValueError(
            f"{name}: float samples in [{u.min():g}, {u.max():g}], outside [0, 1]; pass "
            "float_scale (a number to divide by, or 'range') to map them"
        )
    return u


def _check_float_scale(float_scale):
    if float_scale is None or float_scale == "range":
        return float_scale
    if isinstance(float_scale, (bool, np.bool_)) or not isinstance(float_scale, (int, float)):
        raise TypeError(
            f"float_scale must be a positive number, 'range' or None, got {float_scale!r}"
        )
    if not float_scale > 0 or not np.isfinite(float_scale):
        raise ValueError(f"float_scale must be positive and finite, got {float_scale!r}")
    return float(float_scale)


def _decode(path):
    """The samples of an image file as an array, upright (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        raw = im.tile[0].args if im.tile else None
        if raw in ("RGB;16B", "RGBA;16B") and not im.info.get("interlace"):
            from .png16 import read_png16

            arr = read_png16(path)  # Pillow would keep only the high byte of each sample
            return arr[..., :3]
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode in ("P", "PA", "RGBA", "LA", "CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB" if im.mode not in ("LA",) else "L")
        return np.asarray(im)


def read_image(path, *, grey=False, dtype=np.float64, max_size=None, float_scale=None):
    """Read one image file as a float array in [0, 1].

    The EXIF orientation is applied (a portrait photo is upright), 16-bit files keep their
    precision, and integer samples are divided by the largest value of their type.

    Parameters
    ----------
    path : str or path-like
        Image file (any format Pillow reads).
    grey : bool, optional
        Convert colour images to grey values (ITU-R BT.709 luminance, as
        ``skimage.color.rgb2gray``).
    dtype : numpy dtype, optional
        ``float32`` or ``float64``.
    max_size : int, optional
        Downscale (anti-aliased) so that the longer side is at most ``max_size`` pixels.
    float_scale : float or "range", optional
        For files of float samples outside [0, 1] (which are refused otherwise): divide by this
        number, or map the minimum to 0 and the maximum to 1.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` for grey images, ``(H, W, 3)`` for colour ones (alpha is dropped).

    Raises
    ------
    UnreadableImageError
        If the file is not a readable image.
    ValueError
        If its samples are NaN or infinite, or floats outside [0, 1] without ``float_scale``;
        the message names the file.

    Examples
    --------
    >>> from pyscale.paper.data import default_image_paths, read_image
    >>> u = read_image(default_image_paths()[0], max_size=64)
    >>> u.shape, bool(0 <= u.min() and u.max() <= 1)
    ((64, 64, 3), True)
    """
    from PIL import Image, UnidentifiedImageError

    dtype = _check_dtype(dtype)
    max_size = _check_max_size(max_size)
    float_scale = _check_float_scale(float_scale)
    path = Path(path)
    try:
        arr = _decode(path)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        EOFError,
    ) as exc:
        raise UnreadableImageError(f"{path.name}: {exc}") from exc
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or arr.size == 0:
        raise UnreadableImageError(f"{path.name}: unsupported image layout {arr.shape}")
    u = _to_float(arr, path.name, float_scale)
    if grey and u.ndim == 3:
        u = u @ np.array([0.2125, 0.7154, 0.0721])
    if max_size is not None and max(u.shape[:2]) > max_size:
        from skimage.transform import resize

        scale = max_size / max(u.shape[:2])
        shape = tuple(max(1, round(s * scale)) for s in u.shape[:2]) + u.shape[2:]
        u = np.clip(resize(u, shape, order=3, anti_aliasing=True, mode="reflect"), 0.0, 1.0)
    return np.ascontiguousarray(u, dtype=dtype)


def image_shape(path, *, grey=False, max_size=None):
    """The shape :func:`read_image` would return, read from the file's header alone.

    Raises :class:`UnreadableImageError` like :func:`read_image`.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
            colour = len(im.getbands()) >= 3 and not grey
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnreadableImageError(f"{path.name}: {exc}") from exc
    if max_size is not None and max(width, height) > max_size:
        scale = max_size / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return (height, width, 3) if colour else (height, width)


def available_memory():
    """Bytes of memory available to new work (psutil, else the free physical pages)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def photo_channel_axis(u):
    """The ``channel_axis`` of an image in the layout :func:`read_image` returns.

    Photos are ``(H, W)`` grey or ``(H, W, 3)`` colour, channels last: ``-1`` for colour, ``None``
    for grey. Pass it to the processes, which never guess it from a shape.
    """
    return -1 if np.ndim(u) == 3 else None


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _check_max_size(max_size):
    if max_size is None:
        return None
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)):
        raise TypeError(f"max_size must be an int or None, got {type(max_size).__name__}")
    if max_size < 8:
        raise ValueError(f"max_size must be at least 8 pixels, got {max_size}")
    return int(max_size)


def skipped_message(skipped, total):
    """One line naming the skipped files."""
    shown = "; ".join(f"{name} ({reason})" for name, reason in skipped[:10])
    more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    return f"skipped {len(skipped)} of {total} files that are not readable images: {shown}{more}"


def load_images(
    folder=None,
    *,
    split=None,
    grey=False,
    recursive=True,
    strict=False,
    dtype=np.float64,
    limit=None,
    max_size=None,
):
    """Read a folder of images as float images in [0, 1].

    Parameters
    ----------
    folder : str or path-like, optional
        Folder of images (jpg, png, tif, bmp, ... anything Pillow reads). ``None``: a few real
        photographs bundled with scikit-image (:data:`DEFAULT_IMAGES`).
    split : str, optional
        BSDS500 split (``"train"``, ``"val"``, ``"test"``); see :func:`list_images`.
        ``None`` reads every split.
    grey : bool, optional
        Convert colour images to grey values.
    recursive : bool, optional
        Include sub-folders.
    strict : bool, optional
        Raise :class:`UnreadableImageError` on the first file that is not a readable image
        instead of skipping it.
    dtype : numpy dtype, optional
        ``float32`` or ``float64``.
    limit : int, optional
        Read at most this many images (the first ones in name order).
    max_size : int, optional
        Downscale so that the longer side is at most this many pixels.

    Returns
    -------
    ImageSet
        Images, their names (relative paths) and the skipped files with the reason. If files
        were skipped, one :class:`SkippedImageWarning` names them and says how many.

    Examples
    --------
    >>> import pyscale.paper.data as data
    >>> s = data.load_images(limit=2, max_size=32)
    >>> len(s), s.names, s.images[0].shape
    (2, ['astronaut.png', 'camera.png'], (32, 32, 3))
    """
    dtype = _check_dtype(dtype)
    max_size = _check_max_size(max_size)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)):
            raise TypeError(f"limit must be an int or None, got {type(limit).__name__}")
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
    files = list_images(folder, split=split, recursive=recursive)
    out = ImageSet()
    for name, path in files:
        if limit is not None and len(out) >= limit:
            break
        try:
            u = read_image(path, grey=grey, dtype=dtype, max_size=max_size)
        except UnreadableImageError as exc:
            if strict:
                raise UnreadableImageError(f"not a readable image: {exc}") from exc
            out.skipped.append((name, str(exc.args[0]).split(": ", 1)[-1]))
            continue
        out.images.append(u)
        out.names.append(name)
    if out.skipped:
        warnings.warn(
            skipped_message(out.skipped, len(out) + len(out.skipped)),
            SkippedImageWarning,
            stacklevel=2,
        )
    if not out.images:
        where = "the bundled photographs" if folder is None else repr(str(folder))
        raise ValueError(f"folder: no readable images found in {where}")
    return out
