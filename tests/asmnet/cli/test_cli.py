"""`asmnet train` and `asmnet predict` end to end on a tiny synthetic dataset."""
from __future__ import annotations

import csv
import json

import pytest

from asmnet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_train_then_predict_csv(tmp_path, synthetic_dataset, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--data", str(synthetic_dataset), "--format", "aflw2000", "--model", "asmnet_tiny",
               "--input-size", "64", "--epochs", "1", "--batch-size", "8", "--val-fraction", "0.2",
               "--cache-dir", "none", "--threads", "1", "--no-progress", "--out", str(out)])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["best_checkpoint"].endswith("best.pt")
    preds = tmp_path / "preds.csv"
    rc = main(["predict", "--data", str(synthetic_dataset), "--format", "aflw2000", "--split", "test",
               "--checkpoint", str(out / "best.pt"), "--out", str(preds), "--no-progress"])
    assert rc == 0
    rows = list(csv.reader(open(preds)))
    assert rows[0][:3] == ["image", "x0", "y0"] and rows[0][-4:] == ["y67", "yaw", "pitch", "roll"]
    assert len(rows[0]) == 1 + 136 + 3 and len(rows) == 1 + 4
    assert rows[1][0].endswith(".jpg")


def test_predict_refuses_a_foreign_checkpoint(tmp_path, synthetic_dataset, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    rc = main(["predict", "--data", str(synthetic_dataset), "--format", "aflw2000", "--checkpoint", str(bad),
               "--out", str(tmp_path / "p.csv"), "--no-progress"])
    assert rc == 1
    assert "bad.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--data", str(synthetic_dataset), "--format", "aflw2000", "--boxes", "magic",
              "--out", str(tmp_path / "p.csv")])
