"""The checkerboard lesson's tools: overlap patterns, spectra, and the plots on real run folders."""
import matplotlib
import pytest
import torch

import gan_helpers as gh
from gan_helpers import viz


@pytest.mark.parametrize("kernel, stride, upsample, uneven", [
    (5, 2, "transposed", True), (3, 2, "transposed", True), (5, 4, "transposed", True),
    (4, 2, "transposed", False), (8, 2, "transposed", False), (2, 2, "transposed", False),
    (5, 2, "nearest", False), (3, 2, "bilinear", False),
])
def test_overlap_is_uneven_exactly_when_the_stride_does_not_divide_the_kernel(kernel, stride,
                                                                             upsample, uneven):
    pattern = viz.overlap_pattern(kernel, stride, upsample)
    assert pattern.numel() > 0
    assert bool(pattern.max() > pattern.min()) == uneven


def test_kernel_5_stride_2_paints_4_6_9():
    pattern = viz.overlap_pattern(5, 2)
    assert set(pattern.unique().tolist()) == {4.0, 6.0, 9.0}
    # period 2 in both directions: a checkerboard
    assert torch.equal(pattern[:-2, :-2], pattern[2:, 2:])


def test_a_checkerboard_shows_as_a_spike_at_the_highest_frequency():
    smooth = torch.linspace(-1, 1, 28).view(1, 1, 1, 28).expand(8, 1, 28, 28).clone()
    board = smooth + 0.3 * (torch.arange(28).view(1, 28) % 2 * 2 - 1).float()  # columns alternate
    spec_smooth, spec_board = viz.spectrum(smooth), viz.spectrum(board)
    assert spec_board.shape == (28, 28)
    nyquist = (14, 0)  # fftshift puts the alternate-column frequency at the left edge, middle row
    assert spec_board[nyquist] > spec_smooth[nyquist] + 1.0


def test_the_lesson_plots_take_tensors_and_run_folders(mnist_ready, small_cfg, tmp_path):
    run = gh.start_run(small_cfg.replace(wandb_mode="disabled"), "x", str(tmp_path))
    gh.train(small_cfg.replace(wandb_mode="disabled"), gh.load_dataset(small_cfg), run,
             progress=False)
    samples = viz.samples_of(run.path, n=5)
    assert samples.shape == (5, 1, 28, 28) and samples.abs().max() <= 1
    tensors = torch.rand(4, 1, 28, 28) * 2 - 1
    fig = viz.show_zoomed_crops({"run": run.path, "tensor": tensors}, crop=10, show=False,
                                save_to=tmp_path / "crops.png")
    assert isinstance(fig, matplotlib.figure.Figure) and (tmp_path / "crops.png").stat().st_size
    viz.plot_spectra({"run": run.path, "tensor": tensors}, show=False, save_to=tmp_path / "s.png")
    viz.plot_overlap_patterns({"5/2": (5, 2, "transposed"), "nearest": (5, 2, "nearest")},
                              show=False, save_to=tmp_path / "o.png")
    assert (tmp_path / "s.png").stat().st_size and (tmp_path / "o.png").stat().st_size
