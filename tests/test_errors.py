"""One error hierarchy: the user's mistakes are one line and exit code 2, zoomhard's bugs a
traceback and exit code 1."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zoomhard
from zoomhard import errors
from zoomhard.cli import main

SRC = str(Path(zoomhard.__file__).resolve().parents[1])


def _zoomhard(*args: str, patch: str = "") -> subprocess.CompletedProcess:
    """The command line as a user runs it (what the `zoomhard` script does), after `patch`."""
    code = f"import sys\n{patch}\nfrom zoomhard.cli import main\nsys.exit(main({list(args)!r}))"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_every_error_type_is_a_zoomhard_error_and_keeps_its_old_name_and_base():
    from zoomhard.crops import ImageDecodeError
    from zoomhard.data import DataError
    from zoomhard.data.python import DataArgumentError
    from zoomhard.labels import LabelError
    from zoomhard.library import ModelArgumentError
    from zoomhard.models import ModelError
    from zoomhard.net import OfflineError
    from zoomhard.reproduce import StudyError
    from zoomhard.runs.lock import LockedError
    from zoomhard.runs.store import RunError

    old = [ImageDecodeError, DataError, DataArgumentError, LabelError, ModelArgumentError, ModelError, OfflineError,
           StudyError, LockedError, RunError]
    types = [t for _, t in inspect.getmembers(errors, inspect.isclass) if issubclass(t, Exception)]
    assert set(old) < set(types) and zoomhard.ZoomhardError is errors.ZoomhardError
    assert all(issubclass(t, zoomhard.ZoomhardError) for t in types)
    # callers of the Python API that catch the standard types keep working
    assert issubclass(LabelError, ValueError) and issubclass(StudyError, ValueError)
    assert issubclass(ModelArgumentError, TypeError) and issubclass(DataArgumentError, TypeError)
    assert issubclass(errors.UsageError, ValueError) and issubclass(errors.MissingPathError, FileNotFoundError)


@pytest.mark.parametrize("call, error", [
    (lambda: zoomhard.ZoomGrid.parse_scales("224,abc"), errors.UsageError),
    (lambda: zoomhard.ZoomGrid.parse_scales("64:1024:0"), errors.UsageError),
    (lambda: zoomhard.Zoom.parse("s256-middle"), errors.UsageError),
    (lambda: zoomhard.ZoomGrid((), 3, 3), errors.UsageError),
    (lambda: __import__("zoomhard.labels").labels.parse_label("n99999999"), errors.LabelError),
    (lambda: __import__("zoomhard.protocol").protocol.check("nativ"), errors.UsageError),
    (lambda: zoomhard.sweep("lite0", "samples", grid=zoomhard.ZoomGrid(), scales="224"), errors.ArgumentError),
    (lambda: __import__("zoomhard.library").library.module_preprocess(object(), None, None),
     errors.ModelArgumentError),
])
def test_bad_values_raise_zoomhard_errors_that_are_still_value_and_type_errors(call, error):
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, zoomhard.ZoomhardError)


def test_a_zoomhard_error_is_one_line_and_exit_code_2(capsys):
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", "unused", "--scales", "224,abc"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["zoomhard: error: --scales '224,abc': give 'study', a list like "
                                        "224,256,384 or a range START:STOP[:STEP] like 64:1024:64"]
    p = _zoomhard("models", patch="import zoomhard.models as m\n"
                                  "def broken():\n    raise m.ModelError('the registry is unreadable; reinstall')\n"
                                  "m.list_models = broken")
    assert p.returncode == 2 and p.stderr == "zoomhard: error: the registry is unreadable; reinstall\n"


@pytest.mark.parametrize("bug", ["ValueError('an internal value')", "KeyError('no_such_key')",
                                 "FileNotFoundError(2, 'No such file or directory', '/internal/table')"])
def test_an_internal_error_shows_its_traceback_and_exit_code_1(bug):
    """A bug that happens to raise a ValueError, KeyError or FileNotFoundError is not the user's
    mistake: it must not read like bad input, and must say where it happened."""
    p = _zoomhard("models", patch=f"import zoomhard.models as m\ndef broken():\n    raise {bug}\nm.list_models = broken")
    assert p.returncode == 1
    assert "Traceback (most recent call last)" in p.stderr and "in broken" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith(bug.split("(")[0])
    assert "zoomhard: error" not in p.stderr


def test_an_internal_error_propagates_from_main(monkeypatch):
    import zoomhard.models as m

    def broken():
        raise ValueError("an internal value")

    monkeypatch.setattr(m, "list_models", broken)
    with pytest.raises(ValueError, match="an internal value"):
        main(["models"])
