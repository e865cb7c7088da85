"""Engines are looked up by name and sit beside each other: none imports another, nor the sweep
module that picks them."""

import ast
from pathlib import Path

import pytest

import zoomhard
from zoomhard.sweep.engines import ENGINES, engine

ENGINE_DIR = Path(zoomhard.__file__).parent / "sweep"


def test_an_engine_is_found_by_name():
    from zoomhard.sweep.local import run_local
    from zoomhard.sweep.ray import run_ray_sweep

    assert ENGINES == ("local", "ray")
    assert engine("local") is run_local and engine("ray") is run_ray_sweep


def test_an_unknown_engine_is_one_line_naming_the_choices(tmp_path):
    from zoomhard.config import Setup
    from zoomhard.sweep import SweepConfig, run_sweep

    with pytest.raises(ValueError) as e:
        run_sweep(SweepConfig(Setup("lite0", "samples"), out=str(tmp_path / "run"), engine="spark"))
    assert str(e.value) == "unknown engine 'spark'; choose one of: local, ray"
    assert not (tmp_path / "run").exists(), "nothing starts before the name is checked"


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the zoomhard modules a file of zoomhard.sweep imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "zoomhard" if node.level == 2 else "zoomhard.sweep" if node.level == 1 else ""
            module = ".".join(p for p in (base, node.module) if p)
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("name", [n for n in ENGINES])
def test_no_engine_imports_another_or_the_sweep(name):
    imported = imported_modules(ENGINE_DIR / f"{name}.py")
    others = {f"zoomhard.sweep.{n}" for n in ENGINES if n != name}
    assert not imported & (others | {"zoomhard.sweep"}), imported & (others | {"zoomhard.sweep"})
