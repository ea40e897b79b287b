"""A verifier that answers with something other than a JSON object, for
tests/test_reward.c.
  (no argument): "this is not json";
  trailing:      a valid object followed by more text;
  array:         a JSON array;
  double:        two valid replies to every request;
  double_id:     two replies to every request, the first echoing its id;
  wrong_id:      a reply echoing the request's id plus one;
  long:          2 MiB without a newline, then silence."""
import json
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
    if mode in ("double_id", "wrong_id"):
        rid = json.loads(line)["id"]
        out = json.dumps({"reward": 1, "id": rid + (mode == "wrong_id")})
        if mode == "double_id":
            out += '\n{"reward": 7}'
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
