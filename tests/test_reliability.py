"""Issue 42: nothing a student types or a full disk does crashes the runtime, corrupts a file or
hides behind a traceback. Real files throughout: a truncated copy of the real MNIST, a real 16-bit
PNG, a real full filesystem (a 3 MB tmpfs) where this machine lets us mount one."""
import pytest
import torch

import gan_helpers as gh
from gan_helpers import RunConfig


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
