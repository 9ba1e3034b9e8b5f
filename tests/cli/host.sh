#!/usr/bin/env bash
# The zonelab host: -e, scripts with arguments, the REPL on piped input, errors,
# --version, and the module loading into a stock lua5.4.
source "$(dirname "$0")/lib.sh" "$@"

out=$("$ZL" -e 'print(require("zonelab").tensor.randn({2,3}, 1))' 2>&1)
check "randn prints" "tensor f32 [2,3]" "$out"
check "randn values" "1.8844" "$out"

out=$(echo '=1+1' | "$ZL" -i 2>&1); check "repl =expr" "2" "$out"
out=$(printf 'x = 20\nx + 1\nfor i = 1, 2 do\nprint("row", i)\nend\n' | "$ZL" 2>&1)
check "repl bare expr" "21" "$out"; check "repl multi-line" "row	2" "$out"
out=$(printf '=zl.tensor.from{{1,2},{3,4}}\n' | "$ZL" -i 2>&1); check "repl tensor" "tensor f32 [2,2]" "$out"
out=$(printf 'error("oops")\n=3\n' | "$ZL" -i 2>&1); check "repl survives errors" "3" "$out"
check "repl error line" "zonelab: error:" "$out"

# zl.cpu_count(): the cores the process may run on, not the BLAS thread count (issue 17)
n=$(nproc)
out=$(OPENBLAS_NUM_THREADS=1 "$ZL" -e 'print(require("zonelab").cpu_count())' 2>&1)
check "cpu_count ignores OPENBLAS_NUM_THREADS" "$n" "$out"
if command -v taskset >/dev/null; then
  out=$(taskset -c 0 "$ZL" -e 'print(require("zonelab").cpu_count())' 2>&1)
  check "cpu_count follows the affinity mask" "1" "$out"
fi

cat > "$tmp/s.lua" <<'LUA'
print(arg[0]:match("s.lua$") ~= nil, arg[1], arg[2], select("#", ...))
LUA
out=$("$ZL" "$tmp/s.lua" a b 2>&1); check "script args" "true	a	b	2" "$out"

out=$("$ZL" -e 'require("zonelab").tensor.load("/no/such.safetensors")' 2>&1); rc=$?
check "core error line" "zonelab: error: /no/such.safetensors: cannot open" "$out"
[ $rc -eq 1 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL exit status $rc"; }
[ "$(echo "$out" | wc -l)" -eq 1 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL not one line: $out"; }
out=$("$ZL" --traceback -e 'error("deep")' 2>&1); check "traceback" "stack traceback" "$out"
out=$("$ZL" --version); check "version" "zonelab 0.1" "$out"
out=$("$ZL" --bogus 2>&1); rc=$?; check "unknown option" "unknown option --bogus" "$out"
[ $rc -eq 1 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL unknown option exit $rc"; }
out=$("$ZL" -e 'print(package.searchpath("zonelab.cli", package.path))' 2>&1); check "stdlib on path" "stdlib/zonelab/cli.lua" "$out"

# The module loads from a stock lua5.4 too.
mod=$(dirname "$ZL")/zonelab.so
if command -v lua5.4 >/dev/null && [ -f "$mod" ]; then
  # A sanitized module needs the sanitizer runtimes loaded first into the stock interpreter.
  pre=""
  if ldd "$mod" | grep -q libasan; then
    pre="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
  fi
  out=$(LD_PRELOAD="$pre" ASAN_OPTIONS=detect_leaks=0 lua5.4 -e "package.cpath='$(dirname "$ZL")/?.so;'..package.cpath; local zl=require 'zonelab'; print(zl.tensor.from{1,2}:sum(), zl.version)" 2>&1)
  check "stock lua5.4 require" "3.0	0.1" "$out"
else
  fail=$((fail+1)); echo "FAIL lua5.4 or $mod missing"
fi
# Installed (cmake --install): stdlib and recipes are found under <prefix>/share/zonelab.
if cmake --install "$(dirname "$ZL")" --prefix "$tmp/inst" >/dev/null 2>&1; then
  out=$(cd "$tmp" && "$tmp/inst/bin/zonelab" -e 'print(package.searchpath("zonelab.cli", package.path))' 2>&1)
  check "installed stdlib" "$tmp/inst/bin/../share/zonelab/stdlib/zonelab/cli.lua" "$out"
  out=$(cd "$tmp" && "$tmp/inst/bin/zonelab" "$tmp/inst/share/zonelab/recipes/tokenize.lua" --help 2>&1)
  check "installed recipe" "Usage: zonelab recipes/tokenize.lua" "$out"
else
  fail=$((fail+1)); echo "FAIL cmake --install"
fi
finish
