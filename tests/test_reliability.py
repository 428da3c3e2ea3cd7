"""Issue 42: nothing a student types or a full disk does crashes the runtime, corrupts a file or
hides behind a traceback. Real files throughout: a truncated copy of the real MNIST, a real 16-bit
PNG, a real full filesystem (a 3 MB tmpfs) where this machine lets us mount one."""
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gan_helpers as gh
from gan_helpers import RunConfig, image_folder, runs, sweep
from gan_helpers.report import main as report_main


# ---- 1-3: sizes that would exhaust memory are refused before anything is built or created ----
@pytest.mark.parametrize("fields, named", [
    (dict(g_channels=[10**6, 128, 64]), "g_channels"),
    (dict(d_channels=[10**5, 10**5], d_strides=[2, 2]), "d_channels"),
    (dict(d_dense=[10**6]), "d_dense"),
    (dict(dataset="ring8", point_depth=10**5), "point_depth"),
    (dict(g_refine=10**4), "g_refine"),
    (dict(batch_size=60000), "batch_size"),
    (dict(dataset="stacked_mnist", channels=3, max_images=10**9), "max_images"),
], ids=["g_channels", "d_channels", "d_dense", "point_depth", "g_refine", "batch_size", "max_images"])
def test_sizes_that_cannot_fit_a_colab_runtime_are_refused_by_validate(fields, named):
    with pytest.raises(ValueError, match=r"needs at least [\d.,]+ GB of memory") as err:
        RunConfig(**fields).validate()
    advice = str(err.value).split(". Lower ")[-1]
    assert named in advice, err.value  # the field to lower, in the advice


def test_every_preset_and_the_notebook_sizes_still_fit():
    for preset in gh.PRESETS:
        big = preset.endswith("64")
        RunConfig(preset=preset, image_size=64 if big else 28, channels=3 if big else 1,
                  dataset="folder" if big else "mnist", data_path="x", batch_size=256,
                  loss="wgan-gp" if preset == "wgan_gp64" else "bce").validate()
    RunConfig(dataset="stacked_mnist", channels=3, max_images=128_000).validate()


def test_a_huge_sample_grid_is_refused_before_the_run_folder_exists(mnist_ready, small_cfg, tmp_path):
    cfg = small_cfg.replace(n_samples=10**6, wandb_mode="disabled")
    run = gh.start_run(small_cfg.replace(wandb_mode="disabled"), "e", str(tmp_path), "r")
    with pytest.raises(ValueError, match=r"n_samples=1000000 is too large: at most 1024"):
        gh.train(cfg, gh.load_dataset(small_cfg), run, progress=False)
    assert not (tmp_path / "e" / "r").exists()


POINTS = RunConfig(dataset="ring8", max_images=128, batch_size=64, epochs=1, device="cpu")


def test_a_cpu_out_of_memory_error_gets_the_advice_too():
    """A real allocation error of the CPU's allocator, inside the epoch loop (from a callback):
    2**60 bytes are more than any machine's address space, so it fails at once everywhere."""
    def allocate(state):
        torch.empty(2**60, dtype=torch.uint8)

    with pytest.raises(RuntimeError, match=r"The CPU \(its RAM\) ran out of memory at batch_size=64.*"
                                           r"Lower batch_size first.*batch_size=32.*T4 GPU") as err:
        gh.train(POINTS, gh.load_dataset(POINTS), callbacks=[allocate], progress=False)
    assert "can't allocate memory" in str(err.value.__cause__)


def test_other_runtime_errors_pass_through_unchanged():
    def fail(state):
        raise RuntimeError("not about memory")

    with pytest.raises(RuntimeError, match="^not about memory$"):
        gh.train(POINTS, gh.load_dataset(POINTS), callbacks=[fail], progress=False)


