"""A verifier whose "reward" is not a finite number, for tests/test_reward.c.
  nan (default): {"reward": NaN} (what json.dumps writes; not JSON);
  inf:           {"reward": 1e999} (valid JSON, infinite);
  string:        {"reward": "0.5"};
  missing:       {"score": 1};
  error:         {"error": "record lacks a solution"}."""
import json
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else "nan"
out = {
    "nan": json.dumps({"reward": float("nan")}),
    "inf": '{"reward": 1e999}',
    "string": json.dumps({"reward": "0.5"}),
    "missing": json.dumps({"score": 1}),
    "error": json.dumps({"error": "record lacks a solution"}),
}[mode]
for line in sys.stdin:
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
