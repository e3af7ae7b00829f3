"""Safe image decoding: everything that opens a picture in vision_demo goes through `load_rgb`.

Uploads and data sets hold every kind of file a camera, a scanner or a web page produces:
CMYK JPEGs, 16-bit PNGs, transparent logos, palette GIFs, 1-bit scans, phone photos stored
sideways with an EXIF "rotate me" tag, half-downloaded files, text files named .jpg, and
"decompression bombs" (a few KB that claim to be 100 000 x 100 000 pixels). `load_rgb` turns
all of them into either a plain 8-bit RGB `PIL.Image` or a `BadImageError` whose message names
the file and says what is wrong.

    from vision_demo.images import load_rgb
    img = load_rgb("photo.jpg")          # RGB, upright, at most settings.MAX_IMAGE_PIXELS
    img = load_rgb(uploaded_bytes, name="upload.png")
    describe_conversion("scan.tif")      # "1 -> RGB (1-bit)" / "rotated by EXIF" / None

The size limit is checked from the header, before a single pixel is decoded. Nothing here
changes PIL's global settings per call (PIL.Image.MAX_IMAGE_PIXELS, LOAD_TRUNCATED_IMAGES), so
any number of threads and data-loader workers can decode at the same time.
"""
from __future__ import annotations

import io
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vision_demo import settings
from vision_demo.errors import BadImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

# PIL warns (it does not refuse) between its own limit (~89 MP) and twice that. Our limit
# (settings.MAX_IMAGE_PIXELS, 40 MP) is lower and _check_size refuses from the header before decoding,
# so no warnings filter is needed: none is installed, as a process-wide one would turn PIL's warning
# into an error for every other library too (and catch_warnings per call is not thread-safe).
# Where a caller has made the warning an error, _open still reports it as a bomb.

_ORIENTATION_TAG = 0x0112   # EXIF "Orientation": 1 = upright, 3 = 180°, 6 / 8 = 90° (phone photos), 2/4/5/7 mirrored
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_BAD_DECODE = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
               struct.error, Image.DecompressionBombError, Image.DecompressionBombWarning)


@dataclass
class ImageInfo:
    """What the header says, read without decoding the pixels."""
    width: int
    height: int
    mode: str
    format: str | None
    conversion: str | None   # what load_rgb will do to it, e.g. "CMYK -> RGB"; None for plain upright RGB


def _label(source, name: str | None) -> str:
    if name:
        return str(name)
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "the uploaded image"
    return "the image"


def _pil_open(fp):
    """PIL's own Image.open. Importing ultralytics replaces Image.open process-wide with a wrapper that, on a file
    PIL cannot identify, tries to pip-install pi-heif (offline: ModuleNotFoundError); we want PIL's plain answer."""
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)(fp)


