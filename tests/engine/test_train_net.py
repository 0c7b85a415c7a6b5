"""End to end through tools/train_net.py: train, --eval-only, --resume, 2 CPU processes."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"
TINY = [
    "SOLVER.IMS_PER_BATCH", "2",
    "SOLVER.BASE_LR", "0.005",
    "SOLVER.WARMUP_ITERS", "1",
    "DATALOADER.NUM_WORKERS", "0",
    "TEST.DETECTIONS_PER_IMAGE", "5",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "20",
]  # fmt: skip


def run_train_net(*args, check=True):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "tools/train_net.py", "--config-file", CONFIG, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"train_net failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def _iterations(out_dir):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return [json.loads(line)["iteration"] for line in f if '"total_loss"' in line]


def test_train_then_eval_only(tmp_path):
    out = str(tmp_path / "run")
    run_train_net(*["SOLVER.MAX_ITER", "4", "DATASETS.TEST", "()", "OUTPUT_DIR", out], *TINY)
    assert os.path.isfile(os.path.join(out, "model_final.pth"))
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))
    assert _iterations(out)[-1] == 3
    proc = run_train_net(
        "--eval-only", *TINY, "MODEL.WEIGHTS", os.path.join(out, "model_final.pth"),
        "OUTPUT_DIR", out,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    assert "Evaluation results for bbox" in log and "Evaluation results for segm" in log
    assert os.path.isfile(
        os.path.join(out, "inference", "vp_shapes_val", "coco_instances_results.json")
    )


def test_resume_continues_at_the_right_iteration(tmp_path):
    out = str(tmp_path / "run")
    # an "interrupted" 8-iteration run: it stopped after the checkpoint of iteration 3 (0-based)
    common = ["SOLVER.CHECKPOINT_PERIOD", "4", "DATASETS.TEST", "()", "OUTPUT_DIR", out, *TINY]
    run_train_net("SOLVER.MAX_ITER", "4", *common)
    os.remove(os.path.join(out, "model_final.pth"))
    with open(os.path.join(out, "last_checkpoint"), "w") as f:
        f.write("model_0000003.pth")
    os.remove(os.path.join(out, "metrics.json"))
    proc = run_train_net("--resume", "SOLVER.MAX_ITER", "8", *common)
    assert "continuing at iteration 4" in proc.stdout + proc.stderr
    iterations = _iterations(out)
    assert min(iterations) >= 4 and iterations[-1] == 7


def test_resume_without_checkpoint_says_so(tmp_path):
    out = str(tmp_path / "fresh")
    proc = run_train_net(
        "--resume", "SOLVER.MAX_ITER", "1", "DATASETS.TEST", "()", "OUTPUT_DIR", out, *TINY
    )
    assert "no checkpoint to resume from" in proc.stdout + proc.stderr


def test_unknown_dataset_lists_synthetic_names(tmp_path):
    proc = run_train_net(
        "DATASETS.TRAIN", "('vp_nope_train',)", "OUTPUT_DIR", str(tmp_path), *TINY, check=False
    )
    assert proc.returncode != 0
    assert "vp_nope_train" in proc.stderr and "vp_shapes_train" in proc.stderr


def test_two_cpu_processes(tmp_path):
    out = str(tmp_path / "ddp")
    proc = run_train_net(
        "--num-gpus", "2", "SOLVER.MAX_ITER", "3", "DATASETS.TEST", "()", "OUTPUT_DIR", out, *TINY
    )
    log = proc.stdout + proc.stderr
    assert "Rank of current process: 0. World size: 2" in log
    with open(os.path.join(out, "log.txt.rank1")) as f:  # the second process logs to its file
        assert "Rank of current process: 1. World size: 2" in f.read()
    assert _iterations(out)[-1] == 2


def test_too_many_processes_is_explained(tmp_path):
    proc = run_train_net("--num-gpus", "64", "OUTPUT_DIR", str(tmp_path), check=False)
    assert proc.returncode != 0 and "--num-gpus" in proc.stderr and "cores" in proc.stderr
