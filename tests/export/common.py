"""Shared checks of the export tests: every backend of an ``Exportable`` against eager, on the
graph outputs (each graph's stated tolerance) and on the final outputs (the architecture's
comparison)."""

import os

import numpy as np
import pytest
import torch

from vision_plugins.data.image_io import read_image
from vision_plugins.export import check_against_eager, deploy_missing, export_model
from vision_plugins.export.backends import inductor_missing, load_backend

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHOTOS = os.path.normpath(os.path.join(REPO, "..", "shared", "real", "photos"))
PHOTO = os.path.join(PHOTOS, "17790319373_bd19b24cfc_k.jpg")
requires_photos = pytest.mark.skipif(
    not os.path.isfile(PHOTO), reason=f"real photos not found at {PHOTOS}"
)
KIND = {"torchscript": "torchscript", "onnx": "onnxruntime"}


def photo_bgr(width=None):
    """The real photo (600 px high), resized to ``width`` px wide keeping its aspect if given."""
    import cv2

    image = read_image(PHOTO, format="BGR")
    if width:
        h, w = image.shape[:2]
        image = cv2.resize(image, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def _recording(run, log):
    def recorded(name, *tensors):
        out = run(name, *tensors)
        log.append((name, tensors, out))
        return out

    return recorded


def backends_match_eager(model, exportable, batched_inputs, tmp_path, compare, formats=None,
                         inductor=False):  # fmt: skip
    """Export ``exportable`` to each format (default: all it supports; ONNX skipped with a reason
    without the deploy extra) and (``inductor``) compile it with the ``inductor`` backend
    (results under "inductor"; skipped without a C++ compiler), then for every input list in
    ``batched_inputs``:
    - the exportable on the eager graphs gives ``model``'s own outputs (``compare``);
    - every graph call, replayed in the backend, gives the eager graph outputs within the graph's
      rtol / atol (integer outputs equal);
    - the backend's final outputs equal eager's (``compare(got, want)``).
    Returns ``{format: [final outputs per input list]}``."""
    formats = formats or exportable.formats
    results = {}
    with torch.no_grad():
        eager = []
        for inputs in batched_inputs:
            log = []
            out = exportable(inputs, _recording(exportable.run_eager, log))
            compare(out, model(inputs))
            eager.append((out, log))
    for fmt in list(formats) + (["inductor"] if inductor and not inductor_missing() else []):
        if fmt == "onnx" and deploy_missing():
            continue
        if fmt == "inductor":
            backend = load_backend("inductor", exportable)
        else:
            directory = os.path.join(str(tmp_path), fmt)
            export_model(exportable, fmt, directory)
            backend = load_backend(KIND[fmt], exportable, directory)
        results[fmt] = []
        for inputs, (want, log) in zip(batched_inputs, eager):
            for name, tensors, expected in log:
                graph = exportable.graph(name)
                check_against_eager(
                    lambda *t: backend.run(name, *t), lambda *t: expected, tensors,
                    f"{name} ({fmt})", graph.rtol, graph.atol, graph.ranked, graph.rtol_of_max,
                )  # fmt: skip
            got = exportable(inputs, backend.run)
            compare(got, want)
            results[fmt].append(got)
    if deploy_missing() and "onnx" in (formats or ()):
        pytest.skip(f"TorchScript checked; ONNX not: {deploy_missing()}")
    if inductor and inductor_missing():
        pytest.skip(f"exported formats checked; backend inductor not: {inductor_missing()}")
    return results


def pair_detections(a, b, box_atol, score_atol=1e-4):
    """Indices pairing detections of Instances ``a`` with ``b`` one-to-one, never by rank (near-
    equal scores may swap order): greedily by the cost box L-inf / ``box_atol`` + score
    difference / ``score_atol`` (boxes clipped to the image can coincide), same class, box
    within ``box_atol``. Returns ``(ia, ib)``."""
    empty = torch.zeros(0, dtype=torch.long)
    if len(a) == 0 or len(b) == 0:
        return empty, empty
    box = (a.pred_boxes.tensor[:, None] - b.pred_boxes.tensor[None]).abs().amax(-1)
    cost = box / box_atol + (a.scores[:, None] - b.scores[None]).abs() / score_atol
    cost[(box > box_atol) | (a.pred_classes[:, None] != b.pred_classes[None])] = float("inf")
    ia, ib, used_a, used_b = [], [], set(), set()
    flat = cost.flatten()
    for k in torch.argsort(flat).tolist():
        if not torch.isfinite(flat[k]):
            break
        i, j = divmod(k, len(b))
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            ia.append(i)
            ib.append(j)
    return torch.tensor(ia, dtype=torch.long), torch.tensor(ib, dtype=torch.long)


def assert_instances_equal(got, want, box_atol=1e-2, score_atol=1e-4, kp_atol=1e-2, unpaired=0):
    """Same detections: paired by nearest box (:func:`pair_detections`), all paired but at most
    ``unpaired`` per image (a candidate whose NMS / top-k decision flips on a rounding
    difference), scores and keypoints (if any) of the pairs within tolerance."""
    assert len(got) == len(want), (len(got), len(want))
    for a, b in zip(got, want):
        a, b = a["instances"], b["instances"]
        ia, ib = pair_detections(a, b, box_atol, score_atol)
        assert (
            len(a) - len(ia) <= unpaired and len(b) - len(ib) <= unpaired
        ), f"{len(a)} vs {len(b)} detections, {len(ia)} paired"
        torch.testing.assert_close(a.scores[ia], b.scores[ib], rtol=0, atol=score_atol)
        if b.has("pred_keypoints"):
            torch.testing.assert_close(
                a.pred_keypoints[ia], b.pred_keypoints[ib], rtol=0, atol=kp_atol
            )


def same_pixels(got, want, atol=5e-3):
    """``compare`` of image outputs (``backends_match_eager``): the same keys per image, every
    pixel within ``atol`` (of 0..255) of eager's."""
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert sorted(a) == sorted(b)
        for k in b:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol)
