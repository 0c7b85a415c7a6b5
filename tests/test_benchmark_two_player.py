"""tools/benchmark.py on two-player (GAN) models: one whole ``TwoPlayerStep`` timed as the
training step, the generator latency, FLOPs of the eval model, and random training images at
the crop size when DATASETS.TRAIN cannot be loaded (tiny inputs, random weights)."""

from tests.tool_scripts import run_benchmark

CONFIG = "configs/Pix2Pix/pix2pix_unet64_synth.yaml"
TINY = ["--threads", "1", "--warmup", "0", "--iters", "1", "--train-iters", "1"]


def _run(tmp_path, *opts):
    return run_benchmark(tmp_path, CONFIG, *TINY, *opts)


def test_benchmark_times_the_two_player_step(tmp_path):
    result = _run(tmp_path, "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2")
    assert result["input_hw"] == [64, 128]  # the first test image (an A|B pair)
    assert result["inference_latency_ms"] > 0 and result["train_step_s"] > 0
    assert result["gflops_per_image"] > 0.001  # U-Net 64 (ngf 8) at 64²: ~7 MFLOPs
    assert result["train_data"] == "DATASETS.TRAIN ['vp_pix2pix_train']"
    assert result["train_step"] == (
        "TwoPlayerStep.run_step: D (loss, backward, Adam) then G (loss, backward, Adam)"
    )
    assert result["train_ims_per_batch"] == 2
    assert result["peak_rss_mb"] > 100


def test_benchmark_trains_on_random_crops_when_the_training_set_is_missing(tmp_path):
    result = _run(
        tmp_path, "--input-size", "64", "DATASETS.TRAIN", "('vp_no_such_set',)",
        "SOLVER.IMS_PER_BATCH", "1",
    )  # fmt: skip
    assert result["train_step_s"] > 0
    assert result["train_data"].startswith(
        "synthetic: random images at INPUT.GAN.CROP_SIZE 64x64 (DATASETS.TRAIN "
        "['vp_no_such_set'] cannot be loaded: KeyError"
    )


def test_benchmark_times_a_one_player_model(tmp_path):
    """A generator trained alone (SuperResolution, MSE): one optimizer in the step."""
    result = run_benchmark(
        tmp_path, "configs/SuperResolution/msrresnet_small_mse_vp_sr.yaml", *TINY,
        "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2",
    )  # fmt: skip
    assert result["train_step_s"] > 0 and result["inference_latency_ms"] > 0
    assert result["train_step"] == "TwoPlayerStep.run_step: G (loss, backward, Adam)"
    assert result["train_data"] == "DATASETS.TRAIN ['vp_sr_train']"
