#!/usr/bin/env bash
# Builds @cozebus/otel's src as of a git ref (default main) into .bench-base/dist, for compare-base.mjs:
#   bash bench/build-base.sh main && node bench/compare-base.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${1:-main}"
rm -rf .bench-base && mkdir -p .bench-base/src
for f in $(git ls-tree --name-only "$ref" src/); do git show "$ref:packages/otel/$f" > ".bench-base/$f"; done
cat > .bench-base/tsconfig.json <<'JSON'
{ "extends": "../../../tsconfig.base.json", "compilerOptions": { "rootDir": "src", "outDir": "dist", "declaration": false, "declarationMap": false, "sourceMap": false }, "include": ["src"] }
JSON
npx tsc -p .bench-base/tsconfig.json
echo "built $ref's @cozebus/otel into .bench-base/dist"
