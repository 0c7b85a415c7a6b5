"""``StackedHourglassPose``: single-person top-down pose by heatmap classification."""

import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.structures import Boxes, Instances
from torch import nn

from ..layers import ImagePreprocessor
from ..layers.heatmaps import decode_heatmaps_quarter_offset, flip_average_heatmaps

__all__ = ["StackedHourglassPose", "crop_to_image"]


def crop_to_image(points, crop_boxes, input_res):
    """(N, K, 2) network-input pixels -> original image pixels through each sample's
    ``crop_box`` [x1, y1, x2, y2] (the square the mapper warped to ``input_res``²)."""
    boxes = torch.as_tensor(crop_boxes, dtype=points.dtype, device=points.device).view(-1, 1, 4)
    scale = (boxes[..., 2:] - boxes[..., :2]) / input_res
    return boxes[..., :2] + points * scale


@META_ARCH_REGISTRY.register()
class StackedHourglassPose(ImagePreprocessor):
    """Newell et al.'s Stacked Hourglass on top-down person crops (see TopDownPoseMapper).

    Training: mean over stacks of each stack's MSE to the Gaussian targets (intermediate
    supervision, as official). Inference: the last stack's heatmaps (averaged with those of the
    mirrored input when FLIP_TEST, as official: no 1-px shift, clipped at 1), decoded by 3×3 NMS
    + argmax + a quarter-pixel shift towards the higher neighbour + 0.5, scaled to input pixels and
    mapped back to the original image. Output: one ``Instances`` per sample with
    ``pred_keypoints`` (1, K, 3: x, y, peak), ``pred_heatmaps`` (1, K, R, R), ``scores`` (mean
    peak) and ``pred_boxes`` (the crop box).
    """

    @configurable
    def __init__(self, *, backbone, pixel_mean, pixel_std, input_res, flip_test, flip_indices):
        super().__init__()
        self.backbone = backbone
        self.register_pixel_stats(pixel_mean, pixel_std)
        self.input_res = input_res
        self.flip_test = flip_test
        self.flip_indices = flip_indices

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.POSE_HOURGLASS
        names = list(cfg.DATASETS.TEST) or list(cfg.DATASETS.TRAIN)
        flip = utils.create_keypoint_hflip_indices(names) if c.FLIP_TEST else None
        return {
            "backbone": build_backbone(cfg),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "input_res": c.INPUT_RES,
            "flip_test": c.FLIP_TEST,
            "flip_indices": flip,
        }

    def preprocess_image(self, batched_inputs):
        """The normalised (N, C, INPUT_RES, INPUT_RES) batch of crops."""
        images = super().preprocess_image(batched_inputs)
        for size in images.image_sizes:
            if tuple(size) != (self.input_res, self.input_res):
                raise ValueError(
                    f"StackedHourglassPose expects {self.input_res}x{self.input_res} crops (use "
                    f"TopDownPoseMapper / Predictor), got {tuple(size)}"
                )
        return images.tensor

    def forward(self, batched_inputs):
        images = self.preprocess_image(batched_inputs)
        if self.training:
            target = torch.stack([x["gt_heatmaps"].to(self.device) for x in batched_inputs])
            per_stack = [((hm - target) ** 2).mean() for hm in self.backbone(images).values()]
            return {"loss_heatmap": torch.stack(per_stack).mean()}
        return self.postprocess_decoded(batched_inputs, *self.inference_raw(images))

    def inference_raw(self, images):
        """Normalised crops (N, C, R, R) -> ``(xy, scores, heatmaps)``: joints (N, K, 2) in
        input-crop pixels, their peaks (N, K) and the last stack's heatmaps (flip-averaged
        with FLIP_TEST). The exported graph (``vision_plugins/pose_hourglass/export.py``)."""
        n = len(images)
        if self.flip_test:  # the images and their mirrors in one batch
            images = torch.cat([images, images.flip(-1)])
        heatmaps = self.backbone(images)[self.backbone._out_features[-1]]
        if self.flip_test:
            heatmaps = flip_average_heatmaps(heatmaps[:n], heatmaps[n:], self.flip_indices)
        return (*self.decode(heatmaps), heatmaps)

    def decode(self, heatmaps):
        """Heatmaps -> joints (N, K, 2) in input-crop pixels and their peaks (N, K)."""
        xy, peaks = decode_heatmaps_quarter_offset(heatmaps)
        return xy * (self.input_res / heatmaps.shape[-1]), peaks

    def postprocess(self, heatmaps, batched_inputs):
        """:meth:`postprocess_decoded` of the :meth:`decode`-d ``heatmaps``."""
        return self.postprocess_decoded(batched_inputs, *self.decode(heatmaps), heatmaps)

    def postprocess_decoded(self, batched_inputs, xy, scores, heatmaps=None):
        """The one post-processing of the eager and exported paths: joints in crop pixels ->
        original image pixels through each input's crop box, one ``Instances`` per input."""
        boxes = [self._crop_box(x) for x in batched_inputs]
        xy = crop_to_image(xy, boxes, self.input_res)
        return [
            {"instances": self._instances(x, xy[i], scores[i], boxes[i],
                                          None if heatmaps is None else heatmaps[i])}
            for i, x in enumerate(batched_inputs)
        ]  # fmt: skip

    @staticmethod
    def _crop_box(x):
        """The mapper's crop, else the whole image as a centred square (the Predictor's input)."""
        if "crop_box" in x:
            return x["crop_box"]
        h, w = x["height"], x["width"]
        s = max(h, w)
        return [(w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2]

    @staticmethod
    def _instances(x, xy, scores, box, heatmaps=None):
        inst = Instances((x["height"], x["width"]))
        inst.pred_keypoints = torch.cat([xy, scores[:, None].to(xy)], dim=1)[None]
        if heatmaps is not None:
            inst.pred_heatmaps = heatmaps[None]
        inst.scores = scores.mean()[None].to(xy)
        inst.pred_boxes = Boxes(torch.as_tensor([box], dtype=xy.dtype, device=xy.device))
        inst.pred_classes = torch.zeros(1, dtype=torch.int64, device=xy.device)
        return inst


@META_ARCH_REGISTRY.register()
class KeypointRegressionPose(StackedHourglassPose):
    """The coordinate-regression baseline: the same hourglass backbone and crops, but the joints
    are regressed directly — global average pooling of the last stack's features, one linear
    layer to 2K normalised coordinates (x / INPUT_RES, y / INPUT_RES), L1 loss on annotated
    joints. Same outputs as StackedHourglassPose (scores 1, no heatmaps)."""

    @configurable
    def __init__(self, *, num_keypoints, **kwargs):
        super().__init__(**kwargs)
        channels = self.backbone.feature_channels
        self.regressor = nn.Linear(channels, 2 * num_keypoints)
        self.num_keypoints = num_keypoints

    @classmethod
    def from_config(cls, cfg):
        return {**super().from_config(cfg), "num_keypoints": cfg.MODEL.POSE_HOURGLASS.OUP_DIM}

    def _regress(self, images):
        _, feature = self.backbone.forward_features(images)
        coords = self.regressor(feature.mean(dim=(2, 3)))
        return coords.view(-1, self.num_keypoints, 2)

    def forward(self, batched_inputs):
        images = self.preprocess_image(batched_inputs)
        if self.training:
            coords = self._regress(images)
            gt = torch.stack([x["gt_keypoints"].to(self.device) for x in batched_inputs])
            weight = (gt[..., 2:] > 0).to(coords.dtype)
            loss = (weight * (coords - gt[..., :2] / self.input_res).abs()).sum()
            return {"loss_keypoint_l1": loss / weight.sum().clamp(min=1) / 2}
        return self.postprocess_decoded(batched_inputs, *self.inference_raw(images))

    def inference_raw(self, images):
        """Normalised crops -> ``(xy, scores)``: joints (N, K, 2) in input-crop pixels (flip
        averaged with FLIP_TEST, clamped to the crop: a joint is somewhere in its crop) and
        scores 1. The exported graph."""
        n = len(images)
        if self.flip_test:  # the images and their mirrors in one batch
            images = torch.cat([images, images.flip(-1)])
        coords = self._regress(images)
        if self.flip_test:
            mirrored = coords[n:, self.flip_indices]
            mirrored = torch.stack([1 - mirrored[..., 0], mirrored[..., 1]], dim=-1)
            coords = (coords[:n] + mirrored) / 2
        xy = coords.clamp(0, 1) * self.input_res
        return xy, torch.ones_like(xy[..., 0])
