"""Each lesson's claims as data: the sentences a notebook says about its own grid, each naming
two variants, a metric and a direction, checked seed by seed.

A lesson's grid is its notebook's parameters cell (the variants, `sets` and `seeds` a student
sees and edits); its claims are here. The notebook checks them on the runs it just made
(`gh.check_claims`), and `data_scripts/lesson_acceptance.py` runs the same grid on any seeds and
checks them again: a claim "holds" only when it holds on every seed.
"""
import statistics
from dataclasses import asdict, dataclass

from .compare import format_table


@dataclass(frozen=True)
class Claim:
    text: str       # the sentence the notebook says
    a: str          # a variant of the lesson's grid
    b: str          # the variant it is compared with
    metric: str     # a column of the sweep's rows: fid, class_coverage, checkerboard, s_per_step, ...
    direction: str  # ">": a's value above b's on every seed; "<": below


CLAIMS = {
    # Measured at notebook 02's defaults on seeds 1, 2, 3 (docs/results/02_architecture_variations)
    "02_architecture_variations": (
        Claim("ReLU instead of LeakyReLU in D (dropout kept), which the Fashion-MNIST and D&D-maps report "
              "called worse practice, gives a lower FID at this budget", "relu_dropout_d", "tf_tutorial", "fid", "<"),
        Claim("ReLU in D also spreads the samples more evenly over the ten digits", "relu_dropout_d",
              "tf_tutorial", "class_kl", "<"),
        Claim("Smaller kernels alone (3x3 for 5x5, the same depth and widths) give a higher FID", "kernel3",
              "tf_tutorial", "fid", ">"),
        Claim("Smaller kernels alone take less time per G step", "kernel3", "tf_tutorial", "s_per_step", "<"),
        Claim("The deeper 3x3 net takes longer per G step than the baseline, with fewer FLOPs (the TF-tutorial "
              "variations report expected 'increased training time')", "deeper_3x3", "tf_tutorial", "s_per_step", ">"),
        Claim("Kernel 8 (the abstract-art report's) takes longer per G step", "kernel8_stride1_2", "tf_tutorial",
              "s_per_step", ">"),
        Claim("With nearest upsampling G's loss hardly moves from step to step: the game has barely started",
              "nearest_upsample", "tf_tutorial", "g_loss_jitter", "<"),
    ),
    # Measured at notebook 03's defaults on seeds 1, 2, 3 (docs/results/03_hyperparameter_tuning)
    "03_hyperparameter_tuning": (
        Claim("RMSProp at 1e-4, which gave the CelebA report 'less defined' faces than Adam, gives a lower FID "
              "than Adam at 2e-4 here", "rmsprop", "baseline", "fid", "<"),
        Claim("The abstract-art report's lower learning rate, 1e-5, has not learned the digits in this budget: "
              "a far higher FID", "lr_1e-5", "baseline", "fid", ">"),
        Claim("Batch 256 at an equal number of images (a quarter of the G steps) gives a higher FID",
              "batch_256", "baseline", "fid", ">"),
        Claim("Batch 64 is 'jumpy', as the abstract-art report said: G's loss moves more from step to step than "
              "at batch 256", "batch_256", "baseline", "g_loss_jitter", "<"),
        Claim("A D learning rate twice G's makes G's loss jumpier", "lr_d_4e-4", "baseline", "g_loss_jitter", ">"),
        Claim("Sampling from an average of G's weights (EMA, decay 0.99) gives a lower FID than the same run's "
              "last weights", "ema_0.99", "baseline", "fid", "<"),
        Claim("The averaged G's samples also carry less checkerboard power", "ema_0.99", "baseline",
              "checkerboard", "<"),
    ),
    # Measured at notebook 06's defaults on seeds 1 and 2 (docs/results/06_stacked_mnist_1000_modes) and
    # checked on seed 3 (docs/acceptance/06_*_seed_3.json). Not claims: w = 8 against w = 4 (w = 8 collapsed
    # to 20 modes on seeds 1 and 3), and w = 16 against w = 4, which held on seeds 1 and 2 and failed on seed 3
    "06_stacked_mnist_1000_modes": (
        Claim("A D twice as wide (w = 4 against 2) covers more of the 1,000 modes", "dcgan_d4", "dcgan_d2",
              "stacked_modes", ">"),
        Claim("The widest D (w = 16) covers more modes than the narrowest (w = 2)", "dcgan_d16", "dcgan_d2",
              "stacked_modes", ">"),
        Claim("Packing (PacDCGAN2) covers more modes than DCGAN with the same narrow D (w = 2)", "pacgan2_d2",
              "dcgan_d2", "stacked_modes", ">"),
        Claim("Packing's samples are more often readable than DCGAN's with the same narrow D", "pacgan2_d2",
              "dcgan_d2", "stacked_readable", ">"),
    ),
}


