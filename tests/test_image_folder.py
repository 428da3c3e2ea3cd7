"""Your own images: a messy real folder -> one tensor file, with a report; caching; the scripts."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image


from gan_helpers import image_folder
from image_samples import messy_folder, _rgb  # noqa: F401 (a fixture)


ROOT = Path(__file__).resolve().parents[1]


def tree_digest(folder):
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("command", [["-m", "gan_helpers.image_folder"],
                                     [str(ROOT / "data_scripts" / "prepare_images.py")]],
                         ids=["module", "script"])
def test_cli_prepares_every_readable_image_and_reports_the_rest(messy_folder, tmp_path, command):
    """Notebook 05's command (`python -m gan_helpers.image_folder ...`) run from another folder
    than the course's, as from Colab's /content; the course's script does the same."""
    before = tree_digest(messy_folder)
    out = tmp_path / "prepared" / "mine.pt"
    proc = subprocess.run([sys.executable, *command, str(messy_folder), str(out), "--size", "64", "--dedupe"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    images = torch.load(out, weights_only=True)
    assert images.dtype == torch.uint8 and images.shape == (12, 3, 64, 64)
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["count"] == 12 and len(manifest["sources"]) == 12
    assert manifest["files_seen"] == 16 and manifest["skipped_count"] == 4
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    # files are read in sorted path order; the first of two copies is kept
    assert set(reasons) == {"truncated.png", "notes.jpg", "nested/green.png", "scene.png"}
    assert "truncated" in reasons["truncated.png"]
    assert "cannot identify" in reasons["notes.jpg"]
    assert reasons["nested/green.png"] == "exact duplicate of green_copy.png"
    assert reasons["scene.png"] == "near duplicate of nested/scene_small.jpg"
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
    assert i16.max() == round(40000 / 65535 * 255) and 70 < i16.float().mean() < 86  # by 65535, not its max
    assert m["count"] == 14  # no dedupe: both copies stay


def test_package_prepares_a_folder_on_first_use_and_caches_it(messy_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    images = image_folder.load_image_folder(messy_folder, 32)
    assert images.shape == (14, 3, 32, 32) and images.dtype == torch.uint8
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


def test_a_file_that_is_neither_a_folder_nor_a_pt_says_what_it_is(tmp_path):
    """Issue 36: data_path at a notes.txt said "image folder ... does not exist". It exists; it is
    a file. The message says so, which kind, and what data_path accepts."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my training notes")
    with pytest.raises(NotADirectoryError) as caught:
        image_folder.load_image_folder(notes, 64)
    message = str(caught.value)
    assert "does not exist" not in message
    assert "notes.txt" in message and "a .txt file" in message and "not an image folder" in message
    assert "folder of images" in message and ".png" in message and ".pt file" in message
    (tmp_path / "cat.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="a single .png image"):
        image_folder.load_image_folder(tmp_path / "cat.png", 64)
    with pytest.raises(NotADirectoryError, match="a .txt file, not a folder"):  # prepare_images.py
        image_folder.prepare_folder(notes, tmp_path / "x.pt", progress=False)


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


def _script(name, *args, **env):
    return subprocess.run([sys.executable, str(ROOT / "data_scripts" / name), *map(str, args)],
                          capture_output=True, text=True, timeout=180, env={**os.environ, **env})


def test_celeba_script_unzips_a_manual_download_and_explains_the_fallback(tmp_path):
    proc = _script("download_celeba.py", "--root", tmp_path)  # tests: GAN_HELPERS_NO_DOWNLOAD=1
    assert proc.returncode == 1
    assert "img_align_celeba.zip" in proc.stderr and str(tmp_path / "celeba") in proc.stderr
    faces = tmp_path / "staging" / "img_align_celeba"
    faces.mkdir(parents=True)
    for i in range(6):
        _rgb(178, 218, (i * 40, 100, 150)).save(faces / f"{i + 1:06d}.jpg")
    (tmp_path / "celeba").mkdir()
    shutil.make_archive(str(tmp_path / "celeba" / "img_align_celeba"), "zip", faces.parent)
    proc = _script("download_celeba.py", "--root", tmp_path, "--limit", "4", "--size", "32")
    assert proc.returncode == 0, proc.stderr
    images = torch.load(tmp_path / "celeba_32.pt", weights_only=True)
    assert images.shape == (4, 3, 32, 32)
    manifest = json.loads((tmp_path / "celeba_32.json").read_text())
    assert manifest["sources"] == ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]


def test_cached_folder_is_prepared_again_when_files_are_added(messy_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    first = image_folder.load_image_folder(messy_folder, 32)
    _rgb(50, 50, (5, 250, 5)).save(messy_folder / "new.png")
    assert len(image_folder.load_image_folder(messy_folder, 32)) == len(first) + 1


def test_data_path_may_name_a_folder_under_gan_data_dir(messy_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(messy_folder.parent))
    monkeypatch.chdir(tmp_path / "src" / "nested")
    assert image_folder.folder_or_demo("src") == str(messy_folder)
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    demo = Path(image_folder.folder_or_demo(""))
    assert demo.parent == tmp_path / "cache"
    kinds = {p.suffix for p in image_folder.image_files(demo)}
    assert {".png", ".jpg", ".gif"} <= kinds
    with Image.open(next(demo.glob("*.png"))) as png, Image.open(next(demo.glob("*.gif"))) as gif:
        assert png.mode == "RGBA" and gif.mode == "P"


def test_phone_photos_are_turned_upright_by_their_exif_orientation(tmp_path):
    """Stored 80x40 (red left, blue right) with orientation 6 ("turn 90 degrees clockwise to
    view"): upright it is 40x80, red on top. Without the turn G would learn sideways photos."""
    src = tmp_path / "photos"
    src.mkdir()
    img = _rgb(80, 40, (255, 0, 0))
    img.paste((0, 0, 255), (40, 0, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(src / "sideways.jpg", exif=exif, quality=95)
    m = image_folder.prepare_folder(src, tmp_path / "p.pt", size=32, crop="none", progress=False)
    (x,) = torch.load(tmp_path / "p.pt", weights_only=True)
    assert m["count"] == 1
    top, bottom = x[:, 4:12, 12:20].float().mean((1, 2)), x[:, 20:28, 12:20].float().mean((1, 2))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


# ---- issue 14: the source folder is only read; odd entries reported; cache by content -----
def test_output_inside_the_source_folder_is_refused(tmp_path):
    """Point 4: `prepare_images.py one_copy one_copy/good_1.png` overwrote the image."""
    src = tmp_path / "one_copy"
    src.mkdir()
    _rgb(40, 40, (200, 30, 30)).save(src / "good_1.png")
    before = tree_digest(src)
    for out in (src / "good_1.png", src / "prepared.pt", src / "nested" / "p.pt"):
        proc = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "prepare_images.py"),
                               str(src), str(out)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "inside the image folder" in proc.stderr, proc.stderr
    assert tree_digest(src) == before


def test_output_without_pt_suffix_gets_it(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _rgb(40, 40, (200, 30, 30)).save(src / "a.png")
    m = image_folder.prepare_folder(src, tmp_path / "prepared", size=32, progress=False)
    assert m["out"] == str(tmp_path / "prepared.pt")
    assert torch.load(tmp_path / "prepared.pt", weights_only=True).shape == (1, 3, 32, 32)
    assert (tmp_path / "prepared.json").is_file() and not (tmp_path / "prepared").exists()


def test_folders_and_symlink_loops_named_like_images_are_reported(tmp_path):
    """Point 14: they used to vanish from the report."""
    src = tmp_path / "src"
    (src / "holiday.png").mkdir(parents=True)  # a folder named like an image
    _rgb(40, 40, (200, 30, 30)).save(src / "holiday.png" / "inside.png")
    _rgb(40, 40, (30, 200, 30)).save(src / "ok.jpg")
    os.symlink("loop_b.png", src / "loop_a.png")
    os.symlink("loop_a.png", src / "loop_b.png")
    os.symlink("missing.png", src / "dangling.png")
    m = image_folder.prepare_folder(src, tmp_path / "p.pt", size=32, progress=False)
    assert sorted(m["sources"]) == ["holiday.png/inside.png", "ok.jpg"]
    reasons = {s["file"]: s["reason"] for s in m["skipped"]}
    assert set(reasons) == {"holiday.png", "loop_a.png", "loop_b.png", "dangling.png"}
    assert "folder" in reasons["holiday.png"] and "loops" in reasons["loop_a.png"]
    assert m["skipped_count"] == 4


def test_replaced_image_with_an_older_date_is_prepared_again(tmp_path, monkeypatch):
    """Point 14: `cp -p` keeps the old modification date; the cache goes by content."""
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir()
    _rgb(40, 40, (200, 0, 0)).save(src / "a.png")
    assert image_folder.load_image_folder(src, 32)[0, 0].float().mean() > 190
    _rgb(40, 40, (0, 0, 200)).save(tmp_path / "blue.png")
    os.utime(tmp_path / "blue.png", (1_000_000_000, 1_000_000_000))  # 2001
    shutil.copy2(tmp_path / "blue.png", src / "a.png")  # as cp -p does
    again = image_folder.load_image_folder(src, 32)[0]
    assert again[2].float().mean() > 190 and again[0].float().mean() < 10


def test_the_demo_folder_has_an_unreadable_file_that_is_skipped_and_listed(tmp_path, monkeypatch):
    """Notebook 05 says files that cannot be read are skipped and listed: its demo folder
    holds one (a JPEG cut short, as an interrupted download leaves it), and skipped_files
    names it with the reason, for a folder and for a .pt prepared by the script alike."""
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    demo = Path(image_folder.folder_or_demo(""))
    images = image_folder.load_image_folder(demo, 32)
    assert len(images) == 128  # every shape, the cut file left out
    (skipped,) = image_folder.skipped_files(demo, 32)
    assert skipped["file"] == "shape_cut_short.jpg" and "Truncated" in skipped["reason"]
    assert image_folder.skipped_files(demo, 64) == []  # not prepared at that size yet
    image_folder.prepare_folder(demo, tmp_path / "demo.pt", size=32, progress=False)
    assert [s["file"] for s in image_folder.skipped_files(tmp_path / "demo.pt")] == ["shape_cut_short.jpg"]
