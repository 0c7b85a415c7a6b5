"""tools/bench_official.py without official code and without timing anything: the ratio table
from hand-made benchmark JSONs, skipped cases, --from-json, the fixture weights and the command
line of a case."""

import json
import os
import sys

import pytest
import torch

from tests.parity import requires_fixtures
from tests.tool_scripts import load_tool
from vision_plugins.engine import Trainer, setup_cfg

bench_official = load_tool("bench_official")
CASES = {c.name: c for c in bench_official.CASES}


def _result(eager, official=100.0, torchscript=None, onnxruntime=None, hw=(550, 550),
            inductor=None, **extra):  # fmt: skip
    """A tools/benchmark.py JSON with these latencies (ms) and their ratios to ``official``."""
    times = {"eager": eager, "torchscript": torchscript, "onnxruntime": onnxruntime,
             "inductor": inductor}  # fmt: skip
    backends = {
        name: {"latency_ms": ms, "peak_rss_mb": 900.0, "ratio_vs_official": ms / official}
        for name, ms in times.items()
        if ms is not None
    }
    return {"threads": 2, "weights": None, "input_hw": list(hw), "share_outside_conv": 0.18,
            "backends": backends, "official_latency_ms": official, **extra}  # fmt: skip


def test_rows_ratios_targets_and_missing_backends():
    row = bench_official.table_row(CASES["yolact"], _result(75.0, torchscript=82.0))
    assert row == (
        "| YOLACT R-50 (550×550) | 75.0 ms (0.75) | 82.0 ms (0.82) | — | — | 100.0 ms "
        "| 0.75 (misses 0.6) | 18 % | — |"
    )
    profiled = {"official_share_outside_conv": 0.4, "conv_floor_vs_official": 0.615}
    row = bench_official.table_row(
        CASES["cornernet"],
        _result(4211.0, 4812.0, 4477.0, 3202.0, hw=(511, 511), inductor=3900.0, **profiled),
    )
    assert "| 4211 ms (0.88) | 4477 ms (0.93) | 3202 ms (0.67) | 3900 ms (0.81) | 4812 ms |" in row
    assert row.endswith("| 0.67 (misses 0.6; eager misses 0.8) | 18 % / 40 % | 0.61 |")
    row = bench_official.table_row(
        CASES["retinaface"], _result(51.8, 142.9, 48.7, 44.0, hw=(453, 640), inductor=40.0)
    )
    assert row.startswith("| RetinaFace MNet-0.25 (453×640, real photo) | 51.8 ms (0.36) |")
    assert "| 142.9 ms | 0.28 | 18 % | — |" in row  # on target: no marker
    refused = _result(51.8, 142.9, 48.7, 44.0, hw=(453, 640))
    refused["backends"]["inductor"] = {"refused": "model (inductor): exported output 2 differs"}
    row = bench_official.table_row(CASES["retinaface"], refused)
    assert "| 44.0 ms (0.31) | refused (check) | 142.9 ms | 0.31 |" in row
    photo = bench_official.table_row(CASES["shg"], _result(50.0, hw=(600, 848)), photo=True)
    assert photo.startswith("| Stacked Hourglass 8-stack (600×848, real photo) |")
    no_official = {k: v for k, v in _result(50.0).items() if k != "official_latency_ms"}
    no_official["backends"]["eager"].pop("ratio_vs_official")
    assert "| 50.0 ms | — | — | — | — | — | 18 % | — |" in bench_official.table_row(
        CASES["yolact"], no_official
    )


def test_table_header_and_notes():
    fixture = _result(30.0, weights="out/retinaface_mnet_converted.pth")
    rows = [(CASES["shg"], _result(70.0, hw=(256, 256))), (CASES["retinaface"], fixture)]
    table = bench_official.format_table(rows, ["cornernet skipped: X"], "Some CPU", "2026-12-06")
    lines = table.splitlines()
    assert (
        lines[0].startswith("Some CPU, ")
        and "threads 2; weights fixture, random; 2026-12-06" in lines[0]
    )
    assert lines[2].startswith("| model (input h×w) | eager ms (ratio) | TorchScript ms (ratio) |")
    assert len([ln for ln in lines if ln.startswith("| ")]) == 3
    assert lines[-1] == "- cornernet skipped: X"


