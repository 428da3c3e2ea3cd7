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


def test_the_strip_and_neighbour_plots_show_one_image_per_axis():
    images = torch.rand(10, 1, 28, 28) * 2 - 1
    fig = gh.plot_image_strip(images, labels=[f"t={t / 9:.1f}" for t in range(10)], show=False)
    assert sum(len(ax.images) for ax in fig.axes) == 10
    from gan_helpers.metrics import nearest_neighbours
    data = (images[:6] + 1).mul(127.5).round().byte()
    nn = nearest_neighbours(images[6:], data)
    fig = gh.plot_nearest_neighbours(images[6:], nn, show=False)
    assert sum(len(ax.images) for ax in fig.axes) == 8  # 4 samples over their 4 neighbours
    assert all(ax.get_xlabel().startswith("L2 ") for ax in fig.axes[4:])


def test_the_loss_plot_draws_every_step_under_the_epoch_means():
    history = {"epoch": [1, 2], "d_loss": [1.0, 2.0], "g_loss": [3.0, 4.0],
               "step_d_loss": [[0.5, 1.5], [2.0, 2.0]], "step_g_loss": [[3.0, 3.0], [4.0, 4.0]]}
    ax = gh.plot_losses(history, show=False).axes[0]
    steps = [line for line in ax.lines if "each step" in line.get_label()]
    assert [list(line.get_xdata()) for line in steps] == [[0.5, 1.0, 1.5, 2.0]] * 2
    old = {k: history[k] for k in ("epoch", "d_loss", "g_loss")}  # a run from before: means only
    assert len(gh.plot_losses(old, show=False).axes[0].lines) == 2


def test_the_latent_slider_falls_back_to_a_figure_without_a_notebook():
    import matplotlib.pyplot as plt
    g, _ = gh.build_models(gh.RunConfig().validate())
    before = set(plt.get_fignums())
    assert gh.latent_slider(g, n=3, span=2.0) is None  # shown, not returned (shown once)
    new = [plt.figure(n) for n in set(plt.get_fignums()) - before]  # pytest has no kernel: static
    assert len(new) == 1 and "alpha -2 (top) to +2 (bottom)" in new[0].axes[0].get_title()


def _tick_values(ax):
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


def test_epoch_axes_have_whole_number_ticks():
    """2 or 6 epochs used to get ticks 1.25, 1.75 ... or 5.2, 5.4: epochs are whole numbers."""
    import matplotlib.pyplot as plt
    for n in (2, 3, 6, 25):
        history = {"epoch": list(range(1, n + 1)), "d_loss": [1.0] * n, "g_loss": [0.5] * n,
                   "d_real": [0.6] * n, "d_fake": [0.4] * n, "epoch_seconds": [1.0] * n,
                   "fid": [None] * (n - 1) + [3.0]}
        figs = [viz.plot_losses(history, show=False), viz.plot_epoch_times(history, show=False),
                viz.plot_metric({"a": history}, "fid", show=False)]
        for fig in figs:
            ticks = _tick_values(fig.axes[0])
            assert ticks and all(float(t).is_integer() for t in ticks), (n, ticks)
            labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
            assert all(label.lstrip("−-").isdigit() for label in labels), labels
            plt.close(fig)


def test_comparison_figure_has_whole_number_epoch_ticks(tmp_path):
    from gan_helpers.compare import plot_comparison
    history = {"epoch": [1, 2], "d_loss": [1.0, 0.9], "g_loss": [0.7, 0.8]}
    fig = plot_comparison([tmp_path, tmp_path], ["a", "b"], [history, history], show=False)
    for ax in fig.axes[:2]:
        ticks = _tick_values(ax)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_headless_executions_get_each_static_figure_once(tmp_path):
    """A kernel run by nbclient (papermill, nbmake) has no front end to draw a widget: the
    executed notebook holds the static figure, once, and no widget state."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import gan_helpers as gh\n"
        "G, _ = gh.build_models(gh.RunConfig().validate())\n"
        "gh.latent_slider(G, n=3, span=2.0)")]  # no semicolon: the return value is not shown twice
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    import os
    inline = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # a notebook's own backend
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute(env=inline)
    outputs = nb.cells[0].outputs
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 1, outputs
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
