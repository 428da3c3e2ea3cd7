"""gan_helpers: everything the GAN Lab notebooks call, so a notebook reads as the experiment.

    cfg = RunConfig.from_params(globals())      # the parameters cell -> a checked config
    data = load_dataset(cfg)                     # uint8 tensor, on the device at train time
    g, d = build_models(cfg)                     # from a named preset + overrides
    run = start_run(cfg, experiment, output_dir) # run folder + W&B (never prompts)
    history = train(cfg, data, run, models=(g, d))

Notebooks call only the names below (`gh.X`); docs/PACKAGE.md shows which module holds what.
"""
import warnings

from . import env, image_folder, metrics
from .callbacks import CollapseDetector, FolderMetrics, PointSnapshots, quality_callbacks
from .compare import compare_runs, format_table, plot_capacity, plot_stacked_samples
from .config import PRESETS, RunConfig
from .data import load_dataset
from .describe import architecture_table, describe_models
from .env import after_parameters, gpu_report, memory_report, quick_mode
from .experiments import (LESSON_ROLES, mnist_lesson_configs, results_table, run_configs,
                          stacked_mnist_runs, stacked_table, toy_lesson_configs,
                          train_augmentation_variants, train_mnist_lesson, train_stacked_mnist,
                          train_variants)
from .image_folder import folder_or_demo, skipped_files
from .lessons import check_claims, claims_table
from .metrics import (class_histogram, critic_grad_norms, fid_samples, folder_metrics,
                      image_metrics, nearest_neighbours, stacked_modes)
from .models import build_models, generate, interpolate
from .report import report
from .runs import Run, load_generator, samples_of, show_run, start_run
from .sweep import run_sweep
from .toy import mode_centers
from .train import DivergenceError, show_training_step
from .live import LiveView, train  # the loop with its live view in a notebook
from .viz import (plot_class_histograms, plot_critic_grad_norms, plot_d_outputs, plot_epoch_times,
                  plot_image_strip, plot_layer_grad_norms, plot_losses, plot_metric,
                  plot_nearest_neighbours, plot_overlap_patterns,
                  plot_points, plot_spectra, plot_wasserstein, show_augmentations, show_images,
                  show_metrics, show_zoomed_crops)
from .widgets import latent_slider, snapshot_player, snapshot_strip

# `python -m gan_helpers.report` runs the module this package already imported (for gh.report):
# harmless, and runpy's warning about it would only puzzle a student.
warnings.filterwarnings("ignore", message="'gan_helpers.(report|image_folder)' found in sys.modules",
                        category=RuntimeWarning)

__version__ = "0.1.0"
