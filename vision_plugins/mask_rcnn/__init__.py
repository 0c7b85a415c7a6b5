"""Mask R-CNN (+ keypoint branch): detectron2's own ``GeneralizedRCNN``, declared to the project
by its spec (class / keypoint count checks, detectron2's test transform)."""

from . import spec  # noqa: F401  (registration)
