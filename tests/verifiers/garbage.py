"""A verifier that answers with something other than a JSON object, for
tests/test_reward.c.
  (no argument): "this is not json";
  trailing:      a valid object followed by more text;
  array:         a JSON array;
  double:        two valid replies to every request;
  long:          2 MiB without a newline, then silence."""
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else ""
out = {
    "trailing": '{"reward": 1} and more',
    "array": "[1, 2]",
    "double": '{"reward": 1}\n{"reward": 2}',
}.get(mode, "this is not json")
if mode == "long":
    sys.stdin.readline()
    sys.stdout.write("x" * (2 << 20))
    sys.stdout.flush()
    time.sleep(60)
for line in sys.stdin:
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
