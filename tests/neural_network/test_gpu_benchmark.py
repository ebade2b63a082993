"""benchmarks/gpu_dpsgd.py runs (its small CPU version here; CI has no GPU)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_dpsgd.py"


@pytest.mark.slow
def test_gpu_benchmark_cpu_mode_prints_every_method():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu", "--threads", "1", "--warmup", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    text = out.stdout
    for model in ("MLP 784-128-128-10", "CNN 5-layer GroupNorm"):
        assert model in text
    # Every method measured for both models, with its ratio to plain torch.
    for method in ("(a) plain torch", "(b) Opacus ghost", "(b) Opacus hooks"):
        assert text.count(method) == 2, text
    rows = [line for line in text.splitlines() if line.startswith("(c) skpriv")]
    assert len(rows) == 2, text
    for row in rows:
        rate, ratio = float(row.split()[3]), float(row.split()[4])
        assert rate > 0 and ratio > 0


@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="needs a CUDA device"
)
@pytest.mark.slow
def test_gpu_benchmark_runs_on_the_gpu():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "mlp", "--opacus-modes", "ghost"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "peak MiB" in out.stdout and "(c) skpriv" in out.stdout