# ---- a real full disk ---------------------------------------------------------------------------
class SmallDisk:
    """A real 3 MB filesystem (tmpfs) that fill() fills to the last byte and free() empties,
    where this machine lets us mount one (root, as here and in CI). Elsewhere a plain folder
    whose os.replace fails with ENOSPC while it is 'full': the one fault that cannot be made
    real there, and the last step of every write of the package."""

    def __init__(self, path, monkeypatch):
        path.mkdir()
        self.path, self.full, self.filler = path, False, path / "filler"
        mount = ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(path)]
        self.mounted = (os.geteuid() == 0 and shutil.which("mount") is not None
                        and subprocess.run(mount, capture_output=True).returncode == 0)
        if not self.mounted:
            real = os.replace

            def replace(src, dst, *args, **kwargs):
                if self.full and self.path in Path(dst).absolute().parents:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real(src, dst, *args, **kwargs)
            monkeypatch.setattr(os, "replace", replace)

    def fill(self):
        self.full = True
        if self.mounted:
            fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT)
            for chunk in (1 << 20, 1 << 12, 1):  # down to the last byte
                try:
                    while os.write(fd, b"\0" * chunk):
                        pass
                except OSError as e:
                    assert e.errno == errno.ENOSPC
            os.close(fd)

    def free(self):
        self.full = False
        self.filler.unlink(missing_ok=True)

    def close(self):
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    disk = SmallDisk(tmp_path / "disk", monkeypatch)
    yield disk
    disk.close()


def leftovers(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if p.name.startswith(".tmp.") or
                  (p.is_file() and p.stat().st_size == 0))


# ---- 4: an image folder's cache ----------------------------------------------------------------
def image_folder_of(folder, n=6):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (40, 40), (40 * i, 100, 200 - 30 * i)).save(folder / f"img_{i}.png")
    return folder


def test_a_full_disk_while_caching_a_folder_leaves_the_cache_as_it_was(small_disk, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(small_disk.path / "cache"))
    src = image_folder_of(tmp_path / "src")
    assert image_folder.load_image_folder(src, 32).shape == (6, 3, 32, 32)
    Image.new("RGB", (40, 40), (1, 2, 3)).save(src / "img_new.png")  # the cache is now out of date
    small_disk.fill()
    with pytest.raises(OSError, match=r"the disk is full.*could not be written to .*cache.*"
                                      r"Free space on that disk.*prepare it again") as err:
        image_folder.load_image_folder(src, 32)
    assert err.value.errno == errno.ENOSPC
    assert leftovers(small_disk.path / "cache") == []  # no temporary or empty file left behind
    small_disk.free()
    assert image_folder.load_image_folder(src, 32).shape == (7, 3, 32, 32)


def test_a_damaged_cache_manifest_is_rebuilt_not_kept(tmp_path, monkeypatch, capsys):
    """What the old in-place write left on a full disk: a 0-byte manifest (and a cut-off .pt)."""
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    src = image_folder_of(tmp_path / "src")
    image_folder.load_image_folder(src, 32)
    manifest = next((tmp_path / "cache" / "prepared").glob("*.json"))
    manifest.write_text("")
    assert image_folder.load_image_folder(src, 32).shape == (6, 3, 32, 32)
    assert f"{manifest} is damaged: it is empty" in capsys.readouterr().out
    assert json.loads(manifest.read_text())["count"] == 6
    pt = manifest.with_suffix(".pt")
    pt.write_bytes(pt.read_bytes()[:100])
    assert image_folder.load_image_folder(src, 32).shape == (6, 3, 32, 32)
    assert "is damaged" in capsys.readouterr().out


def test_a_damaged_manifest_is_named_by_skipped_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    src = image_folder_of(tmp_path / "src")
    image_folder.load_image_folder(src, 32)
    manifest = next((tmp_path / "cache" / "prepared").glob("*.json"))
    manifest.write_text('{"skipped": [')
    with pytest.raises(ValueError, match=rf"{manifest} is damaged: it is not complete JSON.*Delete it"):
        gh.skipped_files(src, 32)


# ---- 5, 6: the sweep's command line refuses what it would otherwise drop ------------------------
NOTEBOOK = str(Path(__file__).resolve().parents[1] / "notebooks" / "01_mnist_dcgan_baseline.ipynb")


@pytest.mark.parametrize("args, said", [
    (["--grid", "lr_g="], "gives lr_g no value"),
    (["--grid", "lr_g=1e-4", "--grid", "lr_g=2e-4"], "lr_g is given twice"),
    (["--grid", "lr_g=1e-4,2e-4", "--set", "lr_g=3e-4"], "lr_g is given twice"),
    (["--grid", "lr_g=1e-4,1e-4"], "lists a value twice"),
    (["--set", "output_dir=elsewhere"], "sets output_dir itself (from --out)"),
    (["--set", "run_name=mine"], "sets run_name itself"),
    (["--set", "experiment=mine"], "sets experiment itself (from --name)"),
    (["--grid", "seed=1,2", "--seeds", "3", "4"], "sets seed itself (from --seeds)"),
], ids=["empty", "grid-twice", "grid-and-set", "value-twice", "output_dir", "run_name",
        "experiment", "seed"])
