"""The one record of an annotated object through a video (:class:`Sequence`) and a named list of them
(:class:`Dataset`).

Every reader returns these; training samples pairs from them, evaluation runs and scores trackers on them.

Frame alignment: ``boxes[i]`` belongs to ``frames[i]`` (and to line ``i`` of a result file). Leading frames without
a usable box are not part of a sequence (OTB's ``startFrame``), so frame 0 always carries the initial box.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cached_property

import numpy as np

from ..errors import SiamcanError
from ..geometry import polygon_to_init_rect, polygons_to_rects


@dataclass(eq=False)
class Sequence:
    """One annotated object through a video (or one image: a detection dataset's object). Records compare by
    identity (training draws distractors as "another track than this one").

    ``boxes`` (N, 4) ``x, y, w, h`` (top-left, pixels of the stored image), a NaN row where the object is not
    annotated. The optional fields are those some formats have:

    * ``polygons`` (N, 8): VOT polygon ground truth (``boxes`` then holds each polygon's axis-aligned box, SPEC §5);
    * ``absent`` (N,) bool: frames where the target is annotated as not visible (LaSOT full occlusion / out of view,
      GOT-10k ``absence.label`` / ``cover.label`` 0, pysot JSON ``absent``): never sampled for training, left out of
      the one-pass curves when the dataset says so (``Dataset.exclude_absent``); their box, if any, is kept;
    * ``tags``: per-frame 0/1 arrays (VOT), ``attributes``: sequence-level labels (OTB/UAV ``attr``, LaSOT class);
    * ``width`` / ``height``: image size (read from the first image when not given);
    * ``scorable``: False when only the first box is public (GOT-10k test);
    * ``aliases``: other result-file names (a pysot JSON key such as ``jogging_1``);
    * ``crop511``: the frames are pysot 511 crops centred on the target (training data in pysot's crop layout).
    """

    name: str
    frames: list[str]
    boxes: np.ndarray
    polygons: np.ndarray | None = None
    absent: np.ndarray | None = None
    attributes: list[str] = field(default_factory=list)
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    scorable: bool = True
    aliases: tuple[str, ...] = ()
    crop511: bool = False

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=float)
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise SiamcanError(f"sequence {self.name}: boxes must be (N, 4) x,y,w,h, got shape {self.boxes.shape}"
                               + (" (pass VOT polygons as polygons=)" if self.boxes.shape[-1:] == (8,) else ""))

    @classmethod
    def from_regions(cls, name: str, frames: list[str], regions: np.ndarray, **kw) -> "Sequence":
        """A sequence from (N, 4) boxes or (N, 8) VOT polygons (the boxes are then the polygons' axis-aligned boxes)."""
        regions = np.asarray(regions, dtype=float)
        if regions.ndim == 2 and regions.shape[1] == 8:
            return cls(name, frames, polygons_to_rects(regions), polygons=regions, **kw)
        return cls(name, frames, regions, **kw)

    def __len__(self) -> int:
        return len(self.boxes)

    # ------------------------------------------------------------------------------------------- evaluation
    @property
    def gt(self) -> np.ndarray:
        """The ground truth trackers are scored against: the VOT polygons, else the boxes."""
        return self.boxes if self.polygons is None else self.polygons

    @property
    def is_polygon(self) -> bool:
        return self.polygons is not None

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as BGR uint8 (``cv2.imread``, without libjpeg's own messages)."""
        from ..decoders import imread

        img = imread(self.frames[i])
        if img is None:
            raise SiamcanError(f"sequence {self.name}: cannot read frame {i + 1}: {self.frames[i]}")
        return img

    def size(self) -> tuple[int, int]:
        """Image ``(width, height)``, from the annotation or the first image."""
        if self.width is None or self.height is None:
            h, w = self.frame(0).shape[:2]
            self.width, self.height = int(w), int(h)
        return int(self.width), int(self.height)

    def init_box(self, i: int = 0) -> list[float]:
        """Axis-aligned ``x, y, w, h`` init box of frame ``i`` (polygons: SPEC §5 conversion)."""
        return polygon_to_init_rect(self.gt[i])

    # ------------------------------------------------------------------------------------------- training
    def annotated(self) -> np.ndarray:
        """(N,) bool: frames with a usable box (finite; positive width and height unless a polygon)."""
        if self.polygons is not None:
            return np.isfinite(self.polygons).all(axis=1)
        b = self.boxes
        return np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)

    @cached_property
    def valid(self) -> np.ndarray:
        """(N,) bool: frames a training pair may use (annotated and not absent)."""
        ok = self.annotated()
        return ok & ~self.absent if self.absent is not None else ok

    def valid_index(self) -> np.ndarray:
        return np.flatnonzero(self.valid)

    # ------------------------------------------------------------------------------------------- slicing
    def cut(self, start: int, stop: int | None = None) -> "Sequence":
        """Frames ``start:stop`` with every per-frame field (boxes, polygons, absent flags, tags) cut alike."""
        s = slice(start, stop)
        return replace(self, frames=self.frames[s], boxes=self.boxes[s],
                       polygons=None if self.polygons is None else self.polygons[s],
                       absent=None if self.absent is None else self.absent[s],
                       tags={k: v[s] for k, v in self.tags.items()})

    def as_kwargs(self) -> dict:
        """The record's fields as keyword arguments (a subclass built from it: ``tuning.InMemorySequence``)."""
        return {f.name: getattr(self, f.name) for f in fields(Sequence)}


@dataclass
class Dataset:
    """A named list of sequences; ``supervised`` selects the VOT protocol, ``exclude_absent`` LaSOT/GOT-10k
    scoring (absent frames left out of the curves)."""

    name: str
    sequences: list[Sequence]
    supervised: bool = False
    exclude_absent: bool = False

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self):
        return iter(self.sequences)

    def select(self, names: list[str] | None) -> "Dataset":
        """The dataset restricted to ``names`` (unknown names are an error)."""
        if not names:
            return self
        by_name = {s.name: s for s in self.sequences}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise SiamcanError(f"unknown sequence(s) in {self.name}: {', '.join(missing)} "
                               f"(have e.g. {', '.join(list(by_name)[:5])})")
        return Dataset(self.name, [by_name[n] for n in names], self.supervised, self.exclude_absent)


def combine(datasets: list[Dataset]) -> Dataset:
    """Several datasets of one protocol as one (e.g. tuning on sequences from several folders)."""
    if len(datasets) == 1:
        return datasets[0]
    if len({(d.supervised, d.exclude_absent) for d in datasets}) != 1:
        raise SiamcanError("cannot combine datasets scored with different protocols (VOT / one-pass / LaSOT)")
    seen: dict[str, str] = {}
    for d in datasets:
        for s in d.sequences:
            if s.name in seen:
                raise SiamcanError(f"sequence name '{s.name}' is in both {seen[s.name]} and {d.name}")
            seen[s.name] = d.name
    return Dataset("+".join(d.name for d in datasets), [s for d in datasets for s in d.sequences],
                   datasets[0].supervised, datasets[0].exclude_absent)