def lesson_claims(lesson):
    """The claims of a lesson (its notebook's name, with or without .ipynb)."""
    name = str(lesson).rsplit("/", 1)[-1].removesuffix(".ipynb")
    if name not in CLAIMS:
        raise ValueError(f"no claims for {lesson!r}: lessons with claims are {', '.join(CLAIMS)}.")
    return CLAIMS[name]


def seed_values(rows, metrics):
    """A sweep's rows -> {variant: {seed: {metric: value}}} of its finished runs, with each run's
    training seconds and G steps."""
    values = {}
    for row in rows:
        if row.get("status") != "finished" or row.get("seed") is None:
            continue
        numbers = {m: row[m] for m in metrics if row.get(m) is not None}
        if row.get("g_steps"):
            numbers.update(seconds=row["s_per_step"] * row["g_steps"], g_steps=row["g_steps"])
        values.setdefault(row["variant"], {})[row["seed"]] = numbers
    return values


def check_claim(claim, values):
    """One claim against {variant: {seed: {metric: value}}}: each seed's pair of values, their
    means and spreads, and whether it holds on every seed that ran both variants."""
    a, b = values.get(claim.a, {}), values.get(claim.b, {})
    seeds = sorted(s for s in a if s in b and claim.metric in a[s] and claim.metric in b[s])
    pairs = {s: [a[s][claim.metric], b[s][claim.metric]] for s in seeds}
    holds = [(x > y) if claim.direction == ">" else (x < y) for x, y in pairs.values()]
    spread = (lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0)
    return {**asdict(claim), "per_seed": pairs,
            "mean": [statistics.fmean(p[i] for p in pairs.values()) for i in (0, 1)] if pairs else None,
            "spread": [spread([p[i] for p in pairs.values()]) for i in (0, 1)] if pairs else None,
            "holds": bool(holds) and all(holds), "seeds_holding": sum(holds), "seeds": len(holds)}


def check_claims(lesson, rows):
    """Every claim of `lesson` checked on a sweep's rows (`result.rows`)."""
    claims = lesson_claims(lesson)
    values = seed_values(rows, {c.metric for c in claims})
    return [check_claim(c, values) for c in claims]


def claims_table(checked):
    """The checked claims as a markdown table: the sentence, each seed's values, the means and
    spreads, and the verdict."""
    def pair(p):
        return f"{p[0]:.3g} vs {p[1]:.3g}"

    rows = [{"claim": c["text"], "metric": c["metric"],
             "per seed (a vs b)": "; ".join(f"{s}: {pair(p)}" for s, p in c["per_seed"].items()),
             "mean ± spread": "" if not c["mean"] else
             f"{c['mean'][0]:.3g} ± {c['spread'][0]:.2g} vs {c['mean'][1]:.3g} ± {c['spread'][1]:.2g}",
             "verdict": verdict_text(c)} for c in checked]
    return format_table(rows)


def verdict_text(c):
    if not c["seeds"]:
        return "not run"
    if c["holds"]:
        return "holds on every seed" if c["seeds"] > 1 else "holds on its one seed"
    if c["seeds"] == 1:
        return "does not hold on its one seed"
    return f"split: holds on {c['seeds_holding']} of {c['seeds']} seeds" if c["seeds_holding"] else \
        "does not hold on any seed"
