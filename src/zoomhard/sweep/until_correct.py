"""`--until-correct`: each image tries the transforms in a learned order and stops at its first
correct one: the same upper bound as the full sweep for a fraction of the work.

    learned_order(): a previous run's greedy min-cover first, then default_order()
    until_correct(): blocks of images through that order in stages (UNTIL_CORRECT_STAGES);
                     after each stage the solved images drop out, and each block is written as
                     one part once all its images are settled
"""

from __future__ import annotations

import math
from typing import Iterator

from .. import analysis
from ..crops import device_grid_crops, grid_crops, zoom_crops
from ..data import Item
from ..errors import UsageError
from ..grid import Zoom, ZoomGrid
from ..pipeline import Batcher, Prepared, grid_prefetch, image_crops
from .rows import scored
from .session import Session

# Transforms tried per image before each check under --until-correct (cumulative ends).
UNTIL_CORRECT_STAGES = (1, 9, 36, 108)


def until_correct(session: Session, todo: Iterator[Item], order: list[Zoom], resize: str, batcher: Batcher) -> None:
    """Blocks of images go through the order in stages; after each stage the solved images
    drop out. Each block is written as one part once all its images are settled."""
    cfg, classifier, space = session.cfg, session.classifier, session.space
    ends = [e for e in UNTIL_CORRECT_STAGES if e < len(order)] + [len(order)]
    block_size = max(1, cfg.batch_size // 4)
    mode = "array" if resize == "device" else "image"

    def crop_fn(data, grid, scales):
        if resize == "device":
            return device_grid_crops(data, grid, classifier.device, scales)
        return grid_crops(data, grid, scales)

    block: list[Prepared] = []
    for p in _with_end(grid_prefetch(todo, cfg.grid, cfg.workers, mode)):
        if p is not None:
            if p.ok:
                block.append(p)
            else:
                session.unusable(p.item.image_id, p.reason, p.fault)
        if block and (p is None or len(block) == block_size):
            results, unsolved, start = [], block, 0
            for end in ends:
                stage = []
                for u in unsolved:
                    zooms = order[start:end]
                    im = image_crops(u, zoom_crops(u.data, zooms, cfg.grid, crop_fn), classifier.num_classes, zooms)
                    stage.append(im)
                    batcher.add(im)
                batcher.run()
                stage = [scored(im, space) for im in stage]
                results += stage
                solved = {im.item.image_id for im in stage if im.scores["correct"].any()}
                unsolved = [u for u in unsolved if u.item.image_id not in solved]
                start = end
                if not unsolved:
                    break
            session.finished(results, images=len(block))
            session.flush()   # the block as one part
            block = []


def _with_end(stream: Iterator) -> Iterator:
    yield from stream
    yield None


def default_order(grid: ZoomGrid) -> list[Zoom]:
    """Centre first, by distance of the scale from the standard's: the order that finds a
    correct transform soonest on data where the standard crop is often right."""
    std = grid.standard

    def key(z: Zoom):
        return (z.row, z.col) != (std.row, std.col), abs(math.log(z.scale / std.scale)), z

    return sorted(grid, key=key)


def learned_order(grid: ZoomGrid, analysis_json: str | None) -> list[Zoom]:
    """A previous run's greedy min-cover first, then the rest in the default order."""
    rest = default_order(grid)
    if not analysis_json:
        return rest
    try:
        cover = analysis.read_min_cover(analysis_json)
    except ValueError as e:
        raise UsageError(f"--order {e}") from None
    cover = [z for z in dict.fromkeys(cover) if z in grid]
    return cover + [z for z in rest if z not in set(cover)]
