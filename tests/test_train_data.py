"""Dataset readers on generated data for every format, pair sampling, crops, errors."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamcan.config import AugConfig, DatasetConfig, TrainConfig
from siamcan.data.augment import augmented_crop
from siamcan.data.pairs import PairDataset
from siamcan.data.readers import read_dataset
from siamcan.errors import SiamcanError
from siamcan.geometry import context_size


def _img(path: Path, h: int = 40, w: int = 60) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))


def _sample_ok(dcfg: DatasetConfig) -> None:
    ds = PairDataset(TrainConfig(neg_prob=0.5), (dcfg,), 4, seed=0)
    for i in range(4):
        s = ds[i]
        assert s["template"].shape == (3, 127, 127) and s["search"].shape == (3, 255, 255)
        assert s["label"].shape == (25, 25)


def test_otb_reader_nan_rows_and_nested(otb_train_data):
    tracks = {t.name: t for t in read_dataset(DatasetConfig(name="c", format="otb", root=str(otb_train_data)))}
    assert sorted(tracks) == ["group/seqC", "seqA", "seqB"]
    assert tracks["seqB"].valid.tolist() == [True, True, False, True, True, True]
    assert tracks["group/seqC"].boxes[1].tolist() == [6.0, 6.0, 18.0, 13.0]
    _sample_ok(DatasetConfig(name="c", format="otb", root=str(otb_train_data)))


def test_got10k_reader(tmp_path):
    root = tmp_path / "got10k" / "train"
    seq = root / "GOT-10k_Train_000001"
    for i in range(4):
        _img(seq / f"{i + 1:08d}.jpg")
    (seq / "groundtruth.txt").write_text("5,5,20,10\n6,5,20,10\n7,5,20,10\n8,5,20,10\n")
    (seq / "absence.label").write_text("0\n1\n0\n0\n")
    (seq / "cover.label").write_text("8\n0\n0\n5\n")
    (root / "list.txt").write_text("GOT-10k_Train_000001\n")
    (t,) = read_dataset(DatasetConfig(name="g", format="got10k", root=str(root)))
    assert t.valid.tolist() == [True, False, False, True]
    _sample_ok(DatasetConfig(name="g", format="got10k", root=str(root)))


def test_lasot_reader(tmp_path):
    root = tmp_path / "lasot"
    seq = root / "airplane" / "airplane-1"
    for i in range(3):
        _img(seq / "img" / f"{i + 1:08d}.jpg")
    (seq / "groundtruth.txt").write_text("1,2,10,12\n1,2,10,12\n1,2,10,12\n")
    (seq / "full_occlusion.txt").write_text("0,1,0")
    (seq / "out_of_view.txt").write_text("0,0,1")
    (t,) = read_dataset(DatasetConfig(name="l", format="lasot", root=str(root)))
    assert t.name == "airplane-1" and t.valid.tolist() == [True, False, False]
    _sample_ok(DatasetConfig(name="l", format="lasot", root=str(root)))


def _voc_xml(objects: list[tuple[str | None, tuple[int, int, int, int]]]) -> str:
    objs = "".join(
        f"<object>{'' if tid is None else f'<trackid>{tid}</trackid>'}<name>n0</name><bndbox><xmax>{b[2]}</xmax>"
        f"<xmin>{b[0]}</xmin><ymax>{b[3]}</ymax><ymin>{b[1]}</ymin></bndbox></object>" for tid, b in objects)
    return f"<annotation><size><width>60</width><height>40</height></size>{objs}</annotation>"


def test_vid_reader_one_track_per_trackid(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAMCAN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "ILSVRC2015"
    snip = "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000"
    for i in range(3):
        _img(root / "Data/VID/train" / snip / f"{i:06d}.JPEG")
        objs = [("0", (5, 5, 25, 20))] + ([("1", (30, 10, 50, 30))] if i != 1 else [])
        p = root / "Annotations/VID/train" / snip / f"{i:06d}.xml"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_voc_xml(objs))
    tracks = read_dataset(DatasetConfig(name="v", format="vid", root=str(root)))
    assert [len(t.frames) for t in tracks] == [3, 2]
    assert tracks[1].frames[1].endswith("000002.JPEG")
    assert tracks[0].boxes[0].tolist() == [5, 5, 20, 15]
    again = read_dataset(DatasetConfig(name="v", format="vid", root=str(root)))  # from the index cache
    assert [t.frames for t in again] == [t.frames for t in tracks]
    _sample_ok(DatasetConfig(name="v", format="vid", root=str(root)))


def test_det_reader(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAMCAN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "det"
    _img(root / "Data/DET/train/a/img1.JPEG")
    p = root / "Annotations/DET/train/a/img1.xml"
    p.parent.mkdir(parents=True)
    p.write_text(_voc_xml([(None, (1, 2, 11, 22)), (None, (20, 5, 40, 15))]))
    tracks = read_dataset(DatasetConfig(name="d", format="det", root=str(root)))
    assert [t.boxes[0].tolist() for t in tracks] == [[1, 2, 10, 20], [20, 5, 20, 10]]


@pytest.mark.parametrize("layout", ["simple", "coco"])
def test_coco_reader(tmp_path, layout):
    root = tmp_path / "coco"
    img_dir = root / ("images" if layout == "simple" else "train2017")
    _img(img_dir / "a.jpg")
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 60, "height": 40}],
            "annotations": [{"id": 1, "image_id": 1, "bbox": [3, 4, 20, 10], "iscrowd": 0},
                            {"id": 2, "image_id": 1, "bbox": [3, 4, 20, 10], "iscrowd": 1},
                            {"id": 3, "image_id": 1, "bbox": [3, 4, 0, 10], "iscrowd": 0}],
            "categories": [{"id": 1, "name": "x"}]}
    anno = root / ("annotations.json" if layout == "simple" else "annotations/instances_train2017.json")
    anno.parent.mkdir(parents=True, exist_ok=True)
    anno.write_text(json.dumps(data))
    (t,) = read_dataset(DatasetConfig(name="c", format="coco", root=str(root)))
    assert t.frames == [str(img_dir / "a.jpg")] and t.boxes[0].tolist() == [3, 4, 20, 10]
    _sample_ok(DatasetConfig(name="c", format="coco", root=str(root)))


def test_ytb_pysot_json_reader(tmp_path):
    root = tmp_path / "yt_bb"
    for f in ("000000", "000030"):
        _img(root / "crop511" / "vidA" / f"{f}.00.x.jpg", 511, 511)
    (root / "train.json").write_text(json.dumps(
        {"vidA": {"00": {"000000": [10, 20, 110, 70], "000030": [12, 20, 112, 72]}}}))
    (t,) = read_dataset(DatasetConfig(name="y", format="ytb", root=str(root)))
    assert t.crop511 and t.frames[1].endswith("crop511/vidA/000030.00.x.jpg")
    assert t.boxes[0].tolist() == [10, 20, 100, 50]
    # pysot convention: the target sits at the centre of the 511 crop, scaled by 127 / s_z
    img = cv2.imread(t.frames[0])
    _, box = augmented_crop(img, t.boxes[0], 255, AugConfig(color=0.0), np.random.default_rng(0), crop511=True)
    s = 127 / context_size(100, 50)
    assert box[2] - box[0] == pytest.approx(100 * s, rel=1e-4)
    assert (box[0] + box[2]) / 2 == pytest.approx(127, abs=1e-3)
    _sample_ok(DatasetConfig(name="y", format="ytb", root=str(root)))


def test_crop_geometry_without_augmentation(tmp_path):
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:90, 100:180] = 255  # box x=100, y=50, w=80, h=40
    out, box = augmented_crop(img, np.array([100, 50, 80, 40]), 255, AugConfig(color=0.0),
                              np.random.default_rng(0))
    s = 127 / context_size(80, 40)
    assert box[2] - box[0] == pytest.approx(80 * s, rel=1e-5) and box[3] - box[1] == pytest.approx(40 * s, rel=1e-5)
    assert ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) == (pytest.approx(127, abs=1e-4), pytest.approx(127, abs=1e-4))
    assert out[127, 127].min() > 250
    assert np.abs(out[0, 0] - 255 * 80 * 40 / (200 * 300)).max() < 1  # outside the frame: the frame mean


def test_pairs_are_deterministic(otb_train_data):
    d = (DatasetConfig(name="c", format="otb", root=str(otb_train_data)),)
    cfg = TrainConfig(neg_prob=0.3, gray_prob=0.3)
    a, b = PairDataset(cfg, d, 10, seed=3), PairDataset(cfg, d, 10, seed=3)
    b.set_epoch(1)
    b.set_epoch(0)
    for i in (0, 7):
        sa, sb = a[i], b[i]
        assert all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)
    a.set_epoch(1)
    assert not np.array_equal(a[0]["search"].numpy(), b[0]["search"].numpy())


def test_missing_and_corrupt_roots_give_clear_errors(tmp_path):
    with pytest.raises(SiamcanError, match="dataset 'X': dataset folder not found: .*nope"):
        read_dataset(DatasetConfig(name="X", format="otb", root=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SiamcanError, match="no usable otb sequences"):
        read_dataset(DatasetConfig(name="X", format="otb", root=str(tmp_path / "empty")))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "annotations.json").write_text("{not json")
    with pytest.raises(SiamcanError, match="not valid COCO json"):
        read_dataset(DatasetConfig(name="X", format="coco", root=str(tmp_path / "bad")))
    with pytest.raises(SiamcanError, match="unknown format"):
        read_dataset(DatasetConfig(name="X", format="kitti", root=str(tmp_path)))
    seq = tmp_path / "broken" / "s"
    _img(seq / "img" / "0001.jpg")
    (seq / "groundtruth.txt").write_text("1,2,oops,4\n")
    with pytest.raises(SiamcanError, match="groundtruth.txt:1: cannot parse '1,2,oops,4'"):
        read_dataset(DatasetConfig(name="X", format="otb", root=str(tmp_path / "broken")))


def test_shared_training_data_reads(shared_data, monkeypatch):
    monkeypatch.chdir(shared_data.parent.parent / "main") if (shared_data.parent.parent / "main").is_dir() else None
    d = DatasetConfig(name="CATS", format="coco", root=str(shared_data / "train" / "det" / "cats-drone"))
    assert len(read_dataset(d)) == 1398
    tracks = read_dataset(DatasetConfig(name="TLD", format="otb", root=str(shared_data / "train" / "tld")))
    assert len(tracks) == 5


def test_one_frame_order_for_training_evaluation_and_tracking(tmp_path):
    """Unpadded frame numbers and mixed-case extensions: training and evaluation (one reader, fileio.image_files)
    and `siamcan track` list a folder the same way (natural order), so image i always meets annotation line i."""
    from siamcan.evaluation import load_dataset
    from siamcan.fileio import image_files
    from siamcan.tracking.sources import list_images as track_list

    img = tmp_path / "seq" / "img"
    img.mkdir(parents=True)
    names = ["1.jpg", "2.JPG", "10.png", "11.jpeg", "100.bmp"]
    for n in reversed(names):
        (img / n).write_bytes(b"x")
    (img / "notes.txt").write_text("not an image")
    (tmp_path / "seq" / "groundtruth.txt").write_text("1,1,5,5\n" * len(names))
    assert [p.name for p in image_files(img)] == names
    assert [p.name for p in track_list(tmp_path / "seq")] == names  # falls back to img/
    (train,) = read_dataset(DatasetConfig(name="o", format="otb", root=str(tmp_path)))
    (evaluated,) = load_dataset(tmp_path, "otb")
    assert [Path(p).name for p in train.frames] == [Path(p).name for p in evaluated.frames] == names


def test_hard_negatives_come_from_the_template_dataset(otb_train_data, tmp_path):
    other = tmp_path / "other"
    for name in ("x1", "x2"):
        for i in range(3):
            _img(other / name / "img" / f"{i + 1:04d}.jpg")
        (other / name / "groundtruth.txt").write_text("5,5,20,20\n" * 3)
    d = (DatasetConfig(name="a", format="otb", root=str(otb_train_data)),
         DatasetConfig(name="b", format="otb", root=str(other)))
    ds = PairDataset(TrainConfig(neg_prob=1.0, neg_same_prob=1.0), d, 40, seed=0)
    seen = []
    pick = ds._random_object
    ds._random_object = lambda rng, dataset=None, avoid=None: seen.append((dataset, avoid)) or pick(rng, dataset, avoid)
    for i in range(40):
        assert bool(ds[i]["neg"])
    assert {dataset for dataset, _ in seen} == {0, 1}
    rng = np.random.default_rng(0)
    for dataset in (0, 1):
        for track in ds.tracks[dataset]:
            for _ in range(10):
                got, _ = pick(rng, dataset, track)
                assert got is not track and any(got is t for t in ds.tracks[dataset])
