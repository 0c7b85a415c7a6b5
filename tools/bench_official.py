#!/usr/bin/env python
"""CPU latency of five models per backend vs their official code (issue #25): one ratio table.

    VP_OFFICIAL_RETINAFACE=/path/to/Pytorch_Retinaface VP_OFFICIAL_SHG=... \
        python tools/bench_official.py [--only retinaface shg] [--weights random|fixture] \
        [--photo] [--iters 10] [--warmup 3] [--threads 2] [--output-dir output/bench_official]
    python tools/bench_official.py --from-json [--photo]   # the table of the last run only

The cases (``CASES``) and the variable that points at each official checkout:

- ``yolact``: YOLACT R-50 at 550², ``VP_OFFICIAL_YOLACT`` (dbolya/yolact);
- ``retinaface``: RetinaFace MobileNet-0.25 on a real photo resized to 640 px wide (INTER_AREA,
  written to the output directory), ``VP_OFFICIAL_RETINAFACE`` (biubug6/Pytorch_Retinaface);
- ``retinaface_onnx``: the same against the official ONNX export route (its
  ``convert_to_onnx.py``: the whole network by the TorchScript-based exporter) in ONNX Runtime
  (``tools/benchmark.py --official-onnx``), same variable;
- ``centernet_oap``: CenterNet-OAP Res-18 at 512², ``VP_OFFICIAL_CENTERNET_OAP``
  (xingyizhou/CenterNet);
- ``cornernet``: CornerNet HG-104 at 511², ``VP_OFFICIAL_CORNERNET`` (princeton-vl/CornerNet);
- ``shg``: Stacked Hourglass 8-stack at 256², ``VP_OFFICIAL_SHG``
  (princeton-vl/pytorch_stacked_hourglass).

Each case is one ``tools/benchmark.py`` run in its own process (its own threads and memory):
``--backend eager,torchscript,onnxruntime,inductor`` (the backends the architecture's spec can
export; onnxruntime dropped with a note when the ``deploy`` extra is missing, inductor when no
C++ compiler is found; ``--backend`` keeps fewer, e.g. ``eager,onnxruntime`` for CornerNet on
the photo, where the four in one process need more than 23 GB), ``--official
$VP_OFFICIAL_X``, ``--train-iters 0``, on CPU; its JSON and log go to
``<output-dir>/<case>.json`` / ``.log`` (``<case>_photo.*`` with ``--photo``). A case whose
variable is unset or not a directory is skipped with a line naming the variable; a failing case
is reported with the tail of its stderr and the other cases still run.

- ``--weights random``: detectron2's initialisation; ``fixture``: the case's parity-fixture
  checkpoint (``../shared/parity/<fixture>``, rebuilt by the fixtures' own ``synth.py``)
  converted with the project's converter into ``<output-dir>/<fixture>_converted.pth``.
- ``--photo``: every model on the real photo (``PHOTO``) at its native size (848×600; each
  model's own test transform applies) instead of the network size.
- ``--from-json``: runs nothing, prints the table of the JSON files already in the output
  directory.

The table (markdown, also written to ``<output-dir>/table.md``): a line with the CPU model,
threads, weights and date, then per model the latency and ratio ours / official of each backend,
the official latency, the best backend's ratio (marked when it misses the 0.6 target, and when
eager misses 0.8), the share of inference time outside the convolutions (eager / official, by
the torch profiler) and the conv floor: eager's time in its convolutions / the official latency
(the ratio if everything else took no time; below it only with faster convolution kernels).
"""

import vision_plugins  # noqa: F401  # isort: skip  (first: registers; quiets dependency warnings)
import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

from vision_plugins.export.backends import BACKENDS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY = os.path.normpath(os.path.join(REPO, "..", "shared", "parity"))
PHOTO = os.path.normpath(
    os.path.join(REPO, "..", "shared", "real", "photos", "33887522274_eebd074106_k.jpg")
)
BACKEND_TITLES = {
    "eager": "eager", "torchscript": "TorchScript", "onnxruntime": "ONNX Runtime",
    "inductor": "Inductor",
}  # fmt: skip
BEST_TARGET, EAGER_TARGET = 0.6, 0.8


class Case(NamedTuple):
    name: str
    title: str
    config: str  # under configs/
    env: str  # the variable naming the official checkout
    fixture: str  # parity fixture folder
    arch: str  # tools/convert_weights.py --arch
    size: int = 0  # network input size² (0: the photo resized to photo_width)
    photo_width: int = 0
    official_args: tuple = ()  # more tools/benchmark.py options for the official side


