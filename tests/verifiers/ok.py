"""A well-behaved thinkrl exec verifier, for tests/test_reward.c.

Reads one JSON request per line ({"prompt", "response", "record", ...}) and
answers {"reward": x, "id": id} per line (the request's id echoed; with the
argument "noid" the id is left out, as a verifier written before ids were sent
would):
  x = len(response) + 0.5 if the record's answer occurs in the response;
  meta.want == "tokens": x = n_tokens + 0.25 * truncated;
  meta.want == "prompt": x = len(prompt) (prompt null: -1).
Lines are decoded as strict UTF-8, so invalid bytes in a request kill it.
With the argument "child" it first starts a child (sleep) it never waits for.
It logs to stderr on every request (the caller must drain stderr)."""
import json
import subprocess
import sys

noid = "noid" in sys.argv[1:]
if len(sys.argv) > 1 and sys.argv[1] == "child":
    # a helper it starts and never waits for: gone when the caller stops it
    subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

for raw in sys.stdin.buffer:
    req = json.loads(raw.decode("utf-8"))
    rec = req.get("record") or {}
    want = (rec.get("meta") or {}).get("want")
    resp = req["response"]
    if want == "tokens":
        x = req["n_tokens"] + (0.25 if req["truncated"] else 0.0)
    elif want == "prompt":
        x = -1 if req["prompt"] is None else len(req["prompt"])
    else:
        ans = rec.get("answer")
        x = len(resp) + (0.5 if ans and ans in resp else 0.0)
    sys.stderr.write("ok.py: scored a response of %d chars\n" % len(resp))
    sys.stdout.write(json.dumps({"reward": x} if noid else {"reward": x, "id": req["id"]}) + "\n")
    sys.stdout.flush()
