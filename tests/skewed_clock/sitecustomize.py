"""Loaded by a worker process started with this folder on PYTHONPATH: its wall clock
(datetime.now and friends, time.time) runs CLARION_TEST_CLOCK_SKEW_S seconds off, as on a
machine whose clock is wrong. time.monotonic, the database's and Redis' clocks are untouched.
Start one with SendingStack.start_skewed_worker.
"""

import datetime as _datetime
import os
import time
from typing import Any

_real = _datetime.datetime
_skew = _datetime.timedelta(seconds=float(os.environ.get("CLARION_TEST_CLOCK_SKEW_S", "0")))


class _SameClass(type):
    """Real datetimes still count as instances (of the class code imported by name)."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, _real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _real)


class _SkewedDatetime(_real, metaclass=_SameClass):
    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> _real:  # type: ignore[override]
        return _real.now(tz) + _skew

    @classmethod
    def utcnow(cls) -> _real:  # type: ignore[override]
        return _real.now(_datetime.UTC).replace(tzinfo=None) + _skew


_datetime.datetime = _SkewedDatetime  # type: ignore[misc]
_time = time.time
time.time = lambda: _time() + _skew.total_seconds()
