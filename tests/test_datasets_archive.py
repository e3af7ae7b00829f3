"""extract_zip: good zips unpack; traversal, absolute paths, symlinks, too many files and bombs are refused."""
import stat
import zipfile

import pytest

from vision_demo import settings
from vision_demo.datasets.archive import extract_zip
from vision_demo.errors import VisionDemoError


def _zip(path, members):
    """members: list of (name, bytes) or ZipInfo-with-bytes tuples."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "dest"
    d.mkdir()
    return d


def test_good_zip_extracted_and_junk_skipped(tmp_path, dest):
    z = _zip(tmp_path / "my data.zip", [
        ("data/train/cat/a.png", b"x" * 10), ("data/train/dog/b.png", b"y" * 10),
        ("__MACOSX/data/train/cat/._a.png", b"junk"), ("data/.DS_Store", b"junk"), ("data/train/._b.png", b"junk"),
        ("data\\test\\cat\\c.png", b"z"),     # Windows separators
    ])
    out = extract_zip(z, dest)
    assert out.parent == dest and out.name.startswith("my_data-")
    assert _tree(out) == ["data", "data/test", "data/test/cat", "data/test/cat/c.png", "data/train",
                          "data/train/cat", "data/train/cat/a.png", "data/train/dog", "data/train/dog/b.png"]
    assert (out / "data/train/cat/a.png").read_bytes() == b"x" * 10
    assert extract_zip(z, dest) != out          # a second upload gets its own folder


def test_default_destination_is_inside_the_work_folder(tmp_path):
    out = extract_zip(_zip(tmp_path / "d.zip", [("a/b.png", b"1")]))
    assert settings.work_dir() in out.parents


@pytest.mark.parametrize("name, match", [
    ("../evil.txt", r"'\.\.'"),
    ("ok/../../evil.txt", r"'\.\.'"),
    ("/tmp/evil.txt", "absolute"),
    ("C:\\evil.txt", "absolute"),
])
def test_escaping_paths_refused(tmp_path, dest, name, match):
    z = _zip(tmp_path / "evil.zip", [("good/a.png", b"fine"), (name, b"evil")])
    with pytest.raises(VisionDemoError, match=match):
        extract_zip(z, dest)
    assert _tree(dest) == []                    # nothing left behind, not even the good member
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_member_refused(tmp_path, dest):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("good/a.png", b"fine")
        link = zipfile.ZipInfo("good/passwd")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(VisionDemoError, match="symbolic link"):
        extract_zip(z, dest)
    assert _tree(dest) == []


def test_too_many_members_refused(tmp_path, dest, monkeypatch):
    monkeypatch.setattr(settings, "MAX_ZIP_FILES", 5)
    z = _zip(tmp_path / "many.zip", [(f"f/{i}.png", b"1") for i in range(6)])
    with pytest.raises(VisionDemoError, match="6 members"):
        extract_zip(z, dest)
    assert _tree(dest) == []


def test_declared_bomb_refused_before_inflating(tmp_path, dest, monkeypatch):
    monkeypatch.setattr(settings, "MAX_UNZIPPED_BYTES", 100_000)
    z = _zip(tmp_path / "bomb.zip", [("bomb/zeros.bin", b"\0" * 200_000)])
    assert z.stat().st_size < 2_000
    with pytest.raises(VisionDemoError, match="limit"):
        extract_zip(z, dest)
    assert _tree(dest) == []


def _lie_about_sizes(path, real_size, fake_size):
    """Rewrite the uncompressed size in the local and central headers (a forged zip bomb)."""
    data = bytearray(path.read_bytes())
    real, fake = real_size.to_bytes(4, "little"), fake_size.to_bytes(4, "little")
    count = 0
    start = 0
    while (i := data.find(real, start)) != -1:
        data[i:i + 4] = fake
        count += 1
        start = i + 4
    assert count == 2, "one local header + one central directory entry"
    path.write_bytes(bytes(data))


def test_lying_header_bomb_stopped_while_inflating(tmp_path, dest, monkeypatch):
    monkeypatch.setattr(settings, "MAX_UNZIPPED_BYTES", 100_000)
    real = 3_000_017
    z = _zip(tmp_path / "liar.zip", [("a/small.png", b"ok"), ("a/liar.bin", b"\0" * real)])
    _lie_about_sizes(z, real, 1_000)            # headers now claim 1 KB: passes the cheap check
    with zipfile.ZipFile(z) as zf:
        assert sum(i.file_size for i in zf.infolist()) < 100_000
    with pytest.raises(VisionDemoError):
        extract_zip(z, dest)
    assert _tree(dest) == []
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 100_000   # never inflated


def test_streaming_limit_counts_real_bytes(tmp_path, dest, monkeypatch):
    # Three honest members of 40 KB: each under the limit, together over it, and the total check
    # is off (limit raised) until the moment of inflating: the running count must stop it.
    z = _zip(tmp_path / "three.zip", [(f"x/{i}.bin", b"\1" * 40_000) for i in range(3)])
    import vision_demo.datasets.archive as archive
    real_copy = archive._copy_limited

    def copy_with_small_limit(zf, info, target, written, limit, zip_name):
        return real_copy(zf, info, target, written, 100_000, zip_name)

    monkeypatch.setattr(archive, "_copy_limited", copy_with_small_limit)
    with pytest.raises(VisionDemoError, match="inflates past"):
        extract_zip(z, dest)
    assert _tree(dest) == []


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_not_a_zip(tmp_path, dest, content):
    z = tmp_path / "fake.zip"
    z.write_bytes(content)
    with pytest.raises(VisionDemoError, match="not a readable zip"):
        extract_zip(z, dest)
    assert _tree(dest) == []


def test_missing_and_empty(tmp_path, dest):
    with pytest.raises(VisionDemoError, match="no such zip"):
        extract_zip(tmp_path / "nope.zip", dest)
    with pytest.raises(VisionDemoError, match="no files"):
        extract_zip(_zip(tmp_path / "junk.zip", [("__MACOSX/x", b"1"), (".DS_Store", b"2")]), dest)
    assert _tree(dest) == []


def test_corrupt_member_data(tmp_path, dest):
    z = _zip(tmp_path / "crc.zip", [("a/b.bin", b"hello world" * 100)])
    data = bytearray(z.read_bytes())
    i = data.find(b"a/b.bin") + len("a/b.bin") + 5   # inside the compressed stream
    data[i] ^= 0xFF
    z.write_bytes(bytes(data))
    with pytest.raises(VisionDemoError, match="corrupt"):
        extract_zip(z, dest)
    assert _tree(dest) == []


def _corrupt_member(path, name, where=0.5):
    """Flip one byte of `name`'s compressed data (the local header and the central directory stay intact)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    data = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + int(info.compress_size * where)] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


