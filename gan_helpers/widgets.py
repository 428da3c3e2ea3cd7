"""A GAN-Lab-style player: step through training snapshots (samples over the critic's
landscape) with a slider and a play button.

ipywidgets is imported only when a player is made; where widgets cannot render (no
ipywidgets, no notebook front end, or static=True), `snapshot_player` draws a static strip
of snapshots instead so the lesson still reads.
"""
import matplotlib.pyplot as plt

from . import viz


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


def _widgets_available():
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def snapshot_player(runs, real=None, static=False, interval_ms=400):
    """Player over the snapshots of one or more 2D runs side by side ({label: snapshots} or
    {label: result with .snapshots}); all runs must share the snapshot epochs. Returns the
    widget, or the static figure when widgets cannot render."""
    runs = {k: getattr(v, "snapshots", v) for k, v in runs.items()}
    lengths = {len(s) for s in runs.values()}
    if not runs or 0 in lengths:
        raise ValueError("no snapshots to play: train with gan_helpers.train_variants.")
    if static or not _widgets_available():
        figs = [snapshot_strip(s, real=real, title=label) for label, s in runs.items()]
        return figs[-1]
    import ipywidgets as W
    from IPython.display import display

    n = min(lengths)
    out = W.Output()
    play = W.Play(min=0, max=n - 1, step=1, interval=interval_ms, description="play")
    slider = W.IntSlider(min=0, max=n - 1, step=1, description="snapshot", continuous_update=True)
    W.link((play, "value"), (slider, "value"))  # kernel-side link: Colab's widget manager breaks jslink
    label = W.Label()

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
    box = W.VBox([W.HBox([play, slider, label]), out])
    draw()
    display(box)
    return box
