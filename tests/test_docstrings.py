"""numpydoc validation and doctests of every public name of skpriv.

Public names are those in the ``__all__`` of the public modules (the same list
the API reference is generated from, see ``docs/conf.py``). The rules follow
scikit-learn's ``maint_tools/test_docstrings.py``: every check of
``numpydoc.validate`` except

- RT02 (the Returns type line may name the returned object), GL01 and GL02
  (where the summary starts), everywhere;
- ES01, SA01 and EX01 (extended summary, See Also, Examples) for methods:
  classes and functions need them, methods do not.

Methods inherited from scikit-learn (``get_params``, ``set_output``, the
generated ``set_*_request``...) are scikit-learn's docstrings and are not
checked here.
"""

import doctest
import importlib
import inspect

import numpy as np
import pytest

from skpriv.utils._discovery import PUBLIC_MODULES

numpydoc_validate = pytest.importorskip("numpydoc.validate")

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

IGNORED_EVERYWHERE = {"RT02", "GL01", "GL02"}
IGNORED_FOR_METHODS = {"ES01", "SA01", "EX01"}


def _public_objects():
    """``(import path, object)`` for every public class and function."""
    found = {}
    for module_name in dict.fromkeys([*API_MODULES, *PUBLIC_MODULES]):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            # A part not written yet, or an optional extra not installed.
            if getattr(exc, "name", None) == module_name or PUBLIC_MODULES.get(
                module_name
            ):
                continue
            if "skpriv" not in str(exc) and module_name.endswith("flower"):
                continue
            raise
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.setdefault(f"{module_name}.{name}", obj)
    return sorted(found.items())


def _own_methods(cls):
    """Public methods and properties that skpriv defines for ``cls``."""
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        for klass in cls.__mro__:
            if name in vars(klass):
                attr = vars(klass)[name]
                break
        else:  # pragma: no cover - dir() only lists attributes of the MRO
            continue
        if not klass.__module__.startswith("skpriv"):
            continue  # scikit-learn's (or Python's) docstring, not ours
        if isinstance(attr, (classmethod, staticmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr) or isinstance(attr, property):
            yield name, isinstance(attr, property)


#: Docstrings known to fail validation, with the reason; each is an xfail
#: (not strict: fixing one makes it XPASS, then delete its line). Only add a
#: line with a specific reason; never add a new public name here.
KNOWN_FAILURES = {}


def _param(path, method):
    where = path if method is None else f"{path}.{method}"
    marks = ()
    if where in KNOWN_FAILURES:
        marks = pytest.mark.xfail(reason=KNOWN_FAILURES[where], strict=False)
    return pytest.param(path, method, id=where, marks=marks)


def _targets():
    for path, obj in _public_objects():
        yield _param(path, None)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for method, _ in _own_methods(obj):
                yield _param(path, method)


def _errors(path, method, obj):
    target = path if method is None else f"{path}.{method}"
    result = numpydoc_validate.validate(target)
    is_property = method is not None and isinstance(
        inspect.getattr_static(obj, method), property
    )
    for code, message in result["errors"]:
        if code in IGNORED_EVERYWHERE:
            continue
        if method is not None and code in IGNORED_FOR_METHODS:
            continue
        if is_property and code in ("PR02", "GL08", "RT01", "SS05"):
            continue
        yield code, message


OBJECTS = dict(_public_objects())


@pytest.mark.parametrize("path, method", list(_targets()))
def test_docstring(path, method):
    obj = OBJECTS[path]
    if inspect.isclass(obj) and issubclass(obj, BaseException) and method is None:
        # Exceptions take *args like their base; their docstring must still
        # have a summary, and no other section is required.
        errors = [
            (c, m)
            for c, m in _errors(path, method, obj)
            if c not in ("PR01", "SA01", "EX01", "ES01")
        ]
    else:
        errors = list(_errors(path, method, obj))
    where = path if method is None else f"{path}.{method}"
    message = "\n".join(f"{code}: {text}" for code, text in errors)
    assert not errors, f"numpydoc validation of {where}:\n{message}"


@pytest.mark.slow  # the nets' and PATE's examples train models
@pytest.mark.parametrize("path", sorted(OBJECTS))
def test_doctest(path, monkeypatch, tmp_path):
    """Every public Examples section runs and prints what it shows."""
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    pytest.importorskip("matplotlib").use("Agg")
    obj = OBJECTS[path]
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    globs = {"np": np}
    tests = finder.find(obj, path.rsplit(".", 1)[-1], globs=globs)
    if inspect.isclass(obj):
        # Examples in the docstrings of the class's own methods.
        for method, is_property in _own_methods(obj):
            if is_property:
                continue
            attr = inspect.getattr_static(obj, method)
            attr = getattr(attr, "__func__", attr)
            tests += finder.find(attr, f"{path}.{method}", globs=dict(globs))
    failures = []
    for test in tests:
        if not test.examples:
            continue
        result = runner.run(test, out=failures.append, clear_globs=True)
        assert result.failed == 0 or failures
    assert not failures, "".join(failures)


def test_api_reference_covers_every_public_module():
    """docs/conf.py generates the API page from the same modules as checked here."""
    import ast
    import pkgutil
    from pathlib import Path

    import skpriv

    conf = Path(__file__).resolve().parent.parent / "docs" / "conf.py"
    tree = ast.parse(conf.read_text())
    listed = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "API_MODULES" for t in node.targets)
    )
    assert listed == API_MODULES
    subpackages = {
        f"skpriv.{m.name}"
        for m in pkgutil.iter_modules(skpriv.__path__)
        if not m.name.startswith("_") and m.name != "base"
    }
    missing = subpackages - set(API_MODULES)
    assert not missing, f"add {sorted(missing)} to API_MODULES here and in docs/conf.py"
    assert set(PUBLIC_MODULES) <= set(API_MODULES)
