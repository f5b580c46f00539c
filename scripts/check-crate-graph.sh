#!/usr/bin/env bash
# Check the dependency edges between the workspace's crates against the graph documented in
# docs/ARCHITECTURE.md (its ```crate-graph block): an edge not listed there, or a listed edge
# that no Cargo.toml has any more, fails. Only [dependencies] count (dev-dependencies may reach
# anything a test needs).
set -euo pipefail
cd "$(dirname "$0")/.."
documented=$(awk '/^```crate-graph/{f=1;next} /^```/{f=0} f && NF' docs/ARCHITECTURE.md | sort -u)
actual=$(for toml in crates/*/Cargo.toml bins/*/Cargo.toml; do
  name=$(awk -F'"' '/^name = /{print $2; exit}' "$toml")
  awk -v n="$name" '/^\[dependencies\]/{f=1;next} /^\[/{f=0} f && /^bkdata-/{split($1,a,/[ .=]/); print n " -> " a[1]}' "$toml"
done | sort -u)
status=0
while read -r edge; do
  [ -n "$edge" ] || continue
  if ! grep -qxF "$edge" <<<"$documented"; then
    echo "crate graph: $edge is not in docs/ARCHITECTURE.md (add it there, or drop the dependency)" >&2
    status=1
  fi
done <<<"$actual"
while read -r edge; do
  [ -n "$edge" ] || continue
  if ! grep -qxF "$edge" <<<"$actual"; then
    echo "crate graph: docs/ARCHITECTURE.md lists $edge, which no Cargo.toml has" >&2
    status=1
  fi
done <<<"$documented"
[ "$status" = 0 ] && echo "crate graph: $(wc -l <<<"$actual") edges, all documented"
exit "$status"
