"""One reader per format for training and evaluation (siamcan.datasets, issue 18): the same folder gives the same
records on both paths, one rule for a frame / box count mismatch, one-line errors for bad annotation files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from siamcan.config import DatasetConfig
from siamcan.data.readers import read_dataset as read_training
from siamcan.datasets import BENCHMARK_FORMATS, FORMATS, Sequence, read_dataset
from siamcan.errors import SiamcanError
from siamcan.evaluation import load_dataset
from siamcan.geometry import polygon_to_init_rect, polygons_to_rects


def _seq(folder: Path, n_images: int, gt: str | bytes, gt_name: str = "groundtruth.txt", img: str = "img") -> Path:
    (folder / img).mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        (folder / img / f"{i + 1:04d}.jpg").write_bytes(b"x")  # never decoded while reading
    (folder / gt_name).write_bytes(gt if isinstance(gt, bytes) else gt.encode())
    return folder


def _training(fmt: str, root: Path) -> list[Sequence]:
    return read_training(DatasetConfig(name="T", format=fmt, root=str(root)))


def test_one_table_of_format_names():
    training = {"otb", "got10k", "lasot", "vid", "coco", "det", "ytb", "pysot_json"}
    evaluation = {"otb", "uav123", "lasot", "got10k", "vot", "json"}
    assert training | evaluation == set(FORMATS)
    assert set(BENCHMARK_FORMATS) == evaluation
    assert FORMATS["ytb"].read is FORMATS["pysot_json"].read


def test_training_and_evaluation_read_an_otb_folder_identically(otb_train_data):
    _seq(otb_train_data / "late", 4, "nan,nan,nan,nan\n1,2,10,12\nnan,nan,nan,nan\n3,4,10,12\n")
    _seq(otb_train_data / "Jogging", 3, "1,1,5,5\n" * 3, "groundtruth_rect.1.txt")
    (otb_train_data / "Jogging" / "groundtruth_rect.2.txt").write_text("9,9,5,5\n" * 3)
    train = {t.name: t for t in _training("otb", otb_train_data)}
    evaluated = {s.name: s for s in load_dataset(otb_train_data, "otb")}
    assert sorted(train) == sorted(evaluated) == ["Jogging-1", "Jogging-2", "group/seqC", "late", "seqA", "seqB"]
    for name, t in train.items():
        s = evaluated[name]
        assert t.frames == s.frames and all(isinstance(f, str) for f in t.frames)
        np.testing.assert_array_equal(t.boxes, s.boxes)
        np.testing.assert_array_equal(t.gt, s.gt)
    late = train["late"]
    assert Path(late.frames[0]).name == "0002.jpg" and late.valid.tolist() == [True, False, True]
    assert np.isnan(late.boxes[1]).all() and late.init_box() == [1, 2, 10, 12]


def test_training_and_evaluation_read_the_shared_dev_set_identically(dev_otb):
    train = _training("otb", dev_otb)
    evaluated = load_dataset(dev_otb, "otb").sequences
    assert [t.name for t in train] == [s.name for s in evaluated] and len(train) == 5
    for t, s in zip(train, evaluated):
        assert t.frames == s.frames
        np.testing.assert_array_equal(t.boxes, s.boxes)


@pytest.mark.parametrize("fmt", ["otb", "lasot", "got10k"])
def test_count_mismatch_is_the_same_one_line_error_on_both_paths(tmp_path, fmt):
    if fmt == "otb":
        gt = _seq(tmp_path / "Bolt", 4, "1,1,5,5\n" * 3) / "groundtruth.txt"
    elif fmt == "lasot":
        gt = _seq(tmp_path / "cat" / "cat-1", 4, "1,1,5,5\n" * 3) / "groundtruth.txt"
    else:
        gt = _seq(tmp_path / "GOT-10k_Val_000001", 4, "1,1,5,5\n" * 3, img=".") / "groundtruth.txt"
    with pytest.raises(SiamcanError) as train_err:
        _training(fmt, tmp_path)
    with pytest.raises(SiamcanError) as eval_err:
        load_dataset(tmp_path, fmt)
    msg = str(train_err.value)
    assert msg == str(eval_err.value) and len(msg.splitlines()) == 1
    assert f"{gt} has 3 annotation lines but 4 images were found" in msg


def test_flag_files_must_match_the_frames(tmp_path):
    d = _seq(tmp_path / "cat" / "cat-1", 3, "1,1,5,5\n" * 3)
    (d / "full_occlusion.txt").write_text("0,1")
    for read in (lambda: _training("lasot", tmp_path), lambda: load_dataset(tmp_path, "lasot")):
        with pytest.raises(SiamcanError, match=r"full_occlusion.txt has 2 flags for 3 frames"):
            read()


@pytest.mark.parametrize("content, needle", [
    ("5,5,20,20\n5,5,20,20\n".encode("utf-16"), "is not UTF-8 text"),
    (b"5,5,20,20\n\xff\xfe,5,20,20\n", "is not UTF-8 text"),
    ("5,5,20\n5,5,20\n", "groundtruth.txt:1: expected 4 or 8 values"),
])
def test_bad_training_annotation_file_is_one_line(tmp_path, content, needle):
    gt = _seq(tmp_path / "s", 2, content) / "groundtruth.txt"
    with pytest.raises(SiamcanError) as err:
        _training("otb", tmp_path)
    msg = str(err.value)
    assert len(msg.splitlines()) == 1 and needle in msg and str(gt) in msg


def test_non_utf8_sequence_list_and_coco_json_are_one_line(tmp_path):
    _seq(tmp_path / "s", 1, "1,1,5,5\n")
    (tmp_path / "list.bin").write_bytes(b"s\n\xff\n")
    with pytest.raises(SiamcanError, match="sequence list .*list.bin is not UTF-8"):
        read_training(DatasetConfig(name="T", format="otb", root=str(tmp_path), anno="list.bin"))
    (tmp_path / "coco").mkdir()
    (tmp_path / "coco" / "annotations.json").write_bytes('{"images": []}'.encode("utf-16"))
    with pytest.raises(SiamcanError, match="annotations.json is not UTF-8"):
        _training("coco", tmp_path / "coco")


def test_got10k_absence_and_cover_mark_absent_frames_for_both(tmp_path):
    d = _seq(tmp_path / "GOT-10k_Val_000001", 4, "1,1,5,5\n" * 4, img=".")
    (d / "absence.label").write_text("0\n1\n0\n0\n")
    (d / "cover.label").write_text("8\n0\n0\n5\n")
    (t,) = _training("got10k", tmp_path)
    (s,) = load_dataset(tmp_path, "got10k")
    assert t.absent.tolist() == s.absent.tolist() == [False, True, True, False]
    assert t.valid.tolist() == [True, False, False, True]


def test_lasot_test_split_only_for_evaluation(tmp_path):
    for name in ("cat-1", "cat-2"):
        _seq(tmp_path / "cat" / name, 2, "1,1,5,5\n" * 2)
    (tmp_path / "testing_set.txt").write_text("cat-2\n")
    assert [s.name for s in load_dataset(tmp_path, "lasot")] == ["cat-2"]
    assert [t.name for t in _training("lasot", tmp_path)] == ["cat-1", "cat-2"]


def test_vot_polygons_give_boxes_too(tmp_path):
    (tmp_path / "list.txt").write_text("ball\n")
    _seq(tmp_path / "ball", 2, "10,10,30,12,28,30,8,28\nnan,nan,nan,nan,nan,nan,nan,nan\n", img="color")
    (ball,) = _training("vot", tmp_path)
    assert ball.is_polygon and ball.gt.shape == (2, 8) and ball.valid.tolist() == [True, False]
    assert ball.boxes[0] == pytest.approx(ball.init_box(0)) and np.isnan(ball.boxes[1]).all()


def test_polygon_boxes_match_the_init_box_conversion(rng):
    polys = rng.uniform(0, 300, (50, 8))
    expected = np.array([polygon_to_init_rect(p) for p in polys])
    np.testing.assert_allclose(polygons_to_rects(polys), expected, rtol=1e-12, atol=1e-9)


def test_pysot_crop_json_is_checked(tmp_path):
    root = tmp_path / "ytb"
    (root / "crop511").mkdir(parents=True)

    def read(meta: object) -> list[Sequence]:
        (root / "train.json").write_text(json.dumps(meta))
        return _training("ytb", root)

    with pytest.raises(SiamcanError, match="'../../x' points outside the dataset root"):
        read({"../../x": {"00": {"000000": [1, 2, 10, 20]}}})
    with pytest.raises(SiamcanError, match="track .* is not a plain name"):
        read({"v": {"../00": {"000000": [1, 2, 10, 20]}}})
    with pytest.raises(SiamcanError, match="frame .* is not a plain name"):
        read({"v": {"00": {"../../../etc/x": [1, 2, 10, 20]}}})
    with pytest.raises(SiamcanError, match=r"frame '000000' must be \[x1, y1, x2, y2\] numbers"):
        read({"v": {"00": {"000000": ["a", 2, 10, 20]}}})
    with pytest.raises(SiamcanError, match="must map track ids to frames"):
        read({"v": [1, 2]})
    (t,) = read({"v/sub": {"00": {"000000": [1, 2, 11, 22], "frames": []}}})
    assert t.frames == [str(root / "crop511" / "v" / "sub" / "000000.00.x.jpg")] and t.crop511


def test_registry_errors(tmp_path):
    with pytest.raises(SiamcanError, match="unknown format 'kitti'"):
        read_dataset("kitti", tmp_path)
    with pytest.raises(SiamcanError, match="dataset folder not found"):
        read_dataset("otb", tmp_path / "nope")
    with pytest.raises(SiamcanError, match="no usable otb sequences found under .*groundtruth_rect.txt"):
        read_dataset("otb", tmp_path)
    with pytest.raises(SiamcanError, match="annotation JSON not found"):
        read_dataset("json", tmp_path, anno=tmp_path / "missing.json")
