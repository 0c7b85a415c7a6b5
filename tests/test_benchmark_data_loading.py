"""tools/benchmark.py --data-workers: the config's training data loader (its train mapper) timed
at a chosen number of workers, and the ratio to the training step (tiny inputs)."""

from tests.tool_scripts import run_benchmark

CONFIG = "configs/StackedHourglass/shg_2stack_synth_pose_mpii.yaml"
TINY = ["--threads", "1", "--warmup", "1", "--iters", "1", "--train-iters", "1"]
SMALL = ["MODEL.POSE_HOURGLASS.INP_DIM", "16", "MODEL.POSE_HOURGLASS.INPUT_RES", "64",
         "MODEL.POSE_HOURGLASS.OUTPUT_RES", "16", "SOLVER.IMS_PER_BATCH", "2"]  # fmt: skip


def _run(tmp_path, *opts):
    return run_benchmark(tmp_path, CONFIG, *TINY, *opts)


def test_data_workers_times_the_train_loader_against_the_step(tmp_path):
    result = _run(
        tmp_path, "--data-workers", "1", "--data-batches", "4", "DATALOADER.NUM_WORKERS", "0",
        *SMALL,
    )  # fmt: skip
    assert result["data_workers"] == 1  # the option, not the config's NUM_WORKERS
    assert result["data_mapper"] == "TopDownPoseMapper"
    assert result["data_train_datasets"] == ["vp_pose_mpii_train"]
    assert result["data_s_per_batch"] > 0 and result["data_first_batches_s"] > 0
    # 2 images per batch: images/s = 2 / (s per batch) over the same batches
    assert abs(result["data_images_per_s"] * result["data_s_per_batch"] - 2) < 1e-6
    assert result["loader_keeps_up_x"] == result["train_step_s"] / result["data_s_per_batch"]


def test_data_loading_is_optional(tmp_path):
    result = _run(tmp_path, "--train-iters", "0", "DATALOADER.NUM_WORKERS", "0", *SMALL)
    assert not any(k.startswith("data_") for k in result) and "loader_keeps_up_x" not in result