# payload with some structure, so every method really compresses it
_PAYLOAD = b"".join(f"line {i}: {i * i % 977} hello world\n".encode() for i in range(3000))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
                         ids=["stored", "deflated", "bzip2", "lzma"])
@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_corrupt_member_of_every_method_is_a_clear_error(tmp_path, dest, method, where):
    # stored -> BadZipFile (CRC), deflated -> zlib.error or BadZipFile, bzip2 -> OSError, lzma -> LZMAError:
    # each must become the same VisionDemoError naming the member, with nothing left behind
    z = tmp_path / "broken.zip"
    with zipfile.ZipFile(z, "w", method) as zf:
        zf.writestr("ok/first.txt", b"fine")
        zf.writestr("a/b.bin", _PAYLOAD)
    _corrupt_member(z, "a/b.bin", where)
    with pytest.raises(VisionDemoError, match=r"broken\.zip: member 'a/b\.bin' is corrupt or uses an unsupported "
                                              r"compression .*re-create the zip"):
        extract_zip(z, dest)
    assert _tree(dest) == []


def test_unsupported_compression_method_is_a_clear_error(tmp_path, dest):
    z = _zip(tmp_path / "d64.zip", [("a/b.bin", _PAYLOAD)])
    data = bytearray(z.read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 8] = data[central + 10] = 9       # method 9 = Deflate64, which Python cannot inflate
    z.write_bytes(bytes(data))
    with pytest.raises(VisionDemoError, match=r"member 'a/b\.bin' is corrupt or uses an unsupported compression"):
        extract_zip(z, dest)
    assert _tree(dest) == []


def test_zip_is_closed_when_no_folder_can_be_made(tmp_path, dest, monkeypatch):
    from vision_demo.datasets import archive

    z = _zip(tmp_path / "good.zip", [("a/b.txt", b"x")])
    opened = []

    class Recording(zipfile.ZipFile):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive.zipfile, "ZipFile", Recording)
    monkeypatch.setattr(archive.tempfile, "mkdtemp", no_room)
    with pytest.raises(VisionDemoError, match="cannot create a folder"):
        extract_zip(z, dest)
    assert len(opened) == 1 and opened[0].fp is None        # closed
    assert _tree(dest) == []
