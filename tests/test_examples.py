"""Every script in examples/ runs to completion, so the gallery never rots.

Each example runs in a fresh interpreter, in a temporary working directory
(plots and files they write land there), with ``SKPRIV_EXAMPLES_FAST=1``: the
examples then use fewer repeats or epochs, the same code paths.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))

# Examples that need an optional extra: skipped when it is not installed.
NEEDS = {"plot_dpsgd_digits.py": "torch"}


# Other warnings are silenced, skpriv's PrivacyLeakWarning is shown: an
# example may show one (it can be the lesson) but must not repeat it.
_LAUNCHER = """
import runpy, sys, warnings
from skpriv.exceptions import PrivacyLeakWarning
warnings.simplefilter("default", PrivacyLeakWarning)
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def _run(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SKPRIV_EXAMPLES_FAST": "1",
        "MPLBACKEND": "Agg",
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_examples_are_found():
    assert (EXAMPLES_DIR / "quickstart.py") in EXAMPLES
    assert any(p.name.startswith("plot_") for p in EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    if path.name in NEEDS:
        pytest.importorskip(NEEDS[path.name])
    result = _run(path, tmp_path)
    assert result.returncode == 0, (
        f"{path.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )
    assert result.stdout.strip(), f"{path.name} printed nothing"
    leaks = [
        line[line.index("PrivacyLeakWarning:") :]
        for line in result.stderr.splitlines()
        if "PrivacyLeakWarning:" in line
    ]
    repeated = sorted({m for m in leaks if leaks.count(m) > 1})
    assert not repeated, f"{path.name} repeats warnings: {repeated}"
    if path.name == "quickstart.py":
        pngs = list(tmp_path.glob("*.png"))
        assert pngs, "quickstart.py must save its privacy-utility plot as a PNG"


def _readme_blocks():
    text = (EXAMPLES_DIR.parent / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("## Features", 1)[0]
    code = [b.split("```", 1)[0] for b in quickstart.split("```python\n")[1:]]
    said = [b.split("```", 1)[0] for b in quickstart.split("```text\n")[1:]]
    return code, said


@pytest.mark.slow
def test_readme_quickstart_prints_what_it_says(tmp_path):
    # The README's quickstart states what the epsilon covers; it must be what
    # the code prints, not a hope.
    code, said = _readme_blocks()
    assert len(code) == len(said) == 2
    script = tmp_path / "quickstart_readme.py"
    script.write_text("\n".join(code))
    result = _run(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout.splitlines()
    assert printed[0].startswith("test accuracy: ")
    assert float(printed[0].split(": ")[1]) > 0.75
    fully_private = said[0].strip().splitlines()
    assert printed[1 : 1 + len(fully_private)] == fully_private
    # The first search raised nothing and warned nothing; the second warns.
    rest = printed[1 + len(fully_private) :]
    listed = said[1].strip().splitlines()
    assert rest[1:] == listed, rest
    assert "PrivacyLeakWarning" in result.stderr
