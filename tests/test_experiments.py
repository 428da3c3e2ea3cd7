"""Several configs in one process: the augmentation lesson."""
import ast
import inspect
import json
from pathlib import Path

import pytest

import gan_helpers as gh
from image_samples import messy_folder  # noqa: F401 (a fixture)


def test_augmentation_lesson_trains_one_run_per_kind(messy_folder, tmp_path, monkeypatch, capsys):
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
    out = capsys.readouterr().out  # issue 36: a line as each run starts, not minutes of silence
    assert out.index("Training 'augment-flip'") < out.index("Training 'augment-rotate'") < out.index("augment='rotate'")


# ---- notebook 04's lessons ------------------------------------------------------------------
G_FIELDS = ("noise_dim", "point_depth", "preset", "g_input", "g_channels", "g_strides", "g_kernel",
            "g_refine", "g_norm", "g_activation", "upsample", "init", "image_size", "channels")


def differences(a, b):
    return {k for k, v in a.to_dict().items() if b.to_dict()[k] != v}


def test_the_toy_lesson_trains_one_generator_against_its_cures(monkeypatch):
    monkeypatch.delenv("GAN_HELPERS_QUICK", raising=False)
    configs = gh.toy_lesson_configs(seed=3)
    vanilla = configs["vanilla GAN"]
    assert (vanilla.lr_d, vanilla.lr_g, vanilla.batch_size) == (1e-4, 1e-3, 512)
    assert vanilla.precision == "fp32" and all(c.seed == 3 for c in configs.values())
    for label, cfg in configs.items():
        assert not differences(cfg, vanilla) & set(G_FIELDS), label  # the same G everywhere
        assert gh.LESSON_ROLES[label] == ("collapse" if label == "vanilla GAN" else "cure")
    assert differences(configs["PacGAN2"], vanilla) <= {"pack", "lr_decay"}
    assert configs["PacGAN2"].pack == 2 and configs["WGAN-GP"].loss == "wgan-gp"


def test_the_mnist_lesson_differs_only_in_the_discriminator(monkeypatch):
    monkeypatch.delenv("GAN_HELPERS_QUICK", raising=False)
    collapse, cure = gh.mnist_lesson_configs(seed=5).values()
    assert differences(collapse, cure) == {"d_channels"} and collapse.d_channels == [4, 8]
    assert cure.d_channels is None and collapse.seed == cure.seed == 5  # the tutorial's D
    g_small, d_small = gh.build_models(collapse)
    g_tutorial, d_tutorial = gh.build_models(cure)
    assert str(g_small) == str(g_tutorial)  # the same generator, layer for layer
    packed = gh.mnist_lesson_configs(pack=4)["small D"]
    assert packed.pack == 4 and differences(packed, collapse) == {"pack", "seed"}
    labels = list(gh.mnist_lesson_configs())
    assert [gh.LESSON_ROLES[k] for k in labels] == ["collapse", "cure"]
    monkeypatch.setenv("GAN_HELPERS_QUICK", "1")
    assert all(c.epochs <= 2 for c in gh.mnist_lesson_configs().values())


ROOT = Path(__file__).parents[1]


def form_defaults(notebook):
    """{field: value} of a notebook's parameters cell, as Colab's form shows them."""
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    cell = next("".join(c["source"]) for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    return {t.id: ast.literal_eval(node.value) for node in ast.parse(cell).body
            if isinstance(node, ast.Assign) for t in node.targets}


def test_notebook_04_form_defaults_are_the_lesson_functions_defaults():
    """The acceptance script runs the lesson functions at their defaults: the numbers it
    measures are the notebook's only if the notebook's form holds the same defaults."""
    form = form_defaults("04_mode_collapse_and_wgan_gp")
    for fn, names in ((gh.toy_lesson_configs, {"dataset": "toy_dataset", "epochs": "toy_epochs",
                                               "wgan_epochs": "toy_wgan_epochs", "seed": "seed"}),
                      (gh.mnist_lesson_configs, {"epochs": "epochs", "max_images": "max_images",
                                                 "batch_size": "batch_size", "seed": "seed",
                                                 "d_channels": "d_channels", "pack": "pack"})):
        defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()}
        for arg, field in names.items():
            default = list(defaults[arg]) if isinstance(defaults[arg], tuple) else defaults[arg]
            assert default == form[field], (fn.__name__, arg)


