"""Loading weights never executes code from the file (issue 7): malicious pickles are refused, nothing runs."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from siamcan.cli.main import main
from siamcan.config import ModelConfig
from siamcan.errors import SiamcanError
from siamcan.models import build_model, load_backbone_weights, load_model_weights
from siamcan.models.resnet import ResNet50
from siamcan.models.weights import read_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")  # steadier on shared cores


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears iff code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _malicious_files(tmp_path: Path) -> tuple[Path, list[Path]]:
    marker = tmp_path / "PWNED"
    evil = {"conv1.weight": torch.zeros(1), "x": Payload(marker)}
    files = []
    p = tmp_path / "zip_format.pth"
    torch.save(evil, p)  # torch's zip container, pickle inside
    files.append(p)
    for proto in (0, 2, 5):  # raw pickles: protocol 0 (text), 2 (pysot-era torch files start like this), 5
        q = tmp_path / f"raw_proto{proto}.model"
        q.write_bytes(pickle.dumps(evil, protocol=proto))
        files.append(q)
    s = tmp_path / "pickle_named.safetensors"  # a pickle disguised as safetensors
    s.write_bytes(pickle.dumps(evil, protocol=2))
    files.append(s)
    nested = tmp_path / "nested.pth"
    torch.save({"state_dict": {"a": torch.ones(1)}, "optimizer": Payload(marker)}, nested)
    files.append(nested)
    return marker, files


def test_pickle_payload_would_run_if_loaded_unsafely(tmp_path):
    """Sanity check of the test itself: the payload does create the marker under a plain unpickler."""
    marker, files = _malicious_files(tmp_path)
    pickle.loads(files[2].read_bytes())
    assert marker.exists()


def test_read_state_dict_refuses_malicious_files(tmp_path):
    marker, files = _malicious_files(tmp_path)
    for f in files:
        with pytest.raises(SiamcanError, match="refusing to load|not a valid safetensors") as exc:
            read_state_dict(f)
        msg = str(exc.value)
        assert "\n" not in msg and str(f) in msg
    assert not marker.exists()


def test_model_and_backbone_loaders_refuse(tmp_path):
    marker, files = _malicious_files(tmp_path)
    model = build_model(ModelConfig(backbone="efficientnet_lite0", channels=32))
    for f in files:
        with pytest.raises(SiamcanError):
            load_model_weights(model, f)
        with pytest.raises(SiamcanError):
            load_backbone_weights(ResNet50(), f)
    assert not marker.exists()


def test_cli_refuses_malicious_weights(tmp_path, capsys):
    import cv2
    import numpy as np

    marker, files = _malicious_files(tmp_path)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i}.jpg"), np.zeros((60, 80, 3), np.uint8))
    rc = main(["track", str(frames), "--init", "5,5,20,20", "--weights", str(files[0]),
               "--output", str(tmp_path / "o.txt")])
    err = capsys.readouterr().err
    assert rc == 2 and "refusing to load" in err and "Traceback" not in err
    assert "Unsupported global: GLOBAL io.open was not an allowed global" in err
    assert not marker.exists() and not (tmp_path / "o.txt").exists()


def test_plain_tensor_files_still_load(tmp_path):
    p = tmp_path / "ok.pth"
    torch.save({"state_dict": {"w": torch.arange(4.0)}, "epoch": 3, "arch": "resnet50"}, p)
    assert torch.equal(read_state_dict(p)["w"], torch.arange(4.0))
