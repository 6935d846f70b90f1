"""Dataset readers on small generated layouts (OTB, VOT, GOT-10k, LaSOT, UAV123, pysot JSON)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamcan.errors import SiamcanError
from siamcan.evaluation import load_dataset

IMG = np.zeros((48, 64, 3), np.uint8)


def _images(folder: Path, n: int, pattern: str = "{:04d}.jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = cv2.imencode(".jpg", IMG)[1].tobytes()
    for i in range(1, n + 1):
        (folder / pattern.format(i)).write_bytes(data)


def _lines(path: Path, rows: list) -> None:
    path.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))


def test_otb_layout_late_start_nan_rows_and_split_annotations(tmp_path):
    _images(tmp_path / "Car" / "img", 5)
    _lines(tmp_path / "Car" / "groundtruth_rect.txt",
           [["nan"] * 4, ["nan"] * 4, [1, 2, 10, 12], ["nan"] * 4, [3, 4, 10, 12]])
    _images(tmp_path / "Jogging" / "img", 3)
    _lines(tmp_path / "Jogging" / "groundtruth_rect.1.txt", [[1, 1, 5, 5]] * 3)
    _lines(tmp_path / "Jogging" / "groundtruth_rect.2.txt", [[9, 9, 5, 5]] * 3)
    ds = load_dataset(tmp_path, "otb")
    by = {s.name: s for s in ds}
    assert sorted(by) == ["Car", "Jogging-1", "Jogging-2"]
    car = by["Car"]
    assert len(car) == 3 and Path(car.frames[0]).name == "0003.jpg"  # starts at the first annotated frame
    assert car.init_box() == [1, 2, 10, 12]
    assert np.isnan(car.gt[1]).all()
    assert car.size() == (64, 48) and car.frame(0).shape == (48, 64, 3)
    assert not ds.supervised


def test_otb_groundtruth_txt_and_known_sub_range(tmp_path):
    _images(tmp_path / "Tiger1" / "img", 354)
    _lines(tmp_path / "Tiger1" / "groundtruth.txt", [[i, i, 5, 5] for i in range(354)])
    seq = load_dataset(tmp_path, "otb").sequences[0]
    # OTB's Tiger1: images 6..354 are evaluated; an annotation starting at image 1 loses its first 5 rows
    assert Path(seq.frames[0]).name == "0006.jpg" and len(seq) == 349 and seq.gt[0, 0] == 5


def test_wrong_line_count_names_both_numbers_and_the_file(tmp_path):
    _images(tmp_path / "Bolt" / "img", 4)
    _lines(tmp_path / "Bolt" / "groundtruth_rect.txt", [[1, 1, 5, 5]] * 3)
    with pytest.raises(SiamcanError, match=r"groundtruth_rect.txt has 3 annotation lines but 4 images"):
        load_dataset(tmp_path, "otb")


def test_bad_values_and_missing_folder(tmp_path):
    _images(tmp_path / "A" / "img", 2)
    (tmp_path / "A" / "groundtruth_rect.txt").write_text("1,2,3\n1,2,3\n")
    with pytest.raises(SiamcanError, match=r"groundtruth_rect.txt:1: expected 4"):
        load_dataset(tmp_path, "otb")
    with pytest.raises(SiamcanError, match="not found"):
        load_dataset(tmp_path / "nope", "otb")


def test_vot_layout_polygons_tags_and_rects(tmp_path):
    (tmp_path / "list.txt").write_text("ball\nbox\n")
    _images(tmp_path / "ball" / "color", 3, "{:08d}.jpg")
    _lines(tmp_path / "ball" / "groundtruth.txt", [[10, 10, 30, 12, 28, 30, 8, 28]] * 3)
    (tmp_path / "ball" / "occlusion.tag").write_text("0\n1\n")
    _images(tmp_path / "box", 2, "{:08d}.jpg")
    _lines(tmp_path / "box" / "groundtruth.txt", [[1, 1, 5, 5]] * 2)
    ds = load_dataset(tmp_path, "vot")
    ball, box = ds.sequences
    assert ds.supervised and ball.is_polygon and not box.is_polygon
    assert ball.tags["occlusion"].tolist() == [False, True, False]
    x, y, w, h = ball.init_box()
    assert (x + (w - 1) / 2, y + (h - 1) / 2) == pytest.approx((19, 20))


def test_got10k_val_and_test(tmp_path):
    _images(tmp_path / "GOT-10k_Val_000001", 3, "{:08d}.jpg")
    _lines(tmp_path / "GOT-10k_Val_000001" / "groundtruth.txt", [[1, 1, 5, 5]] * 3)
    (tmp_path / "GOT-10k_Val_000001" / "absence.label").write_text("0\n1\n0\n")
    _images(tmp_path / "GOT-10k_Test_000001", 4, "{:08d}.jpg")
    _lines(tmp_path / "GOT-10k_Test_000001" / "groundtruth.txt", [[1, 1, 5, 5]])
    ds = load_dataset(tmp_path, "got10k")
    by = {s.name: s for s in ds}
    assert by["GOT-10k_Val_000001"].absent.tolist() == [False, True, False]
    test = by["GOT-10k_Test_000001"]
    assert not test.scorable and len(test) == 4 and np.isnan(test.gt[1:]).all()
    assert ds.exclude_absent


def test_lasot_absent_frames_and_testing_set(tmp_path):
    for name in ("cat-1", "cat-2"):
        d = tmp_path / "cat" / name
        _images(d / "img", 3, "{:08d}.jpg")
        _lines(d / "groundtruth.txt", [[1, 1, 5, 5]] * 3)
        (d / "full_occlusion.txt").write_text("0,1,0")
        (d / "out_of_view.txt").write_text("0,0,1")
    (tmp_path / "testing_set.txt").write_text("cat-2\n")
    ds = load_dataset(tmp_path, "lasot")
    assert [s.name for s in ds] == ["cat-2"]
    assert ds.sequences[0].absent.tolist() == [False, True, True]
    assert ds.sequences[0].attributes == ["cat"]


def test_uav123_layout_and_unknown_sub_range(tmp_path):
    _images(tmp_path / "data_seq" / "UAV123" / "bike1", 3, "{:06d}.jpg")
    (tmp_path / "anno" / "UAV123").mkdir(parents=True)
    _lines(tmp_path / "anno" / "UAV123" / "bike1.txt", [[1, 1, 5, 5]] * 3)
    assert [s.name for s in load_dataset(tmp_path, "uav123")] == ["bike1"]
    _images(tmp_path / "data_seq" / "UAV123" / "bird1", 5, "{:06d}.jpg")
    _lines(tmp_path / "anno" / "UAV123" / "bird1_1.txt", [[1, 1, 5, 5]] * 2)
    with pytest.raises(SiamcanError, match="bird1_1.*2 annotation lines.*5 images.*UAV123.json"):
        load_dataset(tmp_path, "uav123")


def test_pysot_json_otb2015_style_and_vot2019_style(tmp_path):
    otb = {"jogging_1": {"name": "Jogging", "image_files": ["0001.jpg", "0002.jpg"], "init_rect": [1, 1, 5, 5],
                         "gt_rect": [[1, 1, 5, 5], [2, 2, 5, 5]]},
           "carDark": {"name": "CarDark", "image_files": ["0001.jpg"], "init_rect": [1, 1, 5, 5],
                       "gt_rect": [[1, 1, 5, 5]], "attr": ["IV"]}}
    (tmp_path / "OTB2015.json").write_text(json.dumps(otb))
    ds = load_dataset(tmp_path / "OTB2015.json", "json")
    assert ds.name == "OTB2015" and [s.name for s in ds] == ["Jogging-1", "CarDark"]
    assert ds.sequences[0].frames[1] == str(tmp_path / "Jogging" / "img" / "0002.jpg")
    assert ds.sequences[1].attributes == ["IV"]
    vot = {"agility": {"video_dir": "agility", "init_rect": [0] * 8, "img_names": [], "width": 854,
                       "height": 480, "gt_rect": [[1, 1, 9, 1, 9, 9, 1, 9]] * 3, "occlusion": []}}
    (tmp_path / "VOT2019.json").write_text(json.dumps(vot))
    ds = load_dataset(tmp_path / "VOT2019.json", "json", root=tmp_path / "imgs")
    seq = ds.sequences[0]
    assert ds.supervised and seq.size() == (854, 480)
    assert seq.frames[2] == str(tmp_path / "imgs" / "agility" / "color" / "00000003.jpg")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SiamcanError, match="not valid JSON"):
        load_dataset(tmp_path / "bad.json", "json")


def test_select_unknown_sequence(tmp_path):
    _images(tmp_path / "A" / "img", 1)
    _lines(tmp_path / "A" / "groundtruth_rect.txt", [[1, 1, 5, 5]])
    with pytest.raises(SiamcanError, match="unknown sequence.*B"):
        load_dataset(tmp_path, "otb").select(["B"])