CASES = (
    Case("yolact", "YOLACT R-50", "YOLACT/yolact_R_50_FPN_550_coco.yaml", "VP_OFFICIAL_YOLACT",
         "yolact_R_50", "yolact", size=550),
    Case("retinaface", "RetinaFace MNet-0.25", "RetinaFace/retinaface_mnet025_widerface.yaml",
         "VP_OFFICIAL_RETINAFACE", "retinaface_mnet", "retinaface_mnet", photo_width=640),
    Case("retinaface_onnx", "RetinaFace MNet-0.25 vs official ONNX",
         "RetinaFace/retinaface_mnet025_widerface.yaml", "VP_OFFICIAL_RETINAFACE",
         "retinaface_mnet", "retinaface_mnet", photo_width=640, official_args=("--official-onnx",)),
    Case("centernet_oap", "CenterNet-OAP Res-18", "CenterNet/centernet_oap_res18_coco.yaml",
         "VP_OFFICIAL_CENTERNET_OAP", "centernet_oap_res18", "centernet_oap_res18", size=512),
    Case("cornernet", "CornerNet HG-104", "CornerNet/cornernet_hg104_coco.yaml",
         "VP_OFFICIAL_CORNERNET", "cornernet_hg104", "cornernet", size=511),
    Case("shg", "Stacked Hourglass 8-stack", "StackedHourglass/shg_8stack_mpii.yaml",
         "VP_OFFICIAL_SHG", "shg_8stack", "shg", size=256),
)  # fmt: skip
CASE_NAMES = [c.name for c in CASES]


def _backend_list(text):
    names = [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown backend(s) {unknown or [text]}: choose from {','.join(BACKENDS)}"
        )
    return names


def get_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", nargs="+", choices=CASE_NAMES, metavar="NAME",
        help=f"cases to run (default: all of {CASE_NAMES})",
    )  # fmt: skip
    parser.add_argument(
        "--weights", choices=("random", "fixture"), default="random",
        help="random initialisation or the converted parity-fixture checkpoint",
    )  # fmt: skip
    parser.add_argument(
        "--photo", action="store_true",
        help="the real photo at its native size instead of the network size",
    )  # fmt: skip
    parser.add_argument(
        "--backend", type=_backend_list, default=None, metavar="B1,B2",
        help=f"only these of the backends a case can run (of {','.join(BACKENDS)}; default all; "
        "eager always runs: the ratios' profile and conv floor are eager's)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--output-dir", default="output/bench_official")
    parser.add_argument(
        "--from-json", action="store_true",
        help="print the table of the JSON files in --output-dir, run nothing",
    )  # fmt: skip
    return parser


def json_path(output_dir, case, photo):
    return os.path.join(output_dir, f"{case.name}{'_photo' if photo else ''}.json")


def official_checkout(case, environ=os.environ):
    """``(path, None)`` of the case's official checkout, or ``(None, why it is skipped)``."""
    path = environ.get(case.env)
    if not path:
        return None, f"{case.env} is not set (export {case.env}=<checkout of the official code>)"
    if not os.path.isdir(path):
        return None, f"{case.env}={path}: no such directory"
    return path, None


def backends_for(case, wanted=None):
    """``(backends, notes)``: eager, and TorchScript / ONNX Runtime / Inductor when the
    architecture's spec has an exporter; ONNX Runtime only with the ``deploy`` extra, Inductor
    only with a C++ compiler; only those in ``wanted`` if given."""
    from vision_plugins.engine import setup_cfg
    from vision_plugins.export import deploy_missing
    from vision_plugins.export.backends import inductor_missing
    from vision_plugins.spec import spec_for

    spec = spec_for(setup_cfg(os.path.join(REPO, "configs", case.config), []))
    if spec is None or spec.exporter is None:
        return ["eager"], [f"{case.name}: eager only (no exporter for its architecture)"]
    backends, notes = ["eager", "torchscript"], []
    for name, missing in (("onnxruntime", deploy_missing()), ("inductor", inductor_missing())):
        if missing:
            notes.append(f"{case.name}: {name} dropped ({missing})")
        else:
            backends.append(name)
    if wanted:
        dropped = [b for b in backends if b not in wanted and b != "eager"]
        backends = [b for b in backends if b not in dropped]
        if dropped:
            notes.append(f"{case.name}: {', '.join(dropped)} not run (--backend)")
    return backends, notes