def test_notebook_06_form_defaults_are_the_lesson_functions_defaults():
    """The measured numbers (gan_helpers/lessons.py's claims, the notebook's text) are of
    gh.stacked_mnist_runs and gh.train_stacked_mnist at their defaults: the form must hold the same."""
    form = form_defaults("06_stacked_mnist_1000_modes")
    defaults = {k: p.default for k, p in inspect.signature(gh.stacked_mnist_runs).parameters.items()}
    for arg, field in (("seeds", "seeds"), ("steps", "steps"), ("widths", "d_widths"), ("fix_width", "fix_width"),
                       ("r1_gamma", "r1_gamma"), ("batch_size", "batch_size")):
        default = list(defaults[arg]) if isinstance(defaults[arg], tuple) else defaults[arg]
        assert default == form[field], arg
    assert inspect.signature(gh.train_stacked_mnist).parameters["samples"].default == form["samples"]


def test_stacked_runs_name_each_variant_and_seed_and_refuse_bad_seeds(monkeypatch):
    monkeypatch.delenv("GAN_HELPERS_QUICK", raising=False)
    runs = gh.stacked_mnist_runs(seeds=[3, 4], steps=4000, widths=[2, 8], fix_width=2)
    assert list(runs) == [f"{v}_seed-{s}" for s in (3, 4) for v in ("dcgan_d2", "dcgan_d8", "pacgan2_d2",
                                                                         "rpgan_r1r2_d2")]
    variant, seed, cfg = runs["rpgan_r1r2_d2_seed-4"]
    assert (variant, seed, cfg.seed, cfg.loss, cfg.d_channels, cfg.pack) == ("rpgan_r1r2_d2", 4, 4, "rpgan", [2, 4, 8], 1)
    assert runs["pacgan2_d2_seed-3"][2].pack == 2 and runs["dcgan_d8_seed-3"][2].d_channels == [8, 16, 32]
    assert all(c.epochs == 2 and c.preset == "unrolled_gan" for _, _, c in runs.values())  # 4,000 steps of 2,000
    monkeypatch.setenv("GAN_HELPERS_QUICK", "1")
    assert {s for _, s, _ in gh.stacked_mnist_runs(seeds=[3, 4]).values()} == {3}  # quick: the first seed
    for bad in (3, [], [1.5]):
        with pytest.raises(ValueError, match="list of whole numbers"):
            gh.stacked_mnist_runs(seeds=bad)
    with pytest.raises(ValueError, match="jobs=0"):
        gh.train_stacked_mnist({}, jobs=0)


def test_augmentation_lesson_counts_steps_and_measures_each_run(messy_folder, tmp_path, monkeypatch):
    """The lesson's budget is G steps, and each run records the own-image numbers (the rotate
    leak is read from edge_alignment), with the training side computed once for both."""
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = gh.RunConfig(dataset="folder", data_path=str(messy_folder), image_size=64, channels=3,
                       preset="dcgan64", g_channels=[64, 32, 16, 8], d_channels=[8, 16, 32, 64],
                       batch_size=8, device="cpu", precision="fp32", wandb_mode="disabled").validate()
    dirs = gh.train_augmentation_variants(cfg, gh.load_dataset(cfg), ("flip", "rotate"), steps=500,
                                          experiment="lesson", output_dir=tmp_path)
    for d in dirs:
        info = json.loads((d / "hyperparameters.json").read_text())
        assert info["config"]["on_divergence"] == "warn"  # both runs reach their end
        history = json.loads((d / "training_metrics.json").read_text())
        assert len([v for v in history["edge_alignment"] if v is not None]) == 2  # quick: 2 epochs
    trains = {json.loads((d / "training_metrics.json").read_text())["edge_alignment_train"][0] for d in dirs}
    assert len(trains) == 1


def test_stacked_runs_that_finished_are_read_back_not_trained_again(mnist_ready, tmp_path, monkeypatch, capsys):
    """Run All again (or the acceptance script on the notebook's folder) reuses each finished run,
    whatever W&B mode it was logged with; the rows, summary.json and the claims read the same."""
    monkeypatch.setenv("GAN_HELPERS_QUICK", "1")
    runs = {k: v for k, v in gh.stacked_mnist_runs([7], widths=[2]).items() if k.startswith("dcgan")}
    first = gh.train_stacked_mnist(runs, experiment="lesson", output_dir=tmp_path, jobs=1)
    assert "1 runs (0 already finished)" in capsys.readouterr().out
    assert first[0]["status"] == "finished" and first[0]["params_D"] == 557 and first[0]["g_steps"] > 0
    offline = {k: (v, s, c.replace(wandb_mode="offline")) for k, (v, s, c) in runs.items()}
    again = gh.train_stacked_mnist(offline, experiment="lesson", output_dir=tmp_path, jobs=1)
    assert "1 runs (1 already finished)" in capsys.readouterr().out
    assert again == first == json.loads((tmp_path / "lesson" / "summary.json").read_text())
    assert sorted(p.name for p in (tmp_path / "lesson").iterdir()) == ["dcgan_d2_seed-7", "summary.json"]
