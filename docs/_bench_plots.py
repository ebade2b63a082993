"""Bar charts of the tables in benchmarks/RESULTS.md, for the benchmarks page.

Each section (``## ...``) of RESULTS.md gets one chart of the first numeric
column of its first table, labelled by the text columns before it. A section
whose table cannot be read is skipped: the page shows the table itself anyway.
"""

import re
from pathlib import Path

_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _number(cell: str):
    text = cell.strip().strip("*").replace(",", "").replace("×", "")
    text = text.rstrip("x%").strip()
    return float(text) if _NUMBER.match(text) else None


_PLUS_MINUS = re.compile(r"^\s*([-+]?[\d.]+)\s*%?\s*±\s*([\d.]+)\s*%?\s*$")


def _curves(rows):
    """``{name: (x, mean, std)}`` for a table of "mean ± std" by epsilon."""
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    if not re.search(r"eps", header[0], re.I) or len(body) < 2:
        return None
    x = [_number(r[0]) for r in body]
    if any(v is None or v <= 0 for v in x):
        return None
    curves = {}
    for j in range(1, len(header)):
        parsed = [_PLUS_MINUS.match(r[j]) for r in body]
        if all(parsed):
            curves[header[j]] = (
                x,
                [float(m.group(1)) for m in parsed],
                [float(m.group(2)) for m in parsed],
            )
    return curves or None


def _first_table(lines):
    rows = []
    for line in lines:
        if line.lstrip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                continue
            rows.append(cells)
        elif rows:
            break
    return rows


def _sections(text: str):
    title, lines = None, []
    for line in text.splitlines():
        if line.startswith("## "):
            if title is not None:
                yield title, lines
            title, lines = line[3:].strip(), []
        elif title is not None:
            lines.append(line)
    if title is not None:
        yield title, lines


_PREFERRED = re.compile(r"ratio|/s|per s|accuracy|speed|seconds|time", re.I)
_PARAMETER = re.compile(r"eps|delta|n_jobs|seed|batch|rows|n_|size", re.I)


def _chart_data(rows):
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    if len(body) < 2:
        return None
    candidates = []
    for j in range(1, len(header)):
        values = [_number(r[j]) for r in body]
        known = [v for v in values if v is not None]
        if len(known) < 2 or len(known) < len(values) / 2 or len(set(known)) <= 2:
            continue
        if _PARAMETER.search(header[j]) and not _PREFERRED.search(header[j]):
            continue
        candidates.append((not _PREFERRED.search(header[j]), j, values))
    if not candidates:
        return None
    _, j, values = min(candidates, key=lambda c: (c[0], c[1]))
    labels = [
        " | ".join(
            c if _number(c) is None else f"{h}={c}"
            for h, c in zip(header[:j], r[:j])
            if c
        )
        for r in body
    ]
    pairs = [(lab, v) for lab, v in zip(labels, values) if v is not None]
    return header[j], pairs[:30]


def write_benchmark_plots(
    results_md: Path, out_dir: Path, include_file: Path, rel: str
):
    """Write one PNG per readable section and an reST fragment showing them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    blocks = []
    text = results_md.read_text() if results_md.exists() else ""
    for k, (title, lines) in enumerate(_sections(text)):
        rows = _first_table(lines)
        curves = _curves(rows) if rows else None
        if curves:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for label, (x, mean, std) in curves.items():
                ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=label)
            ax.set_xscale("log")
            ax.set_xlabel(f"{rows[0][0]} (smaller is more private)")
            ax.set_ylabel("score (mean ± std)")
            ax.set_title(title, fontsize=10)
            ax.legend(fontsize=8)
            fig.tight_layout()
            name = f"benchmark_{k}.png"
            fig.savefig(out_dir / name, dpi=90)
            plt.close(fig)
            blocks += [
                f".. figure:: {rel}/{name}",
                f"   :alt: {title}",
                "",
                f"   {title}: privacy–utility curves from the table above.",
                "",
            ]
            continue
        data = _chart_data(rows) if rows else None
        if data is None:
            continue
        column, pairs = data
        labels = [lab if len(lab) <= 60 else lab[:57] + "..." for lab, _ in pairs]
        values = [v for _, v in pairs]
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(pairs) + 1.2))
        ax.barh(range(len(pairs)), values, color="C0")
        ax.set_yticks(range(len(pairs)), labels=labels, fontsize=8)
        ax.invert_yaxis()
        positive = [v for v in values if v > 0]
        if positive and len(positive) == len(values) and max(values) > 50 * min(values):
            ax.set_xscale("log")
        ax.set_xlabel(column)
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        name = f"benchmark_{k}.png"
        fig.savefig(out_dir / name, dpi=90)
        plt.close(fig)
        blocks += [
            f".. figure:: {rel}/{name}",
            f"   :alt: {title}",
            "",
            f"   {title}: ``{column}``, from the table above.",
            "",
        ]
    header = [".. rubric:: Plots of the tables above", ""]
    if not blocks:
        blocks = ["No benchmark table has been measured yet.", ""]
    include_file.write_text("\n".join(header + blocks))
