"""A verifier that never answers, for tests/test_reward.c: it reads requests
and sleeps. With the argument "child" it first starts a child process
(sleep) that must die with it when the caller kills the process group."""
import subprocess
import sys
import time

if len(sys.argv) > 1 and sys.argv[1] == "child":
    subprocess.Popen(["sleep", "60"])
sys.stderr.write("hang.py: thinking very hard\n")
sys.stderr.flush()
sys.stdin.readline()
while True:
    time.sleep(60)
