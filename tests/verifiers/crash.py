"""A verifier that fails, for tests/test_reward.c.
  (no argument): answers the first request, then exits with status 3 on the
                 second, after a message on stderr;
  early:         exits with status 4 at once, without reading anything;
  signal:        answers the first request, then kills itself with SIGTERM;
  idle:          answers the first request and exits with status 5 at once,
                 without waiting for the next."""
import json
import os
import signal
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "early":
    sys.stderr.write("crash.py: exiting before reading\n")
    sys.exit(4)
n = 0
for line in sys.stdin:
    n += 1
    if n == 2:
        if mode == "signal":
            os.kill(os.getpid(), signal.SIGTERM)
        sys.stderr.write("crash.py: giving up on request 2\n")
        sys.stderr.flush()
        sys.exit(3)
    sys.stdout.write(json.dumps({"reward": 1.0}) + "\n")
    sys.stdout.flush()
    if mode == "idle":
        sys.exit(5)
