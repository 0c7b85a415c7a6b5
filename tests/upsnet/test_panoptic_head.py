"""UPSNet's panoptic head and post-processing on hand-computed cases."""

import pytest
import torch
from detectron2.structures import Instances

from vision_plugins.upsnet.panoptic_head import (
    VOID,
    box_masks,
    heuristic_panoptic,
    integer_boxes,
    mask_matching,
    mask_removal,
    panoptic_logits,
    panoptic_segments,
    paste_mask_logits,
    vote_relabel,
)

T = torch.tensor


def test_integer_boxes_round_and_keep_one_pixel():
    b = integer_boxes(T([[0.4, 0.6, 2.4, 2.6], [3.2, 1.0, 3.3, 1.1]]))
    assert b.tolist() == [[0, 1, 2, 3], [3, 1, 4, 2]]


def test_paste_identity_size_and_rounding():
    logits = T([[[1.0, 2.0], [3.0, 4.0]]])
    out = paste_mask_logits(logits, T([[1.0, 1.0, 3.0, 3.0]]), 4, 4)
    expected = torch.zeros(4, 4)
    expected[1:3, 1:3] = logits[0]
    assert torch.equal(out[0], expected)
    out = paste_mask_logits(logits, T([[0.4, 0.6, 2.4, 2.6]]), 4, 4)  # -> (0, 1, 2, 3)
    expected = torch.zeros(4, 4)
    expected[1:3, 0:2] = logits[0]
    assert torch.equal(out[0], expected)


UPSAMPLED = T(  # [[0, 4], [8, 12]] resized bilinearly to 4x4, align_corners=False, by hand
    [[0.0, 1.0, 3.0, 4.0], [2.0, 3.0, 5.0, 6.0], [6.0, 7.0, 9.0, 10.0], [8.0, 9.0, 11.0, 12.0]]
)


def test_paste_bilinear_and_outside_image():
    logits = T([[[0.0, 4.0], [8.0, 12.0]]])
    out = paste_mask_logits(logits, T([[1.0, 0.0, 5.0, 4.0]]), 5, 6)
    assert torch.allclose(out[0, 0:4, 1:5], UPSAMPLED)
    assert out[0].sum() == UPSAMPLED.sum() and out[0, 4].abs().sum() == 0
    # box sticking out at the top-left: the resized mask is cut, not squeezed
    out = paste_mask_logits(logits, T([[-2.0, -2.0, 2.0, 2.0]]), 3, 3)
    assert torch.allclose(out[0, :2, :2], UPSAMPLED[2:, 2:])
    assert out[0, 2].abs().sum() == 0 and out[0, :, 2].abs().sum() == 0
    # a box entirely outside pastes nothing
    assert paste_mask_logits(logits, T([[10.0, 10.0, 12.0, 12.0]]), 3, 3).abs().sum() == 0


def _sem_logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 4, 5, generator=g)  # 2 stuff + 2 thing classes, 4x5 image


def test_instance_logit_is_cropped_semantic_plus_pasted_mask():
    sem = _sem_logits()
    boxes, classes = T([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 5.0, 4.0]]), T([1, 0])
    pasted = torch.arange(40, dtype=torch.float32).reshape(2, 4, 5) / 10
    pasted = pasted * box_masks(boxes, 4, 5)
    pan = panoptic_logits(sem, boxes, classes, pasted, num_stuff=2, with_void=False)
    assert pan.shape == (4, 4, 5)
    assert torch.equal(pan[:2], sem[:2])
    inside0 = torch.zeros(4, 5, dtype=torch.bool)
    inside0[0:3, 0:2] = True
    assert torch.equal(pan[2], torch.where(inside0, sem[3] + pasted[0], torch.zeros(4, 5)))
    inside1 = torch.zeros(4, 5, dtype=torch.bool)
    inside1[1:4, 1:5] = True
    assert torch.equal(pan[3], torch.where(inside1, sem[2] + pasted[1], torch.zeros(4, 5)))


def test_unknown_logit_formula():
    sem = torch.zeros(3, 2, 3)  # 1 stuff, 2 things
    sem[1] = T([[1.0, -2.0, 0.5], [3.0, -1.0, 2.0]])
    sem[2] = T([[0.0, -3.0, 1.5], [1.0, -4.0, 0.0]])
    masks = torch.zeros(2, 2, 3)
    # one instance of thing 0 on column 1 (negative logits there)
    pan = panoptic_logits(sem, T([[1.0, 0.0, 2.0, 2.0]]), T([0]), masks[:1], 1, with_void=True)
    max_thing = torch.maximum(sem[1], sem[2])
    cropped = torch.zeros(2, 3)
    cropped[:, 1] = sem[1, :, 1]
    assert torch.equal(pan[-1], max_thing - cropped)  # outside the box: the largest thing logit
    # a second instance elsewhere: the max runs over the stacked crops, whose zeros win at column 1
    pan = panoptic_logits(
        sem, T([[1.0, 0.0, 2.0, 2.0], [2.0, 0.0, 3.0, 2.0]]), T([0, 1]), masks, 1, True
    )
    stacked = torch.zeros(2, 2, 3)
    stacked[0, :, 1] = sem[1, :, 1]
    stacked[1, :, 2] = sem[2, :, 2]
    assert torch.equal(pan[-1], max_thing - stacked.max(0).values)
    assert torch.equal(pan[-1][:, 1], max_thing[:, 1])  # -2, -1 lose to the other crop's 0
    # no instance: unknown = largest thing logit
    pan = panoptic_logits(sem, torch.zeros(0, 4), T([], dtype=torch.long), masks[:0], 1, True)
    assert pan.shape == (2, 2, 3) and torch.equal(pan[-1], max_thing)


