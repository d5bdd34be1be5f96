"""The one JSON writer is strict (NaN/Inf -> null, allow_nan=False) and files are readable."""

import json
import math
import os
import stat

import numpy as np
import pytest

from medfx.utils.io import dumps, readable, write_json


def _strict(text):
    def bad(c):
        raise ValueError(c)

    return json.loads(text, parse_constant=bad)


def test_non_finite_values_become_null(tmp_path):
    obj = {"a": math.nan, "b": [np.float32("inf"), -math.inf, 1.5], "c": np.array([np.nan, 2.0]),
           "d": {("mid", 0): np.int64(3)}, "e": (np.bool_(True), None)}
    f = write_json(tmp_path / "x.json", obj)
    got = _strict(f.read_text())
    assert got == {"a": None, "b": [None, None, 1.5], "c": [None, 2.0], "d": {"('mid', 0)": 3}, "e": [True, None]}
    with pytest.raises(ValueError):
        _strict(json.dumps({"a": math.nan}))  # the check above can fail: plain json.dumps writes NaN
    assert _strict(dumps([math.nan])) == [None]


def test_readable_gives_the_usual_mode(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    os.chmod(f, 0o600)
    readable(f)
    assert stat.S_IMODE(f.stat().st_mode) & 0o044 == 0o044