def benchmark_argv(case, args, official, out, backends, image=None, weights=None, opts=()):
    """The ``tools/benchmark.py`` command line of one case: ``image`` (a path) replaces the
    network size ``--input-size``; ``opts``: KEY VALUE overrides the weights need."""
    argv = [sys.executable, os.path.join(REPO, "tools", "benchmark.py"),
            "--config-file", os.path.join(REPO, "configs", case.config)]  # fmt: skip
    argv += ["--image", image] if image else ["--input-size", str(case.size)]
    argv += ["--threads", str(args.threads), "--iters", str(args.iters),
             "--warmup", str(args.warmup), "--train-iters", "0",
             "--backend", ",".join(backends), "--official", official, "--output", out]  # fmt: skip
    argv += list(case.official_args)
    if weights:
        argv += ["--weights", weights]
    return argv + ["MODEL.DEVICE", "cpu", *opts]


def resized_photo(width, output_dir):
    """``PHOTO`` resized to ``width`` px wide (INTER_AREA), written to the output directory."""
    import cv2

    from vision_plugins.data.image_io import read_image

    image = read_image(PHOTO, format="BGR")
    h, w = image.shape[:2]
    size = (width, round(h * width / w))
    path = os.path.join(output_dir, f"photo_{size[0]}x{size[1]}.png")
    cv2.imwrite(path, cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return path


def _official_checkpoint(case, state_dict):
    """The fixture's state_dict as the official code saves that model."""
    if case.arch.startswith("centernet_oap"):
        return {"epoch": 0, "state_dict": state_dict}
    if case.arch == "shg":  # exp/<name>/checkpoint.pt of a DataParallel model
        return {"epoch": 0, "state_dict": {"model.module." + k: v for k, v in state_dict.items()}}
    if case.arch == "cornernet":  # the released file (torch 0.4.0) has no num_batches_tracked
        return {k: v for k, v in state_dict.items() if "num_batches_tracked" not in k}
    return state_dict


def fixture_weights(case, output_dir, parity=PARITY):
    """Convert the case's parity-fixture checkpoint (rebuilt by the fixtures' ``synth.py``) with
    the project's converter into ``<output_dir>/<fixture>_converted.pth``. Returns the path and
    the KEY VALUE overrides the converted weights need."""
    import torch

    from vision_plugins.checkpoint import convert_checkpoint

    spec = importlib.util.spec_from_file_location("parity_synth", os.path.join(parity, "synth.py"))
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    _, state_dict, _, _ = synth.load_fixture(os.path.join(parity, case.fixture))
    dst = os.path.join(output_dir, f"{case.fixture}_converted.pth")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "official.pth")
        torch.save(_official_checkpoint(case, state_dict), src)
        del state_dict
        _, config = convert_checkpoint(case.arch, src, dst, return_config=True)
    return dst, [str(x) for kv in config.items() for x in kv]


def run_case(case, args, official, backends):
    """One case's benchmark in its own process; returns None or why it failed."""
    out = json_path(args.output_dir, case, args.photo)
    if os.path.exists(out):
        os.remove(out)  # no stale result in the table when this run fails
    try:
        if args.photo or not case.size:
            image = PHOTO if args.photo else resized_photo(case.photo_width, args.output_dir)
        else:
            image = None
        weights, opts = None, []
        if args.weights == "fixture":
            weights, opts = fixture_weights(case, args.output_dir)
    except Exception as e:  # a missing photo or fixture, a converter error: this case only
        return f"{type(e).__name__}: {e}"
    argv = benchmark_argv(case, args, official, out, backends, image, weights, opts)
    print(f"{case.name}: {' '.join(argv[1:])}", flush=True)
    start = time.time()
    with open(out[: -len(".json")] + ".log", "w") as log:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.PIPE, text=True)
        log.write(proc.stderr)
    print(f"{case.name}: exit {proc.returncode} after {time.time() - start:.0f} s", flush=True)
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return f"exit {proc.returncode}; stderr ends:\n{tail}"
    return None


def _ms(ms):
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms:.0f} ms"


def weights_kind(case, result):
    """ "random", "fixture" (this tool's converted fixture) or the checkpoint's file name."""
    name = os.path.basename(result.get("weights") or "")
    return "random" if not name else "fixture" if name == f"{case.fixture}_converted.pth" else name


