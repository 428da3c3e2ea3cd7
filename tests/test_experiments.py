"""Several configs in one process: the augmentation lesson."""
import json

import pytest

import gan_helpers as gh
from image_samples import messy_folder  # noqa: F401 (a fixture)


def test_augmentation_lesson_trains_one_run_per_kind(messy_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = gh.RunConfig(dataset="folder", data_path=str(messy_folder), image_size=64, channels=3,
                       preset="dcgan64", batch_size=8, epochs=20, device="cpu",
                       wandb_mode="disabled").validate()
    dirs = gh.train_augmentation_variants(cfg, gh.load_dataset(cfg), ("flip", "rotate"),
                                               epochs=20, experiment="lesson", output_dir=tmp_path)
    assert [d.name for d in dirs] == ["augment-flip", "augment-rotate"]
    for d, kind in zip(dirs, ("flip", "rotate")):
        info = json.loads((d / "hyperparameters.json").read_text())
        assert info["config"]["augment"] == kind and info["config"]["epochs"] == 2  # quick mode
        assert (d / "images" / "epoch_002.png").is_file()