def test_mask_matching_dropped_instances_become_unknown():
    # stuff 0/1, things 2/3 (S=2); 255 ignored
    sem = T([[0, 0, 2, 2], [1, 3, 3, 255], [1, 2, 2, 255]])
    kept = torch.zeros(1, 3, 4, dtype=torch.bool)
    kept[0, 0, 2:4] = True  # instance A (class 2) kept; instances B (3) and C (2) dropped
    target = mask_matching(sem, kept, num_stuff=2, with_void=True)
    assert target.tolist() == [[0, 0, 2, 2], [1, 3, 3, VOID], [1, 3, 3, VOID]]
    target = mask_matching(sem, kept, num_stuff=2, with_void=False)
    assert target.tolist() == [[0, 0, 2, 2], [1, VOID, VOID, VOID], [1, VOID, VOID, VOID]]


def test_mask_removal_same_class_only():
    masks = torch.zeros(4, 10, 10, dtype=torch.bool)
    masks[0, 0:5, 0:10] = True  # A class 0, score 0.9: 50 px
    masks[1, 3:8, 0:10] = True  # B class 0, 0.8: 20 of 50 px inside A (40 %) -> removed
    masks[2, 0:5, 0:10] = True  # C class 1, 0.7: entirely inside A but another class -> kept
    masks[3, 4:9, 0:10] = True  # D class 0, 0.6: 10 of 50 inside A (20 %); B is gone -> kept
    keep = mask_removal(masks, T([0, 0, 1, 0]), T([0.9, 0.8, 0.7, 0.6]), overlap=0.3)
    assert keep.tolist() == [0, 2, 3]
    # by score, not by index
    keep = mask_removal(masks[:2], T([0, 0]), T([0.1, 0.8]), overlap=0.3)
    assert keep.tolist() == [1]
    empty = torch.zeros(1, 10, 10, dtype=torch.bool)
    assert mask_removal(empty, T([0]), T([0.9]), 0.3).tolist() == []


def test_vote_relabel():
    S = 2  # stuff 0, 1; things 0, 1 -> semantic 2, 3
    labels = torch.full((4, 5), 0)
    labels[0, :] = S + 0  # instance 0 (thing 0): 5 px
    labels[1, :] = S + 1  # instance 1 (thing 1): 5 px
    labels[2, :] = S + 2  # instance 2 (thing 0): 5 px
    sem = torch.zeros(4, 5, dtype=torch.long)
    sem[0] = T([1, 1, 1, 2, 3])  # majority stuff 1 with 60 % -> relabelled to stuff 1
    sem[1] = T([3, 3, 3, 1, 1])  # majority = its class -> kept
    sem[2] = T([3, 3, 1, 3, 2])  # majority another thing, stuff only 20 % -> kept
    out = vote_relabel(labels, sem, T([0, 1, 0]), S, thresh=0.5)
    expected = labels.clone()
    expected[0] = 1
    assert torch.equal(out, expected)


def test_panoptic_segments_small_stuff_to_void():
    labels = T([[0, 0, 0, 1], [2, 2, VOID, 1], [3, 3, 3, 0]])  # S=2; instances 0 (2) and 1 (3)
    pan, segs = panoptic_segments(labels, T([1, 0]), T([0.9, 0.8]), num_stuff=2, stuff_area_limit=3)
    assert pan.dtype == torch.int32
    assert pan.tolist() == [[3, 3, 3, 0], [1, 1, 0, 0], [2, 2, 2, 3]]  # stuff 1 (2 px) -> void
    assert [(s["id"], s["isthing"], s["category_id"]) for s in segs] == [
        (1, True, 1),
        (2, True, 0),
        (3, False, 0),
    ]
    assert segs[0]["score"] == pytest.approx(0.9) and segs[2]["area"] == 4


def test_heuristic_baseline_maps_stuff_ids_back():
    sem = torch.zeros(4, 4, 4)  # 2 stuff, 2 things
    sem[0, :2] = 5.0
    sem[1, 2:] = 5.0
    sem[2, 1:3, 1:3] = 9.0
    inst = Instances((4, 4))
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 1:3, 1:3] = True
    inst.pred_masks, inst.scores, inst.pred_classes = mask, T([0.9]), T([0])
    pan, segs = heuristic_panoptic(inst, sem, 2, 0.5, 1, 0.5)
    assert [(s["isthing"], s["category_id"]) for s in segs] == [(True, 0), (False, 0), (False, 1)]
    assert pan[0, 0] == 2 and pan[3, 3] == 3 and pan[1, 1] == 1