def _open(source, label: str, limit: int) -> Image.Image:
    """Open (header only) a path or bytes; PIL.Image and numpy inputs are handled by the caller."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise BadImageError(f"{label}: is a folder, not an image file")
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise BadImageError(f"{label}: no such file") from None
        except OSError as err:
            raise BadImageError(f"{label}: cannot be read ({err.strerror or err})") from None
        if size == 0:
            raise BadImageError(f"{label}: the file is empty (0 bytes)")
        fp = path
    else:
        data = bytes(source)
        if not data:
            raise BadImageError(f"{label}: is empty (0 bytes)")
        fp = io.BytesIO(data)
    try:
        return _pil_open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImageError(f"{label}: its header claims a gigantic picture (a decompression bomb); "
                            f"images above {limit:,} pixels are refused") from None
    except UnidentifiedImageError:
        suffix = Path(label).suffix.lower()   # a path, or the name an upload came with
        if suffix in IMAGE_SUFFIXES:   # named like a picture, but its bytes are not one
            raise BadImageError(f"{label}: is not an image inside, although named {suffix} (damaged, or another "
                                f"kind of file renamed): save it again as a JPEG or PNG") from None
        raise BadImageError(f"{label}: is not an image (JPEG, PNG, BMP, WebP, TIFF and GIF files work)") from None
    except PermissionError:
        raise BadImageError(f"{label}: permission denied") from None
    except _BAD_DECODE as err:
        raise BadImageError(f"{label}: corrupt image header ({type(err).__name__}: {err})") from None


def _check_size(width: int, height: int, limit: int, label: str) -> None:
    if width <= 0 or height <= 0:
        raise BadImageError(f"{label}: has no pixels ({width}x{height})")
    if width * height > limit:
        raise BadImageError(f"{label}: {width}x{height} = {width * height:,} pixels is over the limit of "
                            f"{limit:,} (a possible decompression bomb): resize it before uploading")


def _exif_orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except _BAD_DECODE:
        return 1  # unreadable EXIF: keep the picture as stored rather than refuse it


def _has_transparency(im: Image.Image) -> bool:
    return im.mode in _TRANSPARENT_MODES or "transparency" in im.info


def _describe(im: Image.Image) -> str | None:
    """The conversion load_rgb applies, from the header alone."""
    notes = []
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        notes.append(f"{im.mode} -> RGB (16-bit scaled to 8-bit)")
    elif im.mode in ("I", "F"):
        notes.append(f"{im.mode} -> RGB ({'32-bit integer' if im.mode == 'I' else 'float'} scaled to 8-bit)")
    elif _has_transparency(im):
        notes.append(f"{im.mode} -> RGB (transparency composited on white)")
    elif im.mode == "1":
        notes.append("1 -> RGB (1-bit)")
    elif im.mode != "RGB":
        notes.append(f"{im.mode} -> RGB")
    orientation = _exif_orientation(im)
    if orientation not in (0, 1):
        notes.append(f"rotated by EXIF (orientation {orientation})")
    return "; ".join(notes) or None


def _wide_to_uint8(im: Image.Image) -> Image.Image:
    """16-bit / 32-bit / float grayscale to 8-bit by scaling, not clipping.

    PIL's own convert("L") clips: every value above 255 of a 16-bit scan becomes white.
    """
    a = np.asarray(im)
    if im.mode.startswith("I;16"):
        a = a.astype(np.uint32)
        out = (a * 255 + 32767) // 65535                     # 0..65535 -> 0..255, rounded
    elif im.mode == "I":
        a = a.astype(np.int64)
        hi = int(a.max()) if a.size else 0
        lo = int(a.min()) if a.size else 0
        if lo >= 0 and hi <= 255:
            out = a                                         # already 8-bit values
        elif lo >= 0 and hi <= 65535:
            out = (a * 255 + 32767) // 65535                # 16-bit data stored as 32-bit (PNG, TIFF)
        else:
            out = (a - lo) * 255 // max(hi - lo, 1)         # anything else: stretch to the range seen
    else:  # "F"
        a = np.nan_to_num(a.astype(np.float64))
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
        out = a * 255 if lo >= 0 and hi <= 1 else (a - lo) * 255 / max(hi - lo, 1e-12)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "L")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any decoded mode to 8-bit RGB; transparent pixels become white (as a viewer shows them)."""
    if im.mode in _SIXTEEN_BIT_MODES:
        im = _wide_to_uint8(im)
    if _has_transparency(im):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode == "RGB":
        return im.copy()
    try:
        return im.convert("RGB")   # CMYK, P, L, 1, YCbCr, ... (PIL's conversions)
    except ValueError as err:
        raise BadImageError(f"colour mode {im.mode} cannot be converted to RGB ({err})") from None


def _from_array(array, limit: int, label: str) -> Image.Image:
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise BadImageError(f"{label}: an array of shape {a.shape} is not an image (expected HxW, HxWx3 or HxWx4)")
    _check_size(a.shape[1], a.shape[0], limit, label)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 + 32767) // 65535
    elif np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a)
        a = a * 255 if a.size and a.min() >= 0 and a.max() <= 1 else a   # 0..1 floats (torch-style) or 0..255
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[a.shape[2] if a.ndim == 3 else 2]
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a), mode))


