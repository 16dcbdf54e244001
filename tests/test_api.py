"""The package as a newcomer meets it: ``import casework_analytics as ca`` and Tab."""

from __future__ import annotations

import subprocess
import sys

import pytest

import casework_analytics as ca


@pytest.mark.parametrize("name", ca.MODULES)
def test_every_analysis_module_is_an_attribute(name):
    module = getattr(ca, name)
    assert module.__name__ == f"casework_analytics.{name}"
    assert name in dir(ca)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'stagez'"):
        _ = ca.stagez


def test_import_does_not_load_the_heavy_modules():
    # A fresh interpreter: plots (matplotlib) and the comparisons (statsmodels) load
    # only when used.
    code = (
        "import sys, casework_analytics as ca; "
        "print(sorted(m for m in ('matplotlib', 'statsmodels') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_module_lists_its_public_names_in_all():
    # `from casework_analytics.stages import *` and Tab completion show what a
    # module offers: every public function and class it defines, and nothing
    # it does not have.
    import importlib
    import inspect
    import pkgutil

    import casework_analytics

    for info in pkgutil.iter_modules(casework_analytics.__path__):
        if info.ispkg:
            continue
        module = importlib.import_module(f"casework_analytics.{info.name}")
        names = getattr(module, "__all__", None)
        assert names is not None, info.name
        assert all(hasattr(module, n) for n in names), info.name
        if info.name == "cli":
            continue
        defined = {
            n
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__
        }
        assert defined <= set(names), (info.name, sorted(defined - set(names)))
