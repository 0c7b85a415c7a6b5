#!/usr/bin/env python
"""Plot detectron2 ``metrics.json`` files (one JSON object per line) as PNG curves.

    python tools/plot_metrics.py output/run_a/metrics.json --output curves.png
    python tools/plot_metrics.py output/a/metrics.json output/b/metrics.json \
        --labels baseline longer --smooth 20 --output plots/

Three groups of panels, one panel per key, every run overlaid in it (one colour per run, legend):

- losses: ``total_loss`` and every ``loss_*`` key; ``--smooth N`` draws the median of the last N
  logged values as a solid line over the raw values (faint);
- lr: ``lr``;
- metrics: evaluation results (``bbox/AP``, ``segm/AP50``, ``panoptic_seg/PQ``, ...): every key
  ``<task>/<name>`` except per-category rows (``bbox/AP-circle``) and detectron2's training
  statistics (``fast_rcnn/...``, ``rpn/...``, ...); ``--metrics PATTERN ...`` chooses the keys
  instead (shell-style patterns, e.g. ``'bbox/AP*'``).

The x axis is ``iteration``. A run is named by the folder of its file, or by ``--labels``.
``--output`` ending in ``.png`` writes one figure with every group; any other ``--output`` is a
folder that gets ``losses.png``, ``lr.png`` and ``metrics.png`` (groups without data are left
out). Lines that are not JSON objects (a run killed while writing) are skipped with a warning; a
later line for the same iteration and key replaces an earlier one (a resumed run).
"""

import argparse
import fnmatch
import json
import math
import os
import sys
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GROUPS = ("losses", "lr", "metrics")
NOT_PLOTTED = {"iteration", "data_time", "rank_data_time", "time", "eta_seconds"}
# detectron2's (and its heads') training statistics: "<prefix>/<name>" but not evaluation results
TRAINING_STAT_PREFIXES = (
    "fast_rcnn",
    "mask_rcnn",
    "roi_head",
    "rpn",
    "keypoint_head",
    "point",
    "[metric]",
)


def read_metrics(path):
    """``{key: {iteration: value}}`` of the numeric keys of a ``metrics.json`` file."""
    series = {}
    skipped = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if not isinstance(row, dict) or not isinstance(row.get("iteration"), (int, float)):
                skipped += 1
                continue
            it = row["iteration"]
            for key, value in row.items():
                if key in NOT_PLOTTED or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)):
                    series.setdefault(key, {})[it] = float(value)
    if skipped:
        print(f"{path}: skipped {skipped} line(s) that are not metrics rows", file=sys.stderr)
    return series


def group_of(key, metric_patterns=None):
    """``"losses"``, ``"lr"``, ``"metrics"`` or ``None`` (not plotted)."""
    if key == "total_loss" or key.startswith("loss_"):
        return "losses"
    if key == "lr":
        return "lr"
    if metric_patterns:
        return "metrics" if any(fnmatch.fnmatchcase(key, p) for p in metric_patterns) else None
    if "/" not in key:
        return None
    prefix, name = key.split("/", 1)
    if prefix.startswith(TRAINING_STAT_PREFIXES) or "-" in name:
        return None
    return "metrics"


