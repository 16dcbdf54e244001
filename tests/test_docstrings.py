"""Every public function documents its parameters and result, and is fully typed.

A newcomer finds the API with ``help()`` and Tab (issue 15): a function whose
docstring has no ``Parameters`` or ``Returns`` section, or a parameter without
a type hint, sends them to the source instead. This walks the package as
``pkgutil`` sees it, so a new module or function is checked without being
listed here. ``cli.py`` is left out: its functions are the command line's
internals, documented by ``--help``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import pytest

import casework_analytics as ca

SKIPPED_MODULES = {"cli"}


def _public_functions():
    """``(qualified name, function, is_property)`` for every public function and method."""
    found = []
    for info in sorted(pkgutil.iter_modules(ca.__path__), key=lambda i: i.name):
        if info.name in SKIPPED_MODULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"casework_analytics.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_"):
                continue
            if callable(obj) and hasattr(obj, "__wrapped__") and not inspect.isclass(obj):
                obj = inspect.unwrap(obj)  # functools.cache, contextlib.contextmanager
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                found.append((f"{info.name}.{name}", obj, False))
            elif inspect.isclass(obj) and obj.__module__ == module.__name__:
                for attr_name, attr in vars(obj).items():
                    if attr_name.startswith("_"):
                        continue
                    is_property = isinstance(attr, property | functools.cached_property)
                    if isinstance(attr, staticmethod | classmethod):
                        attr = attr.__func__
                    elif isinstance(attr, property):
                        attr = attr.fget
                    elif isinstance(attr, functools.cached_property):
                        attr = attr.func
                    if inspect.isfunction(attr):
                        found.append((f"{info.name}.{name}.{attr_name}", attr, is_property))
    return found


FUNCTIONS = _public_functions()


def test_the_walk_finds_the_api():
    names = {name for name, _, _ in FUNCTIONS}
    assert {"cohort.load", "recovery.recovery_headline", "plots.km_plot"} <= names
    assert "cohort.Cohort.summary" in names
    assert not any(name.startswith("cli.") for name in names)


@pytest.mark.parametrize(
    ("name", "function", "is_property"), [pytest.param(*f, id=f[0]) for f in FUNCTIONS]
)
def test_public_function_is_documented_and_typed(name, function, is_property):
    signature = inspect.signature(function)
    parameters = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
    annotations = function.__annotations__
    unannotated = [p.name for p in parameters if p.name not in annotations]
    assert not unannotated, f"{name}: parameters without a type hint: {unannotated}"
    assert "return" in annotations, f"{name}: no return type hint"
    if is_property:  # read as attributes: the summary line is their documentation
        return
    doc = inspect.getdoc(function) or ""
    if parameters:
        assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
    if annotations["return"] not in (None, "None"):
        section = "Yields\n------" if inspect.isgeneratorfunction(function) else "Returns\n-------"
        assert section in doc, f"{name}: no {section.splitlines()[0]} section"