def table_row(case, result, photo=False):
    """One markdown row of a ``tools/benchmark.py`` JSON (``photo``: the run of ``--photo``)."""
    h, w = result["input_hw"]
    where = f"{h}×{w}" + (", real photo" if photo or not case.size else "")
    cells = [f"{case.title} ({where})"]
    ratios = {}
    for name in BACKEND_TITLES:
        r = result["backends"].get(name)
        if r is None or "refused" in r:  # not run, or refused by its check against eager
            cells.append("—" if r is None else "refused (check)")
            continue
        ratio = r.get("ratio_vs_official")
        if ratio is not None:
            ratios[name] = ratio
        cells.append(_ms(r["latency_ms"]) + ("" if ratio is None else f" ({ratio:.2f})"))
    official = result.get("official_latency_ms")
    cells.append("—" if official is None else _ms(official))
    if ratios:
        best = min(ratios.values())
        misses = [f"misses {BEST_TARGET}"] if best > BEST_TARGET else []
        if ratios.get("eager", 0) > EAGER_TARGET:
            misses.append(f"eager misses {EAGER_TARGET}")
        cells.append(f"{best:.2f}" + (f" ({'; '.join(misses)})" if misses else ""))
    else:
        cells.append("—")
    outside = f"{100 * result['share_outside_conv']:.0f} %"
    if "official_share_outside_conv" in result:
        outside += f" / {100 * result['official_share_outside_conv']:.0f} %"
    cells.append(outside)
    floor = result.get("conv_floor_vs_official")
    cells.append("—" if floor is None else f"{floor:.2f}")
    return "| " + " | ".join(cells) + " |"


def cpu_model(cpuinfo="/proc/cpuinfo"):
    try:
        with open(cpuinfo) as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def format_table(rows, notes, cpu, date, photo=False):
    """The markdown table of ``rows`` ([(case, benchmark JSON)]), then ``notes`` (skipped or
    failed cases) as a list."""
    threads = sorted({str(r["threads"]) for _, r in rows}) or ["—"]
    weights = sorted({weights_kind(c, r) for c, r in rows}) or ["—"]
    lines = [
        f"{cpu}, {os.cpu_count()} cores; threads {'/'.join(threads)}; weights "
        f"{', '.join(weights)}; {date}. Ratio = ours / official.",
        "",
        "| model (input h×w) | eager ms (ratio) | TorchScript ms (ratio) | ONNX Runtime ms (ratio) "
        "| Inductor ms (ratio) | official ms | best / official | outside convs (eager / official) "
        "| conv floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [table_row(case, result, photo) for case, result in rows]
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def collect(cases, output_dir, photo):
    """``([(case, JSON)], notes)``: the cases whose JSON is in ``output_dir``, a note for each
    other."""
    rows, notes = [], []
    for case in cases:
        path = json_path(output_dir, case, photo)
        if not os.path.isfile(path):
            notes.append(f"{case.name}: no result ({path} not found)")
            continue
        with open(path) as f:
            rows.append((case, json.load(f)))
    return rows, notes


def main(argv=None):
    args = get_parser().parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    os.makedirs(args.output_dir, exist_ok=True)
    notes, failed = [], []
    if not args.from_json:
        measured = []
        for case in cases:
            official, skipped = official_checkout(case)
            if skipped:
                print(f"skipped {case.name}: {skipped}", flush=True)
                notes.append(f"{case.name} skipped: {skipped}")
                continue
            backends, dropped = backends_for(case, args.backend)
            for note in dropped:
                print(f"note: {note}", flush=True)
            failure = run_case(case, args, official, backends)
            if failure:
                print(f"FAILED {case.name}: {failure}", flush=True)
                notes.append(f"{case.name} failed: {failure.splitlines()[0]} (see its .log)")
                failed.append(case.name)
            else:
                measured.append(case)
        cases = measured
    rows, missing = collect(cases, args.output_dir, args.photo)
    stamps = [os.path.getmtime(json_path(args.output_dir, c, args.photo)) for c, _ in rows]
    date = datetime.date.fromtimestamp(max(stamps)) if stamps else datetime.date.today()
    table = format_table(rows, notes + missing, cpu_model(), date.isoformat(), args.photo)
    with open(os.path.join(args.output_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0 if rows and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