def median_smooth(values, window):
    """Median of the last ``window`` values at each point (detectron2's ``median(window)``);
    non-finite values are left out of the windows."""
    out = []
    for i in range(len(values)):
        recent = sorted(v for v in values[max(0, i - window + 1) : i + 1] if math.isfinite(v))
        n = len(recent)
        if not n:
            out.append(float("nan"))
        elif n % 2:
            out.append(recent[n // 2])
        else:
            out.append((recent[n // 2 - 1] + recent[n // 2]) / 2)
    return out


def run_labels(paths, labels=None):
    if labels:
        if len(labels) != len(paths):
            raise SystemExit(f"--labels: {len(labels)} label(s) for {len(paths)} file(s)")
        return list(labels)
    names = [os.path.basename(os.path.dirname(os.path.abspath(p))) or p for p in paths]
    if len(set(names)) < len(names):  # same folder name: the folders' paths
        names = [os.path.relpath(os.path.dirname(os.path.abspath(p))) for p in paths]
    return names


def collect(runs, smooth=1, metric_patterns=None):
    """The plotted data: ``{group: {key: [(label, iterations, values, smoothed or None)]}}``,
    groups and keys in drawing order; ``runs`` is ``[(label, read_metrics(path))]``."""
    out = OrderedDict((g, {}) for g in GROUPS)
    for label, series in runs:
        for key in series:
            group = group_of(key, metric_patterns)
            if group is None:
                continue
            points = sorted(series[key].items())
            its = [it for it, _ in points]
            vals = [v for _, v in points]
            if not any(math.isfinite(v) for v in vals):  # e.g. AP of an absent area range
                continue
            smoothed = median_smooth(vals, smooth) if group == "losses" and smooth > 1 else None
            out[group].setdefault(key, []).append((label, its, vals, smoothed))
    for group, keys in out.items():
        first = ["total_loss"] if group == "losses" and "total_loss" in keys else []
        out[group] = OrderedDict((k, keys[k]) for k in first + sorted(set(keys) - set(first)))
    return OrderedDict((g, keys) for g, keys in out.items() if keys)


def plot_panels(panels, labels, smooth=1):
    """One figure with a grid of panels ``[(group, key, lines)]``; a colour per run label."""
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5.0 * ncols, 3.4 * nrows), squeeze=False, constrained_layout=True
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {label: colours[i % len(colours)] for i, label in enumerate(labels)}
    for ax, (group, key, lines) in zip(axes.flat, panels):
        for label, its, vals, smoothed in lines:
            if smoothed is None:
                marker = "o" if len(its) < 30 else None  # sparse (evaluations): show the points
                ax.plot(its, vals, color=colour[label], label=label, marker=marker, markersize=3)
            else:
                ax.plot(its, vals, color=colour[label], alpha=0.25, linewidth=0.8)
                ax.plot(its, smoothed, color=colour[label], label=label)
        smoothed = group == "losses" and smooth > 1
        ax.set_title(f"{key} (median of the last {smooth})" if smoothed else key)
        ax.set_xlabel("iteration")
        ax.grid(True, alpha=0.3)
        if group == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        if len(labels) > 1 or group == "losses":
            ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    return fig


def figures(data, labels, output, smooth=1):
    """``{png_path: figure}`` for ``collect``'s data: one figure at ``output`` (a ``.png``) or
    one per group in the folder ``output``."""
    if output.lower().endswith(".png"):
        panels = [(g, k, lines) for g, keys in data.items() for k, lines in keys.items()]
        return {output: plot_panels(panels, labels, smooth)}
    return {
        os.path.join(output, f"{group}.png"): plot_panels(
            [(group, k, lines) for k, lines in keys.items()], labels, smooth
        )
        for group, keys in data.items()
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="metrics.json files (or folders holding one)")
    parser.add_argument("--output", required=True, help="a .png file, or a folder")
    parser.add_argument("--labels", nargs="+", help="one run name per file (default: folders)")
    parser.add_argument("--smooth", type=int, default=1, help="median window for losses")
    parser.add_argument("--metrics", nargs="+", help="evaluation keys to plot (patterns)")
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args(argv)
    if args.smooth < 1:
        parser.error(f"--smooth must be >= 1 (got {args.smooth})")
    return args


def main(argv=None):
    args = parse_args(argv)
    paths = [os.path.join(f, "metrics.json") if os.path.isdir(f) else f for f in args.files]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise SystemExit(f"no such metrics file: {', '.join(missing)}")
    labels = run_labels(paths, args.labels)
    runs = list(zip(labels, (read_metrics(p) for p in paths)))
    data = collect(runs, smooth=args.smooth, metric_patterns=args.metrics)
    if not data:
        raise SystemExit(f"nothing to plot in {', '.join(paths)} (no loss, lr or metric keys)")
    written = []
    for path, fig in figures(data, labels, args.output, smooth=args.smooth).items():
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=args.dpi)
        plt.close(fig)
        written.append(path)
        print(path)
    return written


if __name__ == "__main__":
    main()
