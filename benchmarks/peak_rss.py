"""Run a command and write "<wall seconds> <peak RSS KiB>" of that command to a file.

    python benchmarks/peak_rss.py RESULT_FILE CMD [ARGS...]

A separate small launcher is needed because a child's ru_maxrss on Linux
includes the pages of the (large) parent it was forked from; this launcher is
~10 MiB, so figures below that are its floor.
"""

import os
import sys
import time

result_file, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(result_file, "w") as f:
    f.write(f"{wall:.6f} {usage.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