def test_the_sweep_cli_refuses_what_it_would_ignore(args, said, tmp_path, capsys):
    assert sweep.main([NOTEBOOK, *args, "--out", str(tmp_path)]) == 2
    assert said in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before any folder was made


# ---- 7, 8: an image folder is read as it is, and every file is accounted for ----------------
def test_a_dark_16_bit_png_stays_as_dark_as_its_8_bit_twin(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    dark = np.tile(np.linspace(0, 1000, 40), (40, 1))  # 0-1000 of 65535
    Image.fromarray(dark.astype(np.uint16)).save(src / "dark16.png")
    assert Image.open(src / "dark16.png").mode.startswith("I")  # a real 16-bit PNG
    Image.fromarray((dark / 65535 * 255).round().astype(np.uint8), "L").save(src / "dark8.png")
    m = image_folder.prepare_folder(src, tmp_path / "out.pt", size=32, progress=False)
    images = torch.load(tmp_path / "out.pt", weights_only=True).float()
    means = {name: float(images[i].mean()) for i, name in enumerate(m["sources"])}
    assert means["dark16.png"] < 3 and abs(means["dark16.png"] - means["dark8.png"]) < 0.5


def test_every_file_of_a_folder_is_read_or_listed_as_skipped(tmp_path, capsys):
    """A folder of 18: 13 JPEGs, 2 TIFFs (read: Pillow opens them), 2 HEIC photos (a plugin
    would be needed: skipped, with how to convert them) and a text file."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(13):
        Image.new("RGB", (40, 40), (10 * i, 80, 120)).save(src / f"photo_{i:02d}.jpg")
    Image.new("RGB", (40, 40), (200, 10, 10)).save(src / "scan.tif")
    Image.new("L", (40, 40), 90).save(src / "sub.TIFF")
    for name in ("IMG_0001.heic", "IMG_0002.HEIC"):  # the name decides: Pillow cannot open any
        (src / name).write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    (src / "notes.txt").write_text("where I took them")
    assert image_folder.main([str(src), str(tmp_path / "out.pt"), "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "15 images of 18 files" in out
    manifest = json.loads((tmp_path / "out.json").read_text())
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"IMG_0001.heic", "IMG_0002.HEIC", "notes.txt"}
    assert "convert them to JPEG" in reasons["IMG_0001.heic"] and ".txt" in reasons["notes.txt"]
    assert manifest["skipped_count"] == 3 and manifest["count"] + 3 == manifest["files_seen"]


# ---- 9: a truncated MNIST file ------------------------------------------------------------------
def mnist_copy(tmp_path, monkeypatch):
    """The real MNIST/raw under tmp_path (the training images and their .gz copied, the rest
    linked), with train-images-idx3-ubyte cut to 1 MB as an interrupted unpack leaves it."""
    real = Path(os.environ["GAN_DATA_DIR"]) / "MNIST" / "raw"
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for path in real.iterdir():
        if path.name.startswith("train-images"):
            shutil.copyfile(path, raw / path.name)
        else:
            (raw / path.name).symlink_to(path)
    cut = raw / "train-images-idx3-ubyte"
    with open(cut, "r+b") as f:
        f.truncate(1 << 20)
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "data"))
    return cut


def test_a_truncated_mnist_file_is_unpacked_again_from_its_archive(mnist_ready, tmp_path, monkeypatch, capsys):
    cut = mnist_copy(tmp_path, monkeypatch)
    images, labels = gh.data.mnist()
    assert images.shape == (60000, 1, 28, 28) and cut.stat().st_size == 47_040_016
    assert "train-images-idx3-ubyte was damaged (it has 1,048,576 bytes where its header says " \
           "47,040,016): unpacked it again from train-images-idx3-ubyte.gz" in capsys.readouterr().out


def test_a_truncated_mnist_file_without_its_archive_says_what_to_do(mnist_ready, tmp_path, monkeypatch):
    cut = mnist_copy(tmp_path, monkeypatch)
    cut.with_name(cut.name + ".gz").unlink()
    with pytest.raises(FileNotFoundError, match=rf"{cut} is damaged: it has 1,048,576 bytes.*"
                                                r"\.gz beside it is missing\. Delete both and run "
                                                r"`python data_scripts/download_mnist.py --root "):
        gh.data.mnist()


# ---- 10: a full disk in the middle of a run ----------------------------------------------------
def tiny_cfg(**changes):
    """Real MNIST, a network small enough that its checkpoints fit a 3 MB disk (~0.3 MB each)."""
    fields = dict(max_images=128, batch_size=64, epochs=2, g_channels=[16, 8, 4], d_channels=[4, 8],
                  device="cpu", wandb_mode="disabled")
    return RunConfig(**{**fields, **changes}).validate()


def test_a_full_disk_during_a_run_names_the_file_and_resume_goes_on(mnist_ready, small_disk, capsys):
    cfg, out = tiny_cfg(), str(small_disk.path)

    def fill_at_epoch_2(state):
        if state.epoch == 2:
            small_disk.fill()

    run = gh.start_run(cfg, "e", out, "r")
    with pytest.raises(OSError, match=r"the disk is full.*epoch_002\.png could not be written to "
                                      r".*images.*Free space on that disk.*resume=True") as err:
        gh.train(cfg, gh.load_dataset(cfg), run, callbacks=[fill_at_epoch_2], progress=False)
    assert err.value.errno == errno.ENOSPC
    assert leftovers(run.path) == []  # no empty PNG, no temporary file
    assert sorted(p.name for p in run.images_dir.iterdir()) == ["epoch_000.png", "epoch_001.png"]
    assert json.loads((run.path / "training_metrics.json").read_text())["epoch"] == [1]
    small_disk.free()
    history = gh.train(cfg, gh.load_dataset(cfg), gh.start_run(cfg, "e", out, "r", resume=True),
                       progress=False)
    assert history["epoch"] == [1, 2]
    gh.show_run(run.path, show_gif=False)


@pytest.mark.parametrize("name", ["training_metrics.json", "hyperparameters.json"])
def test_a_full_disk_keeps_the_json_file_that_was_there(small_disk, name):
    path = small_disk.path / name
    runs.write_json(path, {"epoch": [1]})
    small_disk.fill()
    with pytest.raises(OSError, match=rf"the disk is full.*{name} could not be written.*it needed "
                                      rf"[\d.]+ (bytes|KB).*the earlier {name} is unchanged"):
        runs.write_json(path, {"epoch": [1, 2], "more": list(range(2000))})
    assert json.loads(path.read_text()) == {"epoch": [1]} and leftovers(small_disk.path) == []


def test_a_damaged_snapshot_is_passed_over_by_show_run_and_the_report(mnist_ready, tmp_path, capsys):
    """What an older version left on a full disk: a 0-byte images/epoch_002.png."""
    cfg = tiny_cfg()
    run = gh.start_run(cfg, "e", str(tmp_path), "r")
    gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    (run.images_dir / "epoch_002.png").write_bytes(b"")
    gh.show_run(run.path, show_gif=False)
    report = gh.report(run.path).read_text()
    assert "epoch_002.png" not in report and "epoch_001.png" in report
    assert "Passing over" in capsys.readouterr().out


# ---- 11: a damaged training_metrics.json or hyperparameters.json ----------------------------------
@pytest.fixture
def two_runs(mnist_ready, tmp_path):
    """An experiment folder of two real finished runs, a and b."""
    cfg = tiny_cfg(epochs=1)
    for name in ("a", "b"):
        gh.train(cfg, gh.load_dataset(cfg), gh.start_run(cfg, "e", str(tmp_path), name), progress=False)
    return tmp_path / "e"


def cut(path):
    """The file cut to half, as a write interrupted by a full disk or a disconnect leaves it."""
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    return path


def test_one_damaged_metrics_file_does_not_stop_the_report(two_runs, capsys):
    damaged = cut(two_runs / "b" / "training_metrics.json")
    assert report_main([str(two_runs)]) == 0
    text = (two_runs / "report.md").read_text()
    assert "Run `a`" in text and "Run `b`" in text
    assert f"{damaged} is damaged: it is not complete JSON" in text and "resume=True" in text
    with pytest.raises(ValueError, match=rf"{damaged} is damaged.*resume the run \(resume=True, run_name='b'"):
        gh.show_run(two_runs / "b", show_gif=False)


def test_a_damaged_hyperparameters_file_is_read_from_the_checkpoint(two_runs, capsys):
    """load_generator, resume and the report take the config the checkpoint holds."""
    info = cut(two_runs / "a" / "hyperparameters.json")
    assert isinstance(gh.load_generator(two_runs / "a"), torch.nn.Module)
    cfg = tiny_cfg(epochs=2)
    history = gh.train(cfg, gh.load_dataset(cfg), gh.start_run(cfg, "e", str(two_runs.parent), "a", resume=True),
                       progress=False)
    assert history["epoch"] == [1, 2] and json.loads(info.read_text())["config"]["epochs"] == 2
    cut(info)
    assert report_main([str(two_runs / "a")]) == 0
    assert "read from its newest checkpoint (epoch 2)" in (two_runs / "a" / "report.md").read_text()


# ---- 12: a damaged sweep status file ------------------------------------------------------------
def test_a_damaged_status_file_is_named_and_its_variant_counts_as_not_run(tmp_path, capsys):
    sweep_dir = tmp_path / "01-sweep"
    (sweep_dir / "status").mkdir(parents=True)
    status = sweep_dir / "status" / "lr_g-0.0001.json"
    status.write_text('{"variant": "lr_g-0.0001", "status": "fini')  # cut off mid-write
    result = sweep.summarise(sweep_dir, {"lr_g-0.0001": {"lr_g": 1e-4}})
    assert result.rows[0]["status"] == "not run"
    err = capsys.readouterr().err
    assert f"{status} is damaged: it is not complete JSON" in err and "a re-run runs it again" in err
    assert report_main([str(sweep_dir)]) == 0  # the report of the sweep goes on too


# ---- 13: an unsafe sweep --name --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "/tmp/elsewhere"])
def test_a_sweep_name_that_is_a_path_is_refused(name, tmp_path, capsys):
    out = tmp_path / "sweeps"
    assert sweep.main([NOTEBOOK, "--grid", "lr_g=1e-4", "--out", str(out), "--name", name]) == 2
    err = capsys.readouterr().err
    assert "must be a plain folder name" in err and "Put the location in --out" in err
    assert list(tmp_path.iterdir()) == []  # nothing written, inside --out or beside it


# ---- 14: a full-mode run resumed in quick mode -------------------------------------------------
def test_a_full_run_resumed_in_quick_mode_is_told_to_turn_quick_mode_off(mnist_ready, tmp_path, monkeypatch):
    params = dict(max_images=1024, batch_size=128, epochs=1, g_channels=[16, 8, 4], d_channels=[4, 8],
                  device="cpu", wandb_mode="disabled")
    monkeypatch.setenv("GAN_HELPERS_QUICK", "0")
    full = RunConfig.from_params(params)
    gh.train(full, gh.load_dataset(full), gh.start_run(full, "e", str(tmp_path), "r"), progress=False)
    monkeypatch.setenv("GAN_HELPERS_QUICK", "1")
    quick = RunConfig.from_params(params, quiet=True)
    with pytest.raises(ValueError, match=r"max_images: saved 1024, now 512.*Quick mode "
                                         r"\(GAN_HELPERS_QUICK=1\) shrinks these.*GAN_HELPERS_QUICK=0"):
        gh.train(quick, gh.load_dataset(quick), gh.start_run(quick, "e", str(tmp_path), "r", resume=True),
                 progress=False)
    monkeypatch.setenv("GAN_HELPERS_QUICK", "0")  # the advice, followed
    again = RunConfig.from_params(params)
    history = gh.train(again, gh.load_dataset(again), gh.start_run(again, "e", str(tmp_path), "r", resume=True),
                       progress=False)
    assert history["epoch"] == [1]


# ---- 15: run and experiment names no filesystem (or report link) takes -----------------------------
@pytest.mark.parametrize("what, name, said", [
    ("run_name", "r" * 300, "is 300 bytes long"),
    ("run_name", "run\x00one", "holds a control character \\(a newline"),
    ("run_name", "two\nlines", "holds a control character \\(a newline"),
    ("experiment", "e" * 300, "is 300 bytes long"),
], ids=["long-run", "nul", "newline", "long-experiment"])
def test_a_name_no_folder_can_have_is_refused_at_start_run(what, name, said, small_cfg, tmp_path):
    names = {"experiment": "e", "run_name": "r", what: name}
    with pytest.raises(ValueError, match=rf"{what}=.* {said}.*: it must be a plain folder name"):
        gh.start_run(small_cfg, names["experiment"], str(tmp_path), names["run_name"])
    assert list(tmp_path.iterdir()) == []
    gh.start_run(small_cfg, "e" * 200, str(tmp_path), "ü" * 100)  # 200 bytes: taken
