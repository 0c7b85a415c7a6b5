"""tools/plot_metrics.py: metrics.json files -> PNG curves, the plotted data equal to the input."""

import json
import math

import pytest
from PIL import Image

from tests.tool_scripts import load_tool


def _write_run(folder, scale):
    folder.mkdir(parents=True)
    rows, expected = [], {"total_loss": {}, "loss_cls": {}, "lr": {}, "bbox/AP": {}}
    for it in range(19, 200, 20):
        row = {
            "iteration": it,
            "total_loss": scale * 2.0 / (it + 1) + 0.1,
            "loss_cls": scale / (it + 1),
            "lr": 0.01 * min(1.0, (it + 1) / 60),
            "data_time": 0.01,
            "fast_rcnn/cls_accuracy": 0.5,  # training statistic: not plotted
        }
        rows.append(json.dumps(row))
        for key in ("total_loss", "loss_cls", "lr"):
            expected[key][it] = row[key]
        if (it + 1) % 100 == 0:
            ev = {"iteration": it, "bbox/AP": 10.0 * scale * (it + 1) / 100, "bbox/AP-circle": 1.0}
            ev["bbox/APl"] = float("nan")  # no object of that size: not plotted
            rows.append(json.dumps(ev))
            expected["bbox/AP"][it] = ev["bbox/AP"]
    rows.append('{"iteration": 199, "total_')  # a run killed while writing
    (folder / "metrics.json").write_text("\n".join(rows) + "\n")
    return expected


@pytest.fixture
def two_runs(tmp_path):
    return {
        "run_a": (tmp_path / "run_a" / "metrics.json", _write_run(tmp_path / "run_a", 1.0)),
        "run_b": (tmp_path / "run_b" / "metrics.json", _write_run(tmp_path / "run_b", 2.0)),
    }


def test_collect_equals_the_input(two_runs):
    tool = load_tool("plot_metrics")
    runs = [(name, tool.read_metrics(path)) for name, (path, _) in two_runs.items()]
    data = tool.collect(runs)
    assert list(data) == ["losses", "lr", "metrics"]
    assert list(data["losses"]) == ["total_loss", "loss_cls"]
    assert list(data["lr"]) == ["lr"] and list(data["metrics"]) == ["bbox/AP"]
    for group in data.values():
        for key, lines in group.items():
            assert [line[0] for line in lines] == ["run_a", "run_b"]
            for label, its, vals, smoothed in lines:
                assert dict(zip(its, vals)) == two_runs[label][1][key]
                assert smoothed is None


def test_median_smoothing():
    tool = load_tool("plot_metrics")
    assert tool.median_smooth([5.0, 1.0, 3.0, 100.0, 2.0], 3) == [5.0, 3.0, 3.0, 3.0, 3.0]
    assert tool.median_smooth([1.0, float("nan"), 3.0], 2)[1:] == [1.0, 3.0]
    assert math.isnan(tool.median_smooth([float("nan")], 4)[0])


def test_main_writes_pngs_whose_lines_are_the_input(two_runs, tmp_path, monkeypatch):
    tool = load_tool("plot_metrics")
    paths = [str(p) for p, _ in two_runs.values()]
    drawn = {}
    real_figures = tool.figures

    def keep(*args, **kwargs):
        figs = real_figures(*args, **kwargs)
        drawn.update(figs)
        return figs

    monkeypatch.setattr(tool, "figures", keep)
    out = tmp_path / "curves.png"
    assert tool.main([*paths, "--output", str(out), "--smooth", "3"]) == [str(out)]
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] >= 800 and im.size[1] >= 300
    assert out.stat().st_size > 10_000
    axes = [ax for ax in drawn[str(out)].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [
        "total_loss (median of the last 3)",
        "loss_cls (median of the last 3)",
        "lr",
        "bbox/AP",
    ]
    ap = axes[3]
    assert [t.get_text() for t in ap.get_legend().get_texts()] == ["run_a", "run_b"]
    for line, name in zip(ap.get_lines(), ("run_a", "run_b")):
        expected = two_runs[name][1]["bbox/AP"]
        assert dict(zip(line.get_xdata(), line.get_ydata())) == expected
    raw = axes[0].get_lines()[0]  # run_a's raw total_loss under its smoothed line
    assert dict(zip(raw.get_xdata(), raw.get_ydata())) == two_runs["run_a"][1]["total_loss"]

    folder = tmp_path / "plots"
    written = tool.main([*paths, "--output", str(folder), "--labels", "A", "B"])
    assert sorted(written) == sorted(str(folder / f"{g}.png") for g in ("losses", "lr", "metrics"))
    for path in written:
        with Image.open(path) as im:
            assert im.format == "PNG" and min(im.size) >= 300


def test_bad_arguments(two_runs, tmp_path):
    tool = load_tool("plot_metrics")
    path = str(two_runs["run_a"][0])
    with pytest.raises(SystemExit, match="no such metrics file"):
        tool.main([str(tmp_path / "missing.json"), "--output", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit, match="2 label"):
        tool.main([path, "--labels", "a", "b", "--output", str(tmp_path / "x.png")])
    empty = tmp_path / "empty" / "metrics.json"
    empty.parent.mkdir()
    empty.write_text('{"iteration": 0, "data_time": 0.1}\n')
    with pytest.raises(SystemExit, match="nothing to plot"):
        tool.main([str(empty), "--output", str(tmp_path / "x.png")])
