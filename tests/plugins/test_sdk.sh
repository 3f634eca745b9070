#!/usr/bin/env bash
# test_sdk.sh SRC BUILD: install loom into a scratch prefix, build plugins/example out of
# tree against it (CMake package, then pkg-config), and run a workflow that uses it.
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/plugins/example" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/ex" >/dev/null
out=$("$tmp/prefix/bin/loom" run "$src/plugins/example/example.json" --plugins "$tmp/ex" --quiet)
[ "$out" = "42" ] || { echo "expected the example workflow to print 42, got: $out"; exit 1; }
# (Outputs are captured first: grep -q would close the pipe early under pipefail.)
info=$("$tmp/prefix/bin/loom" nodes --plugins "$tmp/ex" --json ExampleIntMath)
grep -q '"python_module": "example.math"' <<<"$info"
# pkg-config route: one compiler line.
libdir=$(ls -d "$tmp/prefix"/lib*/pkgconfig | head -1)
mkdir -p "$tmp/pc"
PKG_CONFIG_PATH=$libdir cc -shared -fPIC -o "$tmp/pc/example_nodes.so" \
  "$src/plugins/example/example_nodes.c" $(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs loom) -lm
listing=$("$tmp/prefix/bin/loom" nodes --plugins "$tmp/pc" ExampleFloatClamp)
grep -q ExampleFloatClamp <<<"$listing"
echo "plugin_sdk: 1 passed, 0 failed"
