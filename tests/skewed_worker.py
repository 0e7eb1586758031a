"""`python -m tests.skewed_worker SECONDS`: `clarion worker` on a host whose clock is
SECONDS ahead of the others' (a clock that drifted, a VM resumed), for tests of "one clock".

The process' clock is read through `time.time` and `db.types.utcnow` (datetime's own clock
cannot be patched), so those two are moved before anything imports them.
"""

import sys
import time
from datetime import timedelta

import db.types

skew = float(sys.argv[1])
_time = time.time
_utcnow = db.types.utcnow
time.time = lambda: _time() + skew
db.types.utcnow = lambda: _utcnow() + timedelta(seconds=skew)

from graph.cli import main  # noqa: E402 - after the clock is moved

main(["worker"])
