"""images.load_rgb: every odd mode becomes RGB, every broken file becomes a BadImageError naming it."""
import io
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from vision_demo.errors import BadImageError, VisionDemoError
from vision_demo.images import IMAGE_SUFFIXES, describe_conversion, load_rgb, probe_image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _fake_png_header(width: int, height: int) -> bytes:
    """A 60-byte PNG whose header claims width x height RGB pixels (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_plain_rgb_round_trip(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (7, 5), RED).save(path)
    img = load_rgb(path)
    assert img.mode == "RGB" and img.size == (7, 5) and img.getpixel((3, 2)) == RED
    assert describe_conversion(path) is None
    assert load_rgb(str(path)).tobytes() == img.tobytes() == load_rgb(path.read_bytes()).tobytes()
    with open(path, "rb") as f:
        assert load_rgb(f).tobytes() == img.tobytes()


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("RGB", (16, 16), RED).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    img = load_rgb(path)
    r, g, b = img.getpixel((8, 8))
    assert img.mode == "RGB" and r > 200 and g < 60 and b < 60
    assert describe_conversion(path) == "CMYK -> RGB"


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "scan16.png"
    ramp = np.array([[0, 257 * 64, 32768, 65535]], dtype=np.uint16).repeat(4, axis=0)
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode == "I;16"
    px = np.asarray(load_rgb(path))[0, :, 0]
    assert px.tolist() == [0, 64, 128, 255]        # PIL's own convert("L") gives [0, 255, 255, 255]
    assert "16-bit" in describe_conversion(path)


def test_rgba_and_la_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (4, 2), RED + (255,))
    rgba.putpixel((0, 0), (0, 0, 0, 0))            # fully transparent black -> white
    rgba.putpixel((1, 0), (0, 0, 255, 128))        # half-transparent blue -> light blue
    img = load_rgb(_png_bytes(rgba))
    assert img.getpixel((0, 0)) == WHITE
    r, g, b = img.getpixel((1, 0))
    assert 120 <= r <= 135 and 120 <= g <= 135 and b == 255
    assert img.getpixel((3, 1)) == RED

    la = Image.new("LA", (2, 1), (0, 255))
    la.putpixel((0, 0), (0, 0))
    path = tmp_path / "la.png"
    la.save(path)
    assert load_rgb(path).getpixel((0, 0)) == WHITE and load_rgb(path).getpixel((1, 0)) == (0, 0, 0)
    assert "transparency" in describe_conversion(path)


def test_palette_with_and_without_transparency(tmp_path):
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 255, 0, 0, 0, 255] + [0] * 762)   # index 0 green, 1 blue
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    plain = tmp_path / "palette.png"
    pal.save(plain)
    assert load_rgb(plain).getpixel((0, 0)) == (0, 255, 0)
    assert describe_conversion(plain) == "P -> RGB"

    transparent = tmp_path / "palette_t.png"
    pal.save(transparent, transparency=0)
    img = load_rgb(transparent)
    assert img.getpixel((0, 0)) == WHITE and img.getpixel((1, 0)) == BLUE

    gif = tmp_path / "palette.gif"
    pal.save(gif, transparency=0)
    assert load_rgb(gif).getpixel((0, 0)) == WHITE


def test_one_bit_and_grayscale(tmp_path):
    bw = Image.new("1", (3, 1), 0)
    bw.putpixel((1, 0), 1)
    path = tmp_path / "bw.bmp"
    bw.save(path)
    img = load_rgb(path)
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (0, 0, 0) and img.getpixel((1, 0)) == WHITE
    assert describe_conversion(path).startswith("1 -> RGB")
    gray = load_rgb(Image.new("L", (2, 2), 77))
    assert gray.mode == "RGB" and gray.getpixel((1, 1)) == (77, 77, 77)


def test_exif_rotation_is_applied(tmp_path):
    # Stored 20 wide x 10 high: left half red, right half blue. EXIF orientation 6 says
    # "rotate 90° clockwise to show": the left edge becomes the top edge.
    im = Image.new("RGB", (20, 10), BLUE)
    im.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    im.save(path, exif=exif.tobytes(), quality=95)
    img = load_rgb(path)
    assert img.size == (10, 20)
    top, bottom = np.asarray(img)[2, 5], np.asarray(img)[17, 5]
    assert top[0] > 200 and top[2] < 60, top          # red on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom  # blue below
    assert describe_conversion(path) == "rotated by EXIF (orientation 6)"


def test_numpy_and_pil_inputs():
    assert load_rgb(np.zeros((3, 4), np.uint8)).size == (4, 3)
    assert load_rgb(np.full((2, 2, 3), 0.5, np.float32)).getpixel((0, 0)) == (128, 128, 128)
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert load_rgb(rgba).getpixel((0, 0)) == WHITE              # alpha 0 -> white
    assert load_rgb(np.full((1, 1), 65535, np.uint16)).getpixel((0, 0)) == WHITE
    original = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert load_rgb(original).getpixel((0, 0)) == WHITE and original.mode == "RGBA"   # caller's image untouched
    with pytest.raises(BadImageError, match="shape"):
        load_rgb(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(BadImageError):
        load_rgb(None)
    with pytest.raises(BadImageError):
        load_rgb(12345)


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "empty", "text", "folder", "missing"])
def test_broken_files_raise_bad_image_error_naming_the_file(tmp_path, kind):
    path = tmp_path / f"broken_{kind}.jpg"
    if kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(noise).save(buf, format="JPEG")
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a picture\n" * 20)
    elif kind == "folder":
        path.mkdir()
    with pytest.raises(BadImageError) as info:
        load_rgb(path)
    assert path.name in str(info.value)
    assert isinstance(info.value, VisionDemoError)


# With PIL's warning made an error (as a caller may configure it), the refusal still says "bomb";
# test_bomb_refused_with_the_default_warning_filters covers the default filters.
@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_refused_from_the_header(tmp_path):
    path = tmp_path / "bomb.png"
    for width, height in [(100_000, 100_000), (12_000, 12_000), (7_000, 7_000)]:   # beyond 2x PIL's limit, beyond PIL's limit, beyond ours
        path.write_bytes(_fake_png_header(width, height))
        start = time.perf_counter()
        with pytest.raises(BadImageError, match="bomb") as info:
            load_rgb(path)
        assert time.perf_counter() - start < 1.0, "refused without decoding"
        assert "bomb.png" in str(info.value)
        with pytest.raises(BadImageError, match="bomb"):
            probe_image(path)
    # a caller's own, lower limit
    small = tmp_path / "small.png"
    Image.new("RGB", (100, 100)).save(small)
    with pytest.raises(BadImageError, match="over the limit"):
        load_rgb(small, max_pixels=5_000)


def test_probe_reads_header_only(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = tmp_path / "half.png"
    data = _png_bytes(Image.fromarray(noise))
    path.write_bytes(data[: len(data) // 2])
    info = probe_image(path)                     # header is fine ...
    assert (info.width, info.height, info.mode) == (30, 40, "RGB")
    with pytest.raises(BadImageError, match="truncated"):
        load_rgb(path)                           # ... the pixels are not


def test_threads_decode_concurrently(tmp_path):
    odd = [("a.jpg", "CMYK"), ("b.png", "I;16"), ("c.png", "RGBA"), ("d.bmp", "1"), ("e.gif", "P"), ("f.tif", "L")]
    paths = []
    for filename, mode in odd:
        assert filename.endswith(IMAGE_SUFFIXES)
        Image.new(mode, (32, 32)).save(tmp_path / filename)
        paths.append(tmp_path / filename)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_fake_png_header(50_000, 50_000))

    def work(i):
        if i % 4 == 0:
            with pytest.raises(BadImageError):
                load_rgb(bomb)
            return "bomb"
        return load_rgb(paths[i % len(paths)]).mode

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(40)))
    assert results.count("bomb") == 10 and set(results) == {"bomb", "RGB"}


def test_bomb_refused_with_the_default_warning_filters(tmp_path):
    # No process-wide filter: between PIL's limit and twice it PIL only warns, and our header check refuses.
    import warnings

    path = tmp_path / "bomb.png"
    for width, height in [(12_000, 12_000), (7_000, 7_000)]:   # beyond PIL's (warning) limit, beyond ours
        path.write_bytes(_fake_png_header(width, height))
        with warnings.catch_warnings():
            warnings.resetwarnings()               # Python's own default filters, not pytest's
            warnings.simplefilter("default")       # PIL's warning is printed, never raised
            with pytest.raises(BadImageError, match="bomb"):
                load_rgb(path)
            with pytest.raises(BadImageError, match="bomb"):
                probe_image(path)


def test_importing_images_leaves_the_warning_filters_alone():
    import subprocess
    import sys

    code = ("import warnings; from PIL import Image; import vision_demo.images; "
            "bomb = [f for f in warnings.filters if f[2] is Image.DecompressionBombWarning "
            "or (f[0] == 'error' and issubclass(Image.DecompressionBombWarning, f[2]))]; "
            "assert not bomb, bomb")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