def test_unset_or_missing_checkout_is_skipped_naming_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VP_OFFICIAL_CORNERNET", raising=False)
    out = tmp_path / "out"
    assert bench_official.main(["--only", "cornernet", "--output-dir", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "skipped cornernet: VP_OFFICIAL_CORNERNET is not set" in printed
    assert "- cornernet skipped: VP_OFFICIAL_CORNERNET is not set" in (out / "table.md").read_text()
    environ = {"VP_OFFICIAL_SHG": str(tmp_path / "nowhere")}
    path, why = bench_official.official_checkout(CASES["shg"], environ)
    assert path is None and why == f"VP_OFFICIAL_SHG={tmp_path / 'nowhere'}: no such directory"
    assert bench_official.official_checkout(CASES["shg"], {"VP_OFFICIAL_SHG": str(tmp_path)}) == (
        str(tmp_path),
        None,
    )


def test_from_json_prints_the_table_of_the_output_dir(tmp_path, capsys):
    (tmp_path / "yolact.json").write_text(json.dumps(_result(75.0, torchscript=82.0)))
    (tmp_path / "shg_photo.json").write_text(json.dumps(_result(50.0, hw=(600, 848))))
    args = ["--from-json", "--output-dir", str(tmp_path), "--only", "yolact", "shg"]
    assert bench_official.main(args) == 0
    printed = capsys.readouterr().out
    assert "| YOLACT R-50 (550×550) | 75.0 ms (0.75) |" in printed
    assert f"- shg: no result ({tmp_path / 'shg.json'} not found)" in printed
    assert (tmp_path / "table.md").read_text() == printed
    assert bench_official.main(args + ["--photo"]) == 0
    printed = capsys.readouterr().out
    assert (
        "Stacked Hourglass 8-stack (600×848, real photo)" in printed
        and "YOLACT R-50 (" not in printed
    )


def test_benchmark_command_line_of_a_case():
    args = bench_official.get_parser().parse_args(["--iters", "1", "--warmup", "0"])
    backends = ["eager", "torchscript"]
    argv = bench_official.benchmark_argv(CASES["centernet_oap"], args, "/off", "o.json", backends)
    repo = bench_official.REPO
    assert argv == [
        sys.executable, os.path.join(repo, "tools", "benchmark.py"),
        "--config-file", os.path.join(repo, "configs", "CenterNet/centernet_oap_res18_coco.yaml"),
        "--input-size", "512", "--threads", "2", "--iters", "1", "--warmup", "0",
        "--train-iters", "0", "--backend", "eager,torchscript", "--official", "/off",
        "--output", "o.json", "MODEL.DEVICE", "cpu",
    ]  # fmt: skip
    argv = bench_official.benchmark_argv(
        CASES["shg"], args, "/off", "o.json", ["eager"], image="p.jpg", weights="w.pth",
        opts=["MODEL.X", "8"],
    )  # fmt: skip
    assert "--input-size" not in argv and argv[argv.index("--image") + 1] == "p.jpg"
    assert argv[argv.index("--weights") + 1] == "w.pth"
    assert argv[-4:] == ["MODEL.DEVICE", "cpu", "MODEL.X", "8"]
    argv = bench_official.benchmark_argv(CASES["retinaface_onnx"], args, "/off", "o.json", backends)
    assert argv.count(
        "--official-onnx"
    ) == 1 and "--official-onnx" not in bench_official.benchmark_argv(
        CASES["retinaface"], args, "/off", "o.json", backends
    )


@requires_fixtures
def test_fixture_weights_load_into_the_case_model_without_missing_keys(tmp_path):
    case = CASES["retinaface"]
    path, opts = bench_official.fixture_weights(case, str(tmp_path))
    assert path == str(tmp_path / "retinaface_mnet_converted.pth")
    cfg = setup_cfg(os.path.join(bench_official.REPO, "configs", case.config),
                    ["MODEL.DEVICE", "cpu", *opts])  # fmt: skip
    model = Trainer.build_model(cfg)
    converted = torch.load(path, weights_only=True)["model"]
    loaded = model.load_state_dict(converted, strict=False)
    assert loaded.missing_keys == [] and loaded.unexpected_keys == []


def test_backend_option_keeps_fewer_backends_and_eager(capsys):
    parse = bench_official.get_parser().parse_args
    assert parse([]).backend is None
    wanted = parse(["--backend", "onnxruntime, torchscript"]).backend
    assert wanted == ["onnxruntime", "torchscript"]
    all_of_them, notes = bench_official.backends_for(CASES["cornernet"])
    kept, notes = bench_official.backends_for(CASES["cornernet"], wanted)
    assert kept == [b for b in all_of_them if b in ("eager", "onnxruntime", "torchscript")]
    assert kept[0] == "eager"  # the profile and the conv floor are eager's
    if "inductor" in all_of_them:
        assert "cornernet: inductor not run (--backend)" in notes
    with pytest.raises(SystemExit):
        parse(["--backend", "eager,tensorrt"])
    assert "unknown backend(s) ['tensorrt']: choose from eager," in capsys.readouterr().err
