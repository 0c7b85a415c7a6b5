#!/usr/bin/env python
"""Speed and size of a model on this machine; prints a table and writes JSON.

    python tools/benchmark.py --config-file configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml \
        [--weights W] [--input-size S] [--threads N] [--output out.json] [--official PATH]

Measures (CPU unless MODEL.DEVICE is cuda and available):
- median inference latency of ``Predictor`` (test transform included) after warm-up;
- median training step time (forward + backward + optimizer step) on DATASETS.TRAIN batches;
  two-player (GAN) models (``engine.trainer_class`` is ``TwoPlayerTrainer``): one whole
  ``TwoPlayerStep.run_step()`` -- the fakes, then G's and D's loss, backward and Adam step in the
  model's order -- on DATASETS.TRAIN batches, or on random images at INPUT.GAN.CROP_SIZE when
  those datasets cannot be loaded (``train_data`` in the JSON says which);
- peak memory (CUDA: max allocated; CPU: peak resident set size of the process);
- GFLOPs per image (fvcore, via detectron2.utils.analysis) and the achieved GFLOP/s;
- the share of inference time spent outside the dense convolution stack (torch.profiler:
  1 - time in the convolution ops (``CONV_OPS``) and below / total);
- with ``--clip N`` (video models, e.g. VPSNet): the first N frames of the first video of
  DATASETS.TEST run in order as one video (``video_id`` / ``frame_id`` passed to the model):
  median per-frame latency and the resident set size after the first and the last frame (the
  state a video model carries must not grow with the clip);
- with ``--clip N --vs-yolact`` (YolactEdge): the same clip through YOLACT with the same weights
  and through YolactEdge, alternating over ``--iters`` rounds: frames per second per clip,
  median YOLACT / keyframe / non-keyframe latency, the non-keyframe and whole-clip speed-ups;
- with ``--data-workers N``: the training data loader of the config (DATASETS.TRAIN through the
  config's train mapper with its full augmentation, ``Trainer.build_train_loader``) at
  DATALOADER.NUM_WORKERS = N, timed alone after ``--warmup`` batches over ``--data-batches``
  batches (the rate over the second half, so the batches the workers prefetched during the
  warm-up do not count): seconds per batch, images per second, and with the training step timed
  too, ``loader_keeps_up_x`` = training step time / loader time per batch (> 1: the loader is
  faster than the step; both measured alone, so cores the two share in a real run are not
  accounted for);
- with ``--backend eager,torchscript,onnxruntime,inductor`` (comma-separated; default eager): each
  backend's median latency (all timed alternately in the same rounds, beside the official code's
  with ``--official``) and its memory: the process's peak resident set size while that backend
  runs alone (Linux VmHWM reset through /proc/self/clear_refs) and its rise over the RSS before;
  the non-eager backends run the graphs of the architecture's exporter (``vision_plugins.export``),
  exported on the fly unless ``--exported DIR`` (for one non-eager backend; ``inductor``
  compiles them in the process); a backend whose graphs fail their check against eager is not
  timed (``{"refused": reason}`` in the JSON, the others still are). The table and ``backends``
  in the JSON; the other keys describe the first backend; ``share_outside_conv``: the eager
  model's profiled CPU time outside the convolutions;
- without ``--image`` and with DATASETS.TEST / TRAIN not on disk (COCO's json): a seeded random
  image (``--input-size``², else 640x480) with a message saying so, and the training step is
  not timed (``train_data`` says why);
- with ``--official PATH`` (a checkout of the official code): the official inference on the same
  image with the same weights and threads and the latency ratio ours / official. The runner is
  the architecture spec's ``official_runner`` (``tests/official/<codebase>.py``: needs the
  source tree, not only the installed package); ``--official-onnx``: the official code's own
  ONNX export route in ONNX Runtime instead (``official_onnx`` true in the JSON). Also
  ``official_share_outside_conv`` (the same profile of the official call) and
  ``conv_floor_vs_official``: eager's time in its convolutions / the official latency: the
  ratio eager would reach if everything else took no time (a backend gets below it only with
  faster convolution kernels).
"""

import vision_plugins  # noqa: F401  # isort: skip  (first: registers; quiets dependency warnings)
import argparse
import contextlib
import functools
import importlib
import inspect
import json
import os
import resource
import statistics
import sys
import time

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.utils.analysis import FlopCountAnalysis
from detectron2.utils.events import EventStorage

