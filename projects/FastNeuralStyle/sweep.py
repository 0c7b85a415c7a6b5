"""Content / style weight sweep of the small config (projects/FastNeuralStyle/README.md):
one tools/train_net.py run per (CONTENT_WEIGHT, STYLE_WEIGHT), seed 0, one thread, then the last
``style/*`` evaluation of each run as a Markdown table.

    OMP_NUM_THREADS=1 python projects/FastNeuralStyle/sweep.py OUT_DIR [ITERS [INDICES]]

INDICES (e.g. ``0,2``) runs only those settings (to split the sweep over processes); the table
lists every finished run.
"""

import json
import os
import subprocess
import sys

CONFIG = "configs/FastNeuralStyle/fast_neural_style_synth.yaml"
SETTINGS = [(1e5, 1e10), (1e5, 1e9), (1e5, 1e11), (1e4, 1e10), (1e6, 1e10)]
KEYS = ("gram_distance", "gram_ratio", "content_distance", "content_relative")


def last_eval(out_dir):
    rows = [
        json.loads(line) for line in open(os.path.join(out_dir, "metrics.json")) if line.strip()
    ]
    rows = [r for r in rows if "style/gram_ratio" in r]
    return {k.split("/", 1)[1]: v for k, v in rows[-1].items() if k.startswith("style/")}


def main(out_root, iters="300", indices=None):
    table = []
    os.makedirs(out_root, exist_ok=True)
    todo = range(len(SETTINGS)) if indices is None else [int(i) for i in indices.split(",")]
    for i, (content, style) in enumerate(SETTINGS):
        out = os.path.join(out_root, f"c{content:.0e}_s{style:.0e}")
        if i in todo and not os.path.isfile(os.path.join(out, "model_final.pth")):
            cmd = [sys.executable, "tools/train_net.py", "--config-file", CONFIG, "OUTPUT_DIR", out,
                   "SEED", "0", "MODEL.DEVICE", "cpu", "SOLVER.MAX_ITER", iters,
                   "TEST.EVAL_PERIOD", iters, "SOLVER.CHECKPOINT_PERIOD", iters,
                   "MODEL.PERCEPTUAL.CONTENT_WEIGHT", str(content),
                   "MODEL.PERCEPTUAL.STYLE_WEIGHT", str(style)]  # fmt: skip
            with open(os.path.join(out_root, f"c{content:.0e}_s{style:.0e}.log"), "w") as log:
                subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        if not os.path.isfile(os.path.join(out, "metrics.json")):
            continue
        res = last_eval(out)
        table.append((content, style, res))
    print("| CONTENT_WEIGHT | STYLE_WEIGHT | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for content, style, res in table:
        print(
            f"| {content:.0e} | {style:.0e} | " + " | ".join(f"{res[k]:.3g}" for k in KEYS) + " |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
