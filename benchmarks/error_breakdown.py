"""Where a tracker's errors are on realtex: the scored samples split by what the point went through.

A sample is one (point, frame) pair the TAP-Vid metrics score as visible (query mode "first": a frame
after the point's query frame, ground truth visible). Each sample falls in some of these kinds:

- "never occluded": visible on every frame from its query frame up to this one;
- "re-appeared": occluded on some frame between its query frame and this one (the tracker had to
  find the point again);
- "near occluder": within `near_px` of a pixel an occluder painted in this frame;
- "near border": within `border_px` of the image's edge;
- "late query": the point's query frame is not the first frame (it entered the view or came out
  from behind an occluder).

Per kind: the share of all samples, the median error, the shares within 1, 2 and 4 px and beyond
16 px, and the share the tracker called occluded (a visible point called occluded is a miss for
the Jaccard). Errors and distances are on the 256x256 raster the thresholds assume.
"""

from __future__ import annotations

import cv2
import numpy as np

from rt_edge.evaluation.tapvid import RASTER, evaluation_mask

KINDS = ("all", "never occluded", "re-appeared", "near occluder", "near border", "late query")
NEAR_OCCLUDER_PX = 6.0
NEAR_BORDER_PX = 8.0
STATS = ("median_error", "within_1", "within_2", "within_4", "beyond_16", "called_occluded")


def sample_table(gt_tracks: np.ndarray, gt_occluded: np.ndarray, query_frames: np.ndarray,
                 occluder_masks: np.ndarray, pred_tracks: np.ndarray, pred_occluded: np.ndarray,
                 near_px: float = NEAR_OCCLUDER_PX, border_px: float = NEAR_BORDER_PX) -> dict[str, np.ndarray]:
    """The scored samples of one clip -> {"error", "called_occluded", one bool per KINDS}, each (S,).

    gt_tracks, pred_tracks (N, T, 2) (x, y) video px; gt_occluded, pred_occluded (N, T) bool;
    query_frames (N,) int; occluder_masks (T, H, W) bool, the pixels occluders painted.
    """
    gt, pred = np.asarray(gt_tracks, np.float64), np.asarray(pred_tracks, np.float64)
    occ, called = np.asarray(gt_occluded, bool), np.asarray(pred_occluded, bool)
    masks = np.asarray(occluder_masks, bool)
    q = np.asarray(query_frames, np.int64)
    N, T = occ.shape
    if gt.shape != (N, T, 2) or pred.shape != (N, T, 2) or called.shape != (N, T) or q.shape != (N,):
        raise ValueError(f"need tracks (N, T, 2) = {(N, T, 2)}, occluded (N, T), query_frames (N,); got gt "
                         f"{gt.shape}, pred {pred.shape}, pred_occluded {called.shape}, query_frames {q.shape}")
    if masks.ndim != 3 or len(masks) != T:
        raise ValueError(f"occluder_masks must be (T, H, W) with T = {T}, got {masks.shape}")
    H, W = masks.shape[1:]
    scale = np.array([RASTER / W, RASTER / H])
    after_query = evaluation_mask(q, T, "first")  # (N, T): the frames the metrics score
    scored = after_query & ~occ
    # hidden on some frame after the query up to t (t itself is visible wherever a sample is scored)
    seen_hidden = np.cumsum(occ & after_query, axis=1) > 0

    # distance from each frame's pixels to the nearest occluder pixel (inf where the frame has none)
    x = np.clip(np.round(gt[..., 0]).astype(np.int64), 0, W - 1)
    y = np.clip(np.round(gt[..., 1]).astype(np.int64), 0, H - 1)
    to_occluder = np.full((N, T), np.inf)
    for f in range(T):
        if masks[f].any():
            dist = cv2.distanceTransform((~masks[f]).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            to_occluder[:, f] = dist[y[:, f], x[:, f]] * RASTER / max(H, W)
    to_border = np.minimum(np.minimum(gt[..., 0], W - 1 - gt[..., 0]) * scale[0],
                           np.minimum(gt[..., 1], H - 1 - gt[..., 1]) * scale[1])

    kinds = {
        "all": np.ones((N, T), bool),
        "never occluded": ~seen_hidden,
        "re-appeared": seen_hidden,
        "near occluder": to_occluder < near_px,
        "near border": to_border < border_px,
        "late query": np.broadcast_to(q[:, None] > 0, (N, T)),
    }
    error = np.linalg.norm((pred - gt) * scale, axis=-1)
    return {"error": error[scored], "called_occluded": called[scored],
            **{k: v[scored] for k, v in kinds.items()}}


def summarize(tables: list[dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Sample tables of any number of clips -> {kind: {share, median_error, within_1, within_2, within_4,
    beyond_16, called_occluded}} (a kind with no sample has share 0 and NaN elsewhere)."""
    if not tables:
        raise ValueError("need at least one sample table")
    joined = {key: np.concatenate([tab[key] for tab in tables]) for key in tables[0]}
    out = {}
    for kind in KINDS:
        sel = joined[kind]
        err, called = joined["error"][sel], joined["called_occluded"][sel]
        if not len(err):
            out[kind] = {"share": 0.0, **dict.fromkeys(STATS, float("nan"))}
            continue
        out[kind] = {"share": len(err) / len(joined["error"]), "median_error": float(np.median(err)),
                     "within_1": float(np.mean(err < 1)), "within_2": float(np.mean(err < 2)),
                     "within_4": float(np.mean(err < 4)), "beyond_16": float(np.mean(err > 16)),
                     "called_occluded": float(np.mean(called))}
    return out


def format_breakdown(breakdowns: dict[str, dict[str, dict[str, float]]]) -> str:
    """{tracker: summarize(...)} -> a text table, one row per tracker and kind."""
    lines = [f"{'kind':<15} {'tracker':<10} {'share':>6} {'median':>7} "
             + " ".join(f"{h:>6}" for h in ("<1", "<2", "<4", ">16", "occ?"))]
    for kind in KINDS:
        for name, table in breakdowns.items():
            r = table[kind]
            lines.append(f"{kind:<15} {name:<10} {r['share']:6.3f} {r['median_error']:7.2f} {r['within_1']:6.3f} "
                         f"{r['within_2']:6.3f} {r['within_4']:6.3f} {r['beyond_16']:6.3f} {r['called_occluded']:6.3f}")
    return "\n".join(lines)
