"""Sphinx configuration for skpriv (built by ``make docs``, warnings are errors)."""

import importlib
import os
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import skpriv  # noqa: E402
from skpriv.utils._discovery import PUBLIC_MODULES  # noqa: E402

project = "skpriv"
author = "skpriv developers"
copyright = "skpriv developers"
release = skpriv.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "generated/*.examples", "sg_execution_times.rst"]
templates_path = ["_templates"]
html_static_path = ["_static"]

html_theme = "pydata_sphinx_theme"
html_title = f"skpriv {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}

# -- autodoc / numpydoc -------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Docstrings are checked with numpydoc.validate in tests/test_docstrings.py;
# the build stays quiet about them so that -W fails only on broken pages.
numpydoc_validation_checks = set()
default_role = "literal"

# -- myst (benchmarks/RESULTS.md is Markdown) ---------------------------------
myst_heading_anchors = 3
# RESULTS.md links to scripts relative to benchmarks/; they are not doc pages.
suppress_warnings = ["myst.xref_missing", "myst.header"]

# -- sphinx-gallery -------------------------------------------------------------
FAST = os.environ.get("SKPRIV_EXAMPLES_FAST", "")
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|quickstart)\.py",
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "generated",
    "doc_module": ("skpriv",),
    "reference_url": {"skpriv": None},
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "plot_gallery": "True",
    "show_memory": False,
    "matplotlib_animations": False,
}


# -- API reference: generated from every public subpackage's __all__ ----------
API_MODULES = [
    "skpriv.preprocessing",
    "skpriv.encryption",
    "skpriv.linear_model",
    "skpriv.naive_bayes",
    "skpriv.cluster",
    "skpriv.decomposition",
    "skpriv.neural_network",
    "skpriv.ensemble",
    "skpriv.model_selection",
    "skpriv.stats",
    "skpriv.synthetic",
    "skpriv.federated",
    "skpriv.federated.flower",
    "skpriv.federated.flower_app",
    "skpriv.audit",
    "skpriv.mechanisms",
    "skpriv.accounting",
    "skpriv.display",
    "skpriv.exceptions",
    "skpriv.testing",
    "skpriv.testing.strategies",
    "skpriv.utils",
]


def public_names():
    """``{module: [names]}`` for every importable public module with names."""
    found = {}
    for module_name in dict.fromkeys([*API_MODULES, *PUBLIC_MODULES]):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # a part not written yet
                continue
            raise
        names = list(getattr(module, "__all__", []))
        if names:
            found[module_name] = names
    return found


def api_page() -> str:
    """The API reference page, one autosummary table per public module."""
    lines = [
        ".. _api:",
        "",
        "API reference",
        "=============",
        "",
        "Every public name of skpriv, generated from the ``__all__`` of each",
        "public subpackage when the site is built.",
        "",
    ]
    for module_name, names in public_names().items():
        title = f":mod:`{module_name}`"
        lines += [title, "-" * len(title), ""]
        lines += [f".. automodule:: {module_name}", "   :no-members:", ""]
        lines += [f".. currentmodule:: {module_name}", ""]
        lines += [".. autosummary::", "   :toctree: .", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names]
        lines.append("")
    return "\n".join(lines)


def write_api_page():
    """Write ``generated/api.rst`` (git-ignored) when its content changed."""
    target = HERE / "generated" / "api.rst"
    text = api_page()
    if not target.exists() or target.read_text() != text:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text)


write_api_page()

from _bench_plots import write_benchmark_plots  # noqa: E402

write_benchmark_plots(
    ROOT / "benchmarks" / "RESULTS.md",
    HERE / "generated" / "benchmarks",
    HERE / "generated" / "benchmark_plots.inc",
    rel="generated/benchmarks",
)


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn generates set_{method}_request for metadata routing; their
    # docstrings point into scikit-learn's own glossary, which is not here.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


_CODE_SPAN = re.compile(r"(`+[^`]*`+)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w`*|])([A-Za-z]\w*[A-Za-z0-9]_)(?![\w`])")


def _quote_fitted_names(app, what, name, obj, options, lines):
    # Bare ``n_features_in_`` in prose or types is a reST reference to an
    # undefined target; scikit-learn quotes such names. Quote them outside
    # code spans, doctests and directives.
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith((">>>", "...", "..", ":")):
            continue
        parts = _CODE_SPAN.split(line)
        for j in range(0, len(parts), 2):
            parts[j] = _TRAILING_UNDERSCORE.sub(r"`\1`", parts[j])
        lines[i] = "".join(parts)


_SKLEARN_REF = re.compile(r":ref:`([^`<]+?)\s*<[^`>]+>`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    # Methods that skpriv wraps but scikit-learn wrote (the federated
    # ``score``) link to labels of scikit-learn's user guide, not here: keep
    # their text.
    if not getattr(obj, "__module__", "").startswith("sklearn"):
        return
    lines[:] = [_SKLEARN_REF.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
    app.connect("autodoc-process-docstring", _quote_fitted_names, priority=400)
