"""Your own images: a messy real folder -> one tensor file, with a report; augmentations."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_helpers import augment, image_folder

ROOT = Path(__file__).resolve().parents[1]


def _rgb(w, h, colour):
    return Image.new("RGB", (w, h), colour)


@pytest.fixture
def messy_folder(tmp_path):
    """Every mode the issue names, two sizes, nested folders, a duplicate, broken files."""
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    _rgb(40, 30, (200, 30, 30)).save(src / "red.jpg", quality=95)
    _rgb(100, 80, (30, 200, 30)).save(src / "nested" / "green.png")
    Image.new("L", (50, 50), 128).save(src / "grey_L.png")
    la = Image.new("LA", (50, 50), (0, 0))  # transparent black, grey right half
    la.paste((100, 255), (25, 0, 50, 50))
    la.save(src / "transparent_LA.png")
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 32, 64))  # left half transparent
    rgba.save(src / "nested" / "half_transparent.png")
    p = Image.new("P", (48, 48), 1)
    p.putpalette([0, 0, 0, 0, 255, 0, 0, 128, 255] + [0] * 759)
    p.paste(2, (24, 0, 48, 48))
    p.info["transparency"] = 1
    p.save(src / "palette.png", transparency=1)
    Image.new("CMYK", (60, 40), (0, 255, 255, 0)).save(src / "cmyk.jpg")
    ramp = np.tile(np.linspace(0, 40000, 30), (30, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(src / "nested" / "deeper" / "i16.png")
    frames = [_rgb(32, 32, (0, 0, 200)), _rgb(32, 32, (200, 200, 0))]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
    _rgb(33, 33, (10, 10, 10)).save(src / "dark.bmp")
    _rgb(70, 70, (120, 60, 200)).save(src / "purple.webp")
    shutil.copy(src / "nested" / "green.png", src / "green_copy.png")  # exact duplicate
    good = (src / "red.jpg").read_bytes()
    buf = src / "truncated.png"
    _rgb(64, 64, (1, 2, 3)).save(buf)
    buf.write_bytes(buf.read_bytes()[:100])
    (src / "notes.jpg").write_text("not an image at all")
    assert good
    return src


def tree_digest(folder):
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_cli_prepares_every_readable_image_and_reports_the_rest(messy_folder, tmp_path):
    before = tree_digest(messy_folder)
    out = tmp_path / "prepared" / "mine.pt"
    proc = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "prepare_images.py"),
                           str(messy_folder), str(out), "--size", "64", "--dedupe"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    images = torch.load(out, weights_only=True)
    assert images.dtype == torch.uint8 and images.shape == (11, 3, 64, 64)
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["count"] == 11 and len(manifest["sources"]) == 11
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"truncated.png", "notes.jpg", "green_copy.png"} or \
        set(reasons) == {"truncated.png", "notes.jpg", "nested/green.png"}
    assert "truncated" in reasons["truncated.png"]
    assert "cannot identify" in reasons["notes.jpg"]
    assert any("exact duplicate" in r for r in reasons.values())
    for name in reasons:
        assert name in proc.stdout
    assert out.with_suffix(".preview.png").is_file()
    assert tree_digest(messy_folder) == before  # the source folder is only read


@pytest.mark.parametrize("background, value", [("white", 255), ("black", 0)])
def test_transparent_pixels_take_the_background(messy_folder, tmp_path, background, value):
    out = tmp_path / f"{background}.pt"
    m = image_folder.prepare_folder(messy_folder, out, size=32, background=background, progress=False)
    images = torch.load(out, weights_only=True)
    half = images[m["sources"].index("nested/half_transparent.png")]
    assert (half[:, :, :12] == value).all()  # the transparent left half
    assert half[0, :, 20:].float().mean() > 250 and half[2, :, 20:].float().mean() < 5  # red kept
    la = images[m["sources"].index("transparent_LA.png")]
    assert (la[:, :, :12] == value).all() and (la[:, :, 20:] == 100).all()
    palette = images[m["sources"].index("palette.png")]
    assert (palette[:, :, :12] == value).all() and (palette[2, :, 20:] == 255).all()
    i16 = images[m["sources"].index("nested/deeper/i16.png")]
    assert i16.max() == 255 and 100 < i16.float().mean() < 160  # 16 bits scaled, not clipped
    assert m["count"] == 12  # no dedupe: the copy stays


def test_package_prepares_a_folder_on_first_use_and_caches_it(messy_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    ds = image_folder.load_image_folder(messy_folder, 32)
    assert ds.images.shape == (12, 3, 32, 32) and ds.images.dtype == torch.uint8
    cached = list((tmp_path / "cache" / "prepared").glob("*.pt"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    image_folder.load_image_folder(messy_folder, 32)
    assert cached[0].stat().st_mtime_ns == mtime


def test_missing_and_empty_folders_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_path"):
        image_folder.load_image_folder(tmp_path / "nope", 64)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images in"):
        image_folder.prepare_folder(tmp_path / "empty", tmp_path / "x.pt", progress=False)
    assert not (tmp_path / "x.pt").exists()


def test_celeba_script_prepares_a_manually_downloaded_folder(tmp_path):
    faces = tmp_path / "celeba" / "img_align_celeba"
    faces.mkdir(parents=True)
    for i in range(5):
        _rgb(178, 218, (i * 40, 100, 150)).save(faces / f"{i:06d}.jpg")
    out = tmp_path / "faces.pt"
    proc = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "download_celeba.py"),
                           "--root", str(tmp_path), "--limit", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert torch.load(out, weights_only=True).shape == (3, 3, 64, 64)


def test_download_mnist_verifies_checksums(tmp_path):
    shared = Path(__import__("os").environ["GAN_DATA_DIR"]) / "MNIST" / "raw"
    copy = tmp_path / "MNIST" / "raw"
    copy.mkdir(parents=True)
    for f in shared.glob("*.gz"):
        shutil.copy(f, copy / f.name)
    sys.path.insert(0, str(ROOT / "data_scripts"))
    import download_mnist
    from torchvision import datasets
    assert download_mnist.verify(datasets.MNIST, tmp_path) == []
    bad = copy / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-10])
    problems = download_mnist.verify(datasets.MNIST, tmp_path)
    assert problems[0][0] == "t10k-labels-idx1-ubyte.gz" and "MD5" in problems[0][1]


def test_augmentations_keep_shape_and_range():
    x = torch.rand(64, 3, 32, 32) * 2 - 1
    for kind in ("none", "flip", "diffaug", "rotate", "erase", "crop"):
        views = augment.preview(x, kinds=(kind,))
        assert views[kind].shape == x.shape and torch.isfinite(views[kind]).all()
    flipped = augment.augment_real(x, "flip", torch.Generator().manual_seed(0))
    same = (flipped == x).flatten(1).all(1)
    mirrored = (flipped == x.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and 10 < mirrored.sum() < 54
    assert torch.equal(augment.augment_both(x, "flip"), x)  # flip is for real images only


def test_diffaug_is_differentiable_and_applies_to_fakes_too():
    fake = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = augment.augment_both(fake, "diffaug", torch.Generator().manual_seed(0))
    assert not torch.equal(out, fake)
    out.sum().backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