from vision_plugins.data.image_io import read_image
from vision_plugins.engine import Predictor, Trainer, setup_cfg, trainer_class
from vision_plugins.engine.gan_trainer import TwoPlayerStep, TwoPlayerTrainer
from vision_plugins.export.backends import BACKENDS
from vision_plugins.spec import SPECS, spec_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", default="", help="checkpoint (default: random init)")
    parser.add_argument("--image", help="benchmark image (default: first of DATASETS.TEST)")
    parser.add_argument("--input-size", type=int, default=0, help="resize the input to S×S")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--train-iters", type=int, default=5, help="0 skips training timing")
    parser.add_argument("--output", help="JSON file (default: <OUTPUT_DIR>/benchmark.json)")
    parser.add_argument("--official", help="checkout of the official code to time for comparison")
    parser.add_argument(
        "--official-onnx", action="store_true",
        help="with --official: time the official code's own ONNX export in ONNX Runtime "
        "(architectures whose official code ships one: RetinaFace)",
    )  # fmt: skip
    parser.add_argument(
        "--backend", default="eager",
        help="comma-separated backends to time: eager, torchscript, onnxruntime, inductor (the "
        "exported graphs, exported on the fly unless --exported; inductor compiles them)",
    )  # fmt: skip
    parser.add_argument(
        "--exported", help="export directory for the one --backend torchscript / onnxruntime"
    )
    parser.add_argument(
        "--data-workers",
        type=int,
        default=None,
        help="also time the training data loader at DATALOADER.NUM_WORKERS = N",
    )
    parser.add_argument(
        "--data-batches", type=int, default=20, help="batches timed (--data-workers)"
    )
    parser.add_argument("--clip", type=int, default=0, help="frames of a video to run in order")
    parser.add_argument(
        "--vs-yolact", action="store_true", help="with --clip: YolactEdge vs YOLACT, same weights"
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    return parser


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _median_times(fns, warmup, iters, device):
    """Median wall time of each callable; the callables alternate within every round, so a
    drift of the machine's speed affects them alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(iters):
        for fn, t in zip(fns, times):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            t.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def _median_time(fn, warmup, iters, device):
    return _median_times([fn], warmup, iters, device)[0]


SYNTHETIC_HW = (480, 640)


def benchmark_image(cfg, size, path=None):
    """``path`` or the first image of DATASETS.TEST (or TRAIN), resized to size×size if
    size > 0; when that dataset cannot be loaded, a seeded random image (size×size, else
    640×480) with a message saying so."""
    if path is None:
        names = list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN)
        if not names:
            raise SystemExit("the config names no dataset to take a benchmark image from")
        try:
            path = DatasetCatalog.get(names[0])[0]["file_name"]
        except (OSError, AssertionError, KeyError) as e:  # e.g. COCO's json not on disk
            h, w = (size, size) if size > 0 else SYNTHETIC_HW
            print(
                f"benchmark: cannot take an image from {names[0]!r} ({type(e).__name__}: "
                f"{str(e).strip()[:200]}); timing a synthetic {w}x{h} image (seeded noise: "
                "post-processing may differ from a real photo's) -- pass a real image with "
                "--image PATH",
                file=sys.stderr,
            )
            rng = np.random.default_rng(0)
            return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if not os.path.isfile(path):
        raise SystemExit(f"--image {path!r}: no such file")
    image = read_image(path, format="BGR")
    if size > 0:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(image)


# Dense convolutions as the profiler names them: the ATen op (incl. its children), and the oneDNN
# ops on pre-reordered weights that image-to-image models run at inference (gan.model)
CONV_OPS = (
    "aten::convolution",
    "mkldnn::_convolution_pointwise",
    "mkldnn::_convolution_transpose_pointwise",
)


def conv_share(fn):
    """Fraction of the CPU time of one call of ``fn`` inside the convolutions (``CONV_OPS``,
    incl. children), by the torch profiler (also for the official code: the same ATen ops)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    conv = sum(e.cpu_time_total for e in events if e.key in CONV_OPS)
    total = sum(e.self_cpu_time_total for e in events)
    return conv / total if total else float("nan")


def peak_rss_of(fn, calls=2):
    """Resident memory while ``fn`` runs ``calls`` times alone: the process's peak RSS (Linux
    VmHWM, reset first through /proc/self/clear_refs) and its rise over the RSS before, in MB.
    Without a resettable peak: the RSS after the calls only."""
    before = _rss_mb()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident set size
        resettable = True
    except OSError:
        resettable = False
    for _ in range(calls):
        fn()
    if not resettable:
        return {"rss_after_mb": _rss_mb()}
    with open("/proc/self/status") as f:
        hwm = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024
    return {"peak_rss_mb": hwm, "peak_rss_rise_mb": hwm - before}


def print_backend_table(result):
    """One row per backend (and the official code): latency, ratio, peak memory."""
    rows = dict(result["backends"])
    if "official_latency_ms" in result:
        rows["official"] = {"latency_ms": result["official_latency_ms"], "ratio_vs_official": 1.0,
                            **result["official_memory"]}  # fmt: skip
    print(f"{'backend':>12} {'latency ms':>11} {'vs official':>12} {'peak RSS MB':>12} "
          f"{'rise MB':>8}")  # fmt: skip
    for name, r in rows.items():
        if "refused" in r:
            print(f"{name:>12} not timed: {r['refused'][:200]}")
            continue
        ratio = r.get("ratio_vs_official")
        print(f"{name:>12} {r['latency_ms']:>11.1f} "
              f"{'' if ratio is None else f'{ratio:.3f}':>12} "
              f"{r.get('peak_rss_mb', r.get('rss_after_mb', float('nan'))):>12.0f} "
              f"{r.get('peak_rss_rise_mb', float('nan')):>8.0f}")  # fmt: skip


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def clip_benchmark(cfg, predictor, num_frames):
    """Per-frame latency and memory over the first ``num_frames`` frames of a test video."""
    video = clip_frames(cfg, num_frames)
    times, rss = [], []
    for d in video:
        image = read_image(d["file_name"], format="BGR")
        t0 = time.perf_counter()
        predictor(image, video_id=d["video_id"], frame_id=d["frame_id"])
        times.append(time.perf_counter() - t0)
        rss.append(_rss_mb())
    return {
        "clip_frames": len(video),
        "clip_latency_ms_per_frame": statistics.median(times) * 1e3,
        "clip_rss_mb_after_first_frame": rss[0],
        "clip_rss_mb_after_last_frame": rss[-1],
    }


def clip_frames(cfg, num_frames):
    """The first ``num_frames`` frames (dataset dicts) of the first video of DATASETS.TEST."""
    frames = [d for d in DatasetCatalog.get(cfg.DATASETS.TEST[0]) if "video_id" in d]
    if not frames:
        raise SystemExit(f"--clip: {cfg.DATASETS.TEST[0]!r} is not a video dataset")
    return [d for d in frames if d["video_id"] == frames[0]["video_id"]][:num_frames]


def yolact_edge_vs_yolact(cfg, predictor, num_frames, rounds):
    """One clip through YOLACT (same weights, every frame a full forward) and through
    YolactEdge (keyframe every KEYFRAME_INTERVAL), the two alternating over ``rounds`` after a
    warm-up round; every round is a new video for YolactEdge."""
    if cfg.MODEL.META_ARCHITECTURE != "YolactEdge":
        raise SystemExit("--vs-yolact needs a YolactEdge config")
    yolact_cfg = cfg.clone()
    yolact_cfg.defrost()
    yolact_cfg.MODEL.META_ARCHITECTURE = "YOLACT"
    yolact_cfg.MODEL.WEIGHTS = ""
    yolact = Predictor(yolact_cfg)
    unexpected = yolact.model.load_state_dict(
        predictor.model.state_dict(), strict=False
    ).unexpected_keys
    assert all(k.startswith(("flow_", "spa.")) for k in unexpected), unexpected
    images = [read_image(d["file_name"], format="BGR") for d in clip_frames(cfg, num_frames)]
    full, key, nonkey, clip_yolact, clip_edge = [], [], [], [], []
    for r in range(rounds + 1):
        times = []
        for image in images:
            t0 = time.perf_counter()
            yolact(image)
            times.append(time.perf_counter() - t0)
        edge_times, flags = [], []
        for image in images:
            t0 = time.perf_counter()
            out = predictor(image, video_id=("benchmark", r))
            edge_times.append(time.perf_counter() - t0)
            flags.append(out["is_keyframe"])
        if r == 0:
            continue  # warm-up
        full += times
        key += [t for t, k in zip(edge_times, flags) if k]
        nonkey += [t for t, k in zip(edge_times, flags) if not k]
        clip_yolact.append(sum(times))
        clip_edge.append(sum(edge_times))
    med = statistics.median
    out = {
        "clip_frames": len(images),
        "keyframe_interval": cfg.MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL,
        "yolact_ms_per_frame": med(full) * 1e3,
        "keyframe_ms": med(key) * 1e3,
        "yolact_clip_fps": len(images) / med(clip_yolact),
        "yolact_edge_clip_fps": len(images) / med(clip_edge),
        "clip_speedup": med(clip_yolact) / med(clip_edge),
    }
    if nonkey:
        out["nonkeyframe_ms"] = med(nonkey) * 1e3
        out["nonkeyframe_speedup"] = med(full) / med(nonkey)
    return out


@contextlib.contextmanager
def _source_tree_importable():
    """The repository root first on ``sys.path`` (its ``tests`` package importable) inside the
    block only."""
    saved = list(sys.path)
    sys.path.insert(0, REPO)
    try:
        yield
    finally:
        sys.path[:] = saved


def official_runner(cfg):
    """The runner of the official code for ``cfg``'s model: its spec's ``official_runner``,
    ``"tests.official.<module>:<function>"``, imported from this source tree. A context manager:
    ``with runner(path, cfg, model, image) as run:`` (see ``tests/official/__init__.py``).
    Raises ``SystemExit`` when the architecture has no runner or the tree has no ``tests``."""
    spec = spec_for(cfg)
    target = spec.official_runner if spec is not None else None
    if not target:
        available = sorted(s.meta_arch for s in SPECS.values() if s.official_runner)
        raise SystemExit(
            f"--official: no official runner for {cfg.MODEL.META_ARCHITECTURE}; "
            f"available: {available}"
        )
    name, _, function = target.partition(":")
    package = os.path.join(REPO, "tests", "official")
    if not os.path.isfile(os.path.join(package, "__init__.py")):
        raise SystemExit(
            f"--official: the runner {target} is in the repository's tests/official, not found "
            f"at {package} (installed without the source tree?); run tools/benchmark.py from a "
            "checkout of the repository"
        )
    with _source_tree_importable():
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise SystemExit(f"--official: cannot import the runner {target}: {e}") from e
    where = os.path.dirname(os.path.abspath(module.__file__))
    if where != package:
        raise SystemExit(
            f"--official: {name} was imported from {where}, not from {package} (another "
            "package named tests shadows the repository's)"
        )
    if not callable(getattr(module, function, None)):
        raise SystemExit(f"--official: {name} has no runner {function!r} ({target})")
    return getattr(module, function)


def _synthetic_translation_batch(cfg, seed):
    """A batch of SOLVER.IMS_PER_BATCH random RGB images at INPUT.GAN.CROP_SIZE² with every input
    an image-to-image model reads: ``image`` (A), ``target`` (B of aligned data) and ``image_B``
    (B of unaligned data)."""
    g = torch.Generator().manual_seed(seed)
    size = cfg.INPUT.GAN.CROP_SIZE
    nc = {"image": cfg.MODEL.GAN.INPUT_NC, "target": cfg.MODEL.GAN.OUTPUT_NC}
    nc["image_B"] = nc["target"]

    def image(channels):
        return torch.randint(0, 256, (channels, size, size), generator=g).float()

    return [{k: image(c) for k, c in nc.items()} for _ in range(cfg.SOLVER.IMS_PER_BATCH)]


def two_player_batches(cfg, count):
    """``count`` training batches of DATASETS.TRAIN for a two-player (GAN) model, or, when those
    datasets cannot be loaded (not registered, not on disk: the official recipes' facades /
    horse2zebra), batches of random images at INPUT.GAN.CROP_SIZE (the training crop, so the step
    costs the same). Returns ``(batches, description of the data)``."""
    try:
        for name in cfg.DATASETS.TRAIN:
            DatasetCatalog.get(name)
    except (KeyError, OSError, AssertionError) as e:  # not registered / files not on disk
        size = cfg.INPUT.GAN.CROP_SIZE
        reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
        return [_synthetic_translation_batch(cfg, i) for i in range(count)], (
            f"synthetic: random images at INPUT.GAN.CROP_SIZE {size}x{size} (DATASETS.TRAIN "
            f"{list(cfg.DATASETS.TRAIN)} cannot be loaded: {reason})"
        )
    data = iter(TwoPlayerTrainer.build_train_loader(cfg))
    return [next(data) for _ in range(count)], f"DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)}"


def two_player_step_time(cfg, warmup, iters):
    """Median time of one ``TwoPlayerStep.run_step()`` (generate, then each player's loss,
    backward and Adam step in the model's ``step_order``; the batches are loaded beforehand)."""
    batches, data = two_player_batches(cfg, warmup + iters)
    model = TwoPlayerTrainer.build_model(cfg)
    optimizers = TwoPlayerTrainer.build_optimizers(cfg, model)
    model.train()
    step = TwoPlayerStep(model, batches, optimizers["G"], optimizers.get("D"))

    def run():
        step.run_step()
        storage.iter = step.iter = step.iter + 1

    with EventStorage(0) as storage:  # the step logs its losses into it
        step.iter = 0
        return _median_time(run, warmup, iters, cfg.MODEL.DEVICE), data


def data_loading_time(cfg, workers, warmup, batches):
    """The config's training data loader at ``workers`` processes: seconds per batch and images
    per second over the second half of ``batches`` timed batches (after ``warmup``)."""
    if batches < 2:
        raise SystemExit("--data-batches must be >= 2")
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATALOADER.NUM_WORKERS = workers
    start = time.perf_counter()
    data = iter(Trainer.build_train_loader(cfg))
    for _ in range(warmup):
        next(data)
    first = time.perf_counter() - start
    stamps, images = [time.perf_counter()], []
    for _ in range(batches):
        images.append(len(next(data)))
        stamps.append(time.perf_counter())
    half = batches // 2
    seconds = stamps[-1] - stamps[half]
    count = batches - half
    return {
        "data_workers": workers,
        "data_mapper": cfg.INPUT.DATASET_MAPPER_NAME,
        "data_train_datasets": list(cfg.DATASETS.TRAIN),
        "data_first_batches_s": first,
        "data_s_per_batch": seconds / count,
        "data_images_per_s": sum(images[half:]) / seconds,
    }


def train_step_time(cfg, warmup, iters):
    """Median training step time and a description of the data it used; ``(None, reason)`` when
    DATASETS.TRAIN cannot be loaded (not on disk)."""
    if trainer_class(cfg) is TwoPlayerTrainer:
        return two_player_step_time(cfg, warmup, iters)
    try:
        seconds = one_optimizer_step_time(cfg, warmup, iters)
    except (OSError, AssertionError) as e:  # e.g. COCO's json not on disk
        reason = f"{type(e).__name__}: {str(e).strip()[:200]}"
        print(f"benchmark: training step not timed, DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)} "
              f"cannot be loaded ({reason})", file=sys.stderr)  # fmt: skip
        return None, f"not timed: DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)} ({reason})"
    return seconds, f"DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)}"


def one_optimizer_step_time(cfg, warmup, iters):
    data = iter(Trainer.build_train_loader(cfg))
    batches = [next(data) for _ in range(warmup + iters)]  # data loading is not timed
    model = Trainer.build_model(cfg)
    optimizer = Trainer.build_optimizer(cfg, model)
    model.train()
    it = iter(batches)

    def step():
        losses = model(next(it))
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with EventStorage():  # detectron2 models log training statistics into it
        return _median_time(step, warmup, iters, cfg.MODEL.DEVICE)


def main(argv=None):
    args = get_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    opts = list(args.opts) + (["MODEL.WEIGHTS", args.weights] if args.weights else [])
    cfg = setup_cfg(args.config_file, opts)
    image = benchmark_image(cfg, args.input_size, args.image)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise SystemExit(f"--backend {args.backend!r}: comma-separated names of {BACKENDS}")
    file_backends = [b for b in backends if b not in ("eager", "inductor")]
    if args.official_onnx and not args.official:
        raise SystemExit("--official-onnx needs --official PATH")
    if args.exported and len(file_backends) != 1:
        raise SystemExit("--exported needs exactly one --backend of torchscript, onnxruntime")
    predictor = Predictor(cfg)
    predictors, refused = {}, {}
    for b in backends:
        try:
            predictors[b] = predictor if b == "eager" else Predictor(
                cfg, model=predictor.model, backend=b, threads=args.threads,
                exported=args.exported if b in file_backends else None,
            )  # fmt: skip
        except RuntimeError as e:  # its graphs failed their check against eager, or no export
            if len(backends) == 1:
                raise
            refused[b] = str(e)
            print(f"benchmark: backend {b} not timed: {e}", file=sys.stderr)
    backends = list(predictors)
    device = cfg.MODEL.DEVICE
    timed = [functools.partial(p, image) for p in predictors.values()]
    with contextlib.ExitStack() as official_code:  # its patches undone after the timing
        if args.official:
            runner = official_runner(cfg)
            onnx = {"onnx": True} if args.official_onnx else {}
            if onnx and "onnx" not in inspect.signature(runner).parameters:
                raise SystemExit(
                    f"--official-onnx: the official runner of {cfg.MODEL.META_ARCHITECTURE} has no "
                    "ONNX route (RetinaFace's has)"
                )
            run = official_code.enter_context(
                runner(args.official, cfg, predictor.model, image, **onnx)
            )
            timed.append(run)
        times = _median_times(timed, args.warmup, args.iters, device)
        per_backend = dict(zip(backends, times))
        official = times[len(backends) :]
        memory = {b: peak_rss_of(functools.partial(p, image)) for b, p in predictors.items()}
        if official:
            memory["official"] = peak_rss_of(run)
            # (the official ONNX route's convolutions run in ONNX Runtime: the profiler sees none)
            official_outside_conv = None if args.official_onnx else 1.0 - conv_share(run)
    latency = per_backend[backends[0]]
    # the model's input as Predictor makes it (its test transform: YOLACT's 550², a pose crop)
    flops = FlopCountAnalysis(predictor.model, [predictor.preprocess(image)])
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    gflops = flops.total() / 1e9
    result = {
        "config_file": args.config_file,
        "weights": args.weights or None,
        "device": device,
        "threads": args.threads,
        "input_hw": list(image.shape[:2]),
        "inference_latency_ms": latency * 1e3,
        "gflops_per_image": gflops,
        "achieved_gflops_per_s": gflops / latency,
        "share_outside_conv": 1.0 - conv_share(functools.partial(predictor, image)),
    }
    if backends != ["eager"]:
        result["backend"] = backends[0]
    result["backends"] = {
        b: {"latency_ms": t * 1e3, **memory[b],
            **({"ratio_vs_official": t / official[0]} if official else {})}
        for b, t in per_backend.items()
    }  # fmt: skip
    result["backends"].update({b: {"refused": why} for b, why in refused.items()})
    if official:
        result["official_latency_ms"] = official[0] * 1e3
        result["official_onnx"] = args.official_onnx
        result["official_memory"] = memory["official"]
        if official_outside_conv is not None:
            result["official_share_outside_conv"] = official_outside_conv
        if "eager" in per_backend:  # the ratio if nothing but eager's convolutions took time
            conv_s = (1 - result["share_outside_conv"]) * per_backend["eager"]
            result["conv_floor_vs_official"] = conv_s / official[0]
        result["latency_ratio_vs_official"] = latency / official[0]
    if args.vs_yolact and args.clip <= 0:
        raise SystemExit("--vs-yolact needs --clip N")
    if args.clip > 0:
        result.update(clip_benchmark(cfg, predictor, args.clip))
    if args.vs_yolact:
        result.update(yolact_edge_vs_yolact(cfg, predictor, args.clip, args.iters))
    if args.train_iters > 0:
        step, result["train_data"] = train_step_time(cfg, 2, args.train_iters)
        if step is not None:
            result["train_step_s"] = step
        result["train_ims_per_batch"] = cfg.SOLVER.IMS_PER_BATCH
        if trainer_class(cfg) is TwoPlayerTrainer:
            result["train_step"] = "TwoPlayerStep.run_step: " + " then ".join(
                f"{p} (loss, backward, Adam)" for p in predictor.model.step_order
            )
    if args.data_workers is not None:
        result.update(data_loading_time(cfg, args.data_workers, args.warmup, args.data_batches))
        if "train_step_s" in result:
            result["loader_keeps_up_x"] = result["train_step_s"] / result["data_s_per_batch"]
    if device.startswith("cuda"):
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = args.output or os.path.join(cfg.OUTPUT_DIR, "benchmark.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    for k, v in result.items():
        if k != "backends":
            print(f"{k:>24}: {v:.4g}" if isinstance(v, float) else f"{k:>24}: {v}")
    print_backend_table(result)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
