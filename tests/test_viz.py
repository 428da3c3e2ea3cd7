"""Figures from tensors: spectra, crops and overlap patterns, on samples of real run folders."""
import matplotlib
import torch

import gan_helpers as gh
from gan_helpers import viz


def test_a_checkerboard_shows_as_a_spike_at_the_highest_frequency():
    smooth = torch.linspace(-1, 1, 28).view(1, 1, 1, 28).expand(8, 1, 28, 28).clone()
    board = smooth + 0.3 * (torch.arange(28).view(1, 28) % 2 * 2 - 1).float()  # columns alternate
    spec_smooth, spec_board = viz.spectrum(smooth), viz.spectrum(board)
    assert spec_board.shape == (28, 28)
    nyquist = (14, 0)  # fftshift puts the alternate-column frequency at the left edge, middle row
    assert spec_board[nyquist] > spec_smooth[nyquist] + 1.0


def test_the_lesson_plots_take_tensors_and_samples_of_run_folders(mnist_ready, small_cfg, tmp_path):
    run = gh.start_run(small_cfg.replace(wandb_mode="disabled"), "x", str(tmp_path))
    gh.train(small_cfg.replace(wandb_mode="disabled"), gh.load_dataset(small_cfg), run,
             progress=False)
    samples = gh.samples_of(run.path, n=5)
    assert samples.shape == (5, 1, 28, 28) and samples.abs().max() <= 1
    tensors = torch.rand(4, 1, 28, 28) * 2 - 1
    assert gh.samples_of(tensors) is tensors
    fig = viz.show_zoomed_crops({"run": gh.samples_of(run.path, n=3), "tensor": tensors}, crop=10,
                                show=False, save_to=tmp_path / "crops.png")
    assert isinstance(fig, matplotlib.figure.Figure) and (tmp_path / "crops.png").stat().st_size
    viz.plot_spectra({"run": gh.samples_of(run.path), "tensor": tensors}, show=False,
                     save_to=tmp_path / "s.png")
    viz.plot_overlap_patterns({"5/2": (5, 2, "transposed"), "nearest": (5, 2, "nearest")},
                              show=False, save_to=tmp_path / "o.png")
    assert (tmp_path / "s.png").stat().st_size and (tmp_path / "o.png").stat().st_size
