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


def test_predict_with_parallel_batches_writes_the_same_rows_in_input_order(tmp_path, synthetic_dataset, capsys):
    """--workers runs several batches at once (one ONNX Runtime thread each); the CSV is the same, row by row, as
    one batch at a time; --workers 0 is refused."""
    def predict(workers: int):
        out = tmp_path / f"w{workers}.csv"
        assert main(["predict", "--data", str(synthetic_dataset), "--format", "aflw2000", "--batch-size", "1",
                     "--workers", str(workers), "--out", str(out), "--no-progress"]) == 0
        return list(csv.reader(open(out)))

    one, three = predict(1), predict(3)
    assert len(one) == len(three) > 3
    assert [r[0] for r in three] == [r[0] for r in one]
    for a, b in zip(one[1:], three[1:]):
        assert max(abs(float(x) - float(y)) for x, y in zip(a[1:], b[1:])) < 0.01, a[0]
    capsys.readouterr()
    assert main(["predict", "--data", str(synthetic_dataset), "--format", "aflw2000", "--workers", "0",
                 "--out", str(tmp_path / "p.csv"), "--no-progress"]) == 1
    assert "--workers must be >= 1, found 0" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()
