"""Two CPU processes on the gloo backend through torchrun train a tiny model (DDP)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_two_process_gloo_ddp_run(tmp_path, synthetic_dataset):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "asmnet.cli", "train", "--data", str(synthetic_dataset), "--format", "aflw2000",
           "--model", "asmnet_tiny", "--input-size", "64", "--epochs", "2", "--batch-size", "4",
           "--val-fraction", "0.2", "--cache-dir", "none", "--threads", "1", "--no-progress", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]  # only rank 0 logs
    assert "2 process(es)" in proc.stderr
    assert (out / "best.pt").is_file()
