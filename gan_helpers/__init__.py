"""gan_helpers: everything the GAN Lab notebooks call, so a notebook reads as the experiment.

    cfg = RunConfig.from_params(globals())      # the parameters cell -> a checked config
    data = load_dataset(cfg)                     # uint8 tensor, on the device at train time
    g, d = build_models(cfg)                     # from a named preset + overrides
    run = start_run(cfg, experiment, output_dir) # run folder + W&B (never prompts)
    history = train(cfg, data, run, models=(g, d))
"""
import warnings

from . import colab, image_folder, metrics
from .config import RunConfig, quick_mode
from .data import load_dataset
from .models import PRESETS, build_models, describe_models
from .report import report

# `python -m gan_helpers.report` runs the module this package already imported (for gh.report):
# harmless, and runpy's warning about it would only puzzle a student.
warnings.filterwarnings("ignore", message="'gan_helpers.report' found in sys.modules",
                        category=RuntimeWarning)
from .tracking import Run
from .train import DivergenceError, generate, train
from .viz import (plot_d_outputs, plot_epoch_times, plot_losses, show_augmentations, show_images,
                  show_metrics,
                  show_run)

__version__ = "0.1.0"


def start_run(cfg, experiment="experiment", output_dir="outputs", run_name="", resume=False,
              use_drive=False):
    """A run folder under output_dir/experiment (created when training starts); on Colab
    with use_drive=True it lives on Google Drive so a disconnect keeps the checkpoints."""
    # papermill's `-p run_name 123` arrives as a number: names are text, whatever was typed
    experiment, output_dir = str(experiment), str(output_dir)
    run_name = "" if run_name is None else str(run_name)
    return Run(cfg, experiment, colab.output_root(output_dir, use_drive), run_name, resume)