def load_rgb(source, max_pixels: int | None = None, *, name: str | None = None) -> Image.Image:
    """Decode `source` into an upright 8-bit RGB image, or raise BadImageError.

    source: a path (str / Path), bytes (or an open binary file), a PIL.Image, or a numpy array
            (HxW, HxWx3 RGB, HxWx4 RGBA; uint8, uint16, bool, or floats in 0..1 or 0..255).
    max_pixels: refuse larger images (default settings.MAX_IMAGE_PIXELS), checked from the header.
    name: how to call the image in error messages (default: the path, or "the uploaded image").
    """
    limit = settings.MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    label = _label(source, name)
    if source is None:
        raise BadImageError("no image given: upload or choose a picture first")
    if hasattr(source, "read") and not isinstance(source, Image.Image):   # an open file or BytesIO
        source = source.read()
    if isinstance(source, np.ndarray) or (hasattr(source, "__array__") and not isinstance(source, Image.Image)):
        return _from_array(source, limit, label)
    if isinstance(source, Image.Image):
        im, opened = source, None
    elif isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        im = opened = _open(source, label, limit)
    else:
        raise BadImageError(f"{label}: a {type(source).__name__} is not an image (give a path, bytes, a PIL image or an array)")
    try:
        _check_size(im.width, im.height, limit, label)   # from the header: nothing decoded yet
        try:
            im.load()
        except _BAD_DECODE as err:
            raise BadImageError(f"{label}: corrupt or truncated image data ({type(err).__name__}: {err})") from None
        if _exif_orientation(im) not in (0, 1):
            try:
                im = ImageOps.exif_transpose(im)   # a new image; the phone's "rotate me" tag applied
            except _BAD_DECODE:
                pass  # an unreadable EXIF block: keep the pixels as stored (not worth refusing the image)
        try:
            return _to_rgb(im)
        except BadImageError as err:
            raise BadImageError(f"{label}: {err}") from None
        except _BAD_DECODE as err:
            raise BadImageError(f"{label}: cannot be converted to RGB ({type(err).__name__}: {err})") from None
    finally:
        if opened is not None:
            opened.close()   # the returned image is a new one, independent of the file


def probe_image(source, max_pixels: int | None = None, *, name: str | None = None) -> ImageInfo:
    """Cheap check of a file (header only, no pixel decoding): size, mode, the conversion load_rgb will do.

    Raises BadImageError for empty, non-image, corrupt-header or too-large files. A file whose pixel
    data is truncated passes here and fails later in load_rgb (that is what the data loader handles).
    """
    limit = settings.MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    label = _label(source, name)
    im = _open(source, label, limit)
    try:
        _check_size(im.width, im.height, limit, label)
        return ImageInfo(im.width, im.height, im.mode, im.format, _describe(im))
    finally:
        im.close()


def describe_conversion(path) -> str | None:
    """What load_rgb does to this file beyond decoding: e.g. "CMYK -> RGB", "rotated by EXIF (orientation 6)".

    None for a plain, upright RGB image. Raises BadImageError for a file that is not a usable image.
    """
    return probe_image(path).conversion


def example_folder():
    """Ultralytics' example photos folder (bus.jpg, zidane.jpg: real pictures that pip installs), located without
    importing ultralytics (that takes seconds); None when it is missing."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("ultralytics")
    folder = Path(spec.origin).parent / "assets" if spec and spec.origin else None
    return folder if folder and folder.is_dir() else None


def example_photos() -> list[str]:
    """bus.jpg and zidane.jpg, the example photos of the Detect and Try tabs (empty when missing)."""
    folder = example_folder()
    return [str(p) for p in (folder / "bus.jpg", folder / "zidane.jpg") if p.is_file()] if folder else []
