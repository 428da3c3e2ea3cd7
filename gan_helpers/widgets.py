"""A GAN-Lab-style player: step through training snapshots (samples over the critic's
landscape) with a slider and a play button; and a slider that walks G's samples along one
direction of the latent space.

ipywidgets is imported only when a widget is made; where widgets cannot render (no
ipywidgets, no notebook front end, or static=True), each draws a static figure instead so
the lesson still reads.
"""
import os
import time

import matplotlib.pyplot as plt
import psutil
import torch

from . import viz
from .env import in_notebook
from .models import latent_walk


def snapshot_strip(snapshots, real=None, n=6, title="", show=True, save_to=None):
    """Static fallback: n evenly spaced snapshots side by side (first and last included)."""
    if not snapshots:
        raise ValueError("no snapshots to show: train with a PointSnapshots callback "
                         "(gan_helpers.train_variants adds one).")
    n = min(n, len(snapshots))
    picks = [snapshots[round(i * (len(snapshots) - 1) / max(n - 1, 1))] for i in range(n)]
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), squeeze=False)
    for ax, snap in zip(axes[0], picks):
        viz.plot_point_snapshot(snap, real=real, ax=ax, show=False)
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return viz.finish(fig, save_to, show)


# The programs that run a notebook with no one looking (no front end to draw a widget): their
# executed notebooks would hold only widget state, so they get the static figure instead.
HEADLESS_RUNNERS = ("papermill", "nbclient", "nbconvert", "nbmake", "pytest")


def _widgets_available():
    """A kernel with a front end that draws widgets (Jupyter, Colab): not plain Python, not a
    kernel started by papermill, nbmake or nbconvert (its parent process, or the program that
    started a pytest-xdist worker), and not when GAN_HELPERS_STATIC=1 asks for the static figures."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    if not in_notebook():
        return False
    if os.environ.get("GAN_HELPERS_STATIC", "").strip() not in ("", "0"):
        return False
    try:  # the parent's program: `papermill ...`, `python -m papermill ...`, `.../bin/pytest ...`
        parent = psutil.Process().parent()
        while "-c" in parent.cmdline()[1:3]:  # an inline program (a pytest-xdist worker): its parent's
            parent = parent.parent()
        words = parent.cmdline()[:3]
    except (psutil.Error, AttributeError):  # no parent to ask: assume someone is looking
        return True
    names = [os.path.basename(w).lower() for w in words]
    return not any(name.startswith(runner) for name in names for runner in HEADLESS_RUNNERS)


def snapshot_player(runs, real=None, static=False, interval_ms=400):
    """Player over the snapshots of one or more 2D runs side by side ({label: snapshots} or
    {label: result with .snapshots}); all runs must share the snapshot epochs. Shows the
    widget, or the static strips when widgets cannot render, and returns nothing: a returned
    widget or figure at the end of a cell would be shown a second time."""
    runs = {k: getattr(v, "snapshots", v) for k, v in runs.items()}
    lengths = {len(s) for s in runs.values()}
    if not runs or 0 in lengths:
        raise ValueError("no snapshots to play: train with gan_helpers.train_variants.")
    if static or not _widgets_available():
        for label, s in runs.items():
            snapshot_strip(s, real=real, title=label)
        return None
    import ipywidgets as W
    from IPython.display import display

    n = min(lengths)
    out = W.Output()
    # A text button, not ipywidgets' Play: its icons come from FontAwesome, which Colab's
    # widget manager does not load (the buttons show blank there)
    play = W.Button(description="Play \u25b6", tooltip="play the snapshots from here to the end")
    slider = W.IntSlider(min=0, max=n - 1, step=1, description="snapshot", continuous_update=True)
    label = W.Label()

    def run(button=None):  # in the kernel, so it works wherever the slider does
        start = 0 if slider.value == n - 1 else slider.value
        for i in range(start, n):
            slider.value = i
            time.sleep(interval_ms / 1000)

    def draw(change=None):
        i = slider.value
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.8), squeeze=False)
            for ax, (name, snaps) in zip(axes[0], runs.items()):
                snap = snaps[i]
                viz.plot_point_snapshot(snap, real=real, ax=ax, show=False,
                                        title=f"{name}\nepoch {snap['epoch']}")
            fig.tight_layout()
            plt.show()
        label.value = f"epoch {next(iter(runs.values()))[i]['epoch']}"

    slider.observe(draw, names="value")
    play.on_click(run)
    box = W.VBox([W.HBox([play, slider, label]), out])
    draw()
    display(box)
    return None


def latent_walk_figure(g, n=8, seed=0, direction_seed=1, span=3.0, rows=5, show=True):
    """Static fallback: rows of G(z + alpha * d) for alpha from -span (top) to +span (bottom);
    each column one noise vector z, every row moved by the same amount along d."""
    alphas = torch.linspace(-span, span, rows).tolist()
    images = latent_walk(g, n, seed, direction_seed, alphas)
    return viz.show_images(images.flatten(0, 1), nrow=n, show=show,
                           title=f"Walking along one latent direction: alpha {alphas[0]:+g} (top) "
                                 f"to {alphas[-1]:+g} (bottom)")


def latent_slider(g, n=8, seed=0, direction_seed=1, span=3.0, static=False):
    """A slider for alpha: G(z + alpha * d) for n noise vectors z and one random unit direction d
    (pick another with direction_seed). Shows the widget, or the static figure
    (`latent_walk_figure`) when widgets cannot render, and returns nothing (so it is shown
    once, whether or not the cell ends with a semicolon)."""
    if static or not _widgets_available():
        latent_walk_figure(g, n, seed, direction_seed, span)
        return None
    import ipywidgets as W
    from IPython.display import display

    out = W.Output()
    slider = W.FloatSlider(value=0.0, min=-span, max=span, step=span / 10, description="alpha",
                           continuous_update=False)

    def draw(change=None):
        with out:
            out.clear_output(wait=True)
            images = latent_walk(g, n, seed, direction_seed, [slider.value])[0]
            viz.show_images(images, nrow=n, title=f"G(z + {slider.value:+.1f} d)")

    slider.observe(draw, names="value")
    box = W.VBox([slider, out])
    draw()
    display(box)
    return None
