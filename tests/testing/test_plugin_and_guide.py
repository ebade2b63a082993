"""The pytest plugin's fixtures and the user guide's runnable test file."""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).parents[2] / "docs" / "user_guide" / "testing.rst"


def _plugin_args():
    # Once skpriv is installed with its pytest11 entry point, pytest loads the
    # plugin itself; before (an editable install made earlier), load it by name.
    installed = any(
        ep.value == "skpriv.testing._pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "skpriv.testing._pytest_plugin"]


def _guide_test_file():
    text = GUIDE.read_text()
    block = text.split("A test file for your CI")[1].split(".. code-block:: python")[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def _run_pytest(path, *args):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *_plugin_args(),
            *args,
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=path.parent,
    )


def test_guide_test_file_runs(tmp_path):
    path = tmp_path / "test_privacy.py"
    path.write_text(_guide_test_file())
    proc = _run_pytest(path, "--skpriv-report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"4 passed", proc.stdout), proc.stdout
    assert "skpriv privacy report" in proc.stdout
    assert "[privacy_budget]  spent 1 (delta 0) of 1" in proc.stdout


def test_fixtures_report_failures(tmp_path):
    path = tmp_path / "test_leaky.py"
    path.write_text(
        "import numpy as np\n"
        "from skpriv.preprocessing import LaplaceNoise\n"
        "def test_leaky(dp_check):\n"
        "    dp_check(LaplaceNoise(epsilon=1.0), np.random.default_rng(0).random((30, 1)))\n"
        "def test_over_budget(privacy_budget):\n"
        "    privacy_budget(LaplaceNoise(epsilon=2.0, bounds=(0, 1)).fit([[0.5]]), 1.0)\n"
    )
    proc = _run_pytest(path, "--skpriv-report", "--skpriv-dp-runs", "400")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "2 failed" in out
    # bounds=None: read from the data, the far row is not clipped -> caught.
    assert "is less private than claimed" in out
    assert "exceeds the budget epsilon = 1" in out
    assert "[dp_check]  FAILED" in out
