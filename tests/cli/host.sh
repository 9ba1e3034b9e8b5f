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

# A failed write of standard output is an error (exit 1, one message), never a success:
# print, io.write (buffered: caught at exit), os.exit, a recipe (the issue's example).
check_eq() { [ "$3" = "$2" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL $1: expected '$2', got '$3'"; }; }
one_line() { [ "$(echo "$2" | wc -l)" -eq 1 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL $1: not one line: $2"; }; }
if [ -w /dev/full ]; then
  cat > "$tmp/dev.json" <<'EOF'
{"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "red", "qas": [
 {"id": "q1", "question": "?", "answers": [{"text": "red", "answer_start": 0}]}]}]}]}
EOF
  echo '{"q1": "red"}' > "$tmp/pred.json"
  out=$("$ZL" -e 'print("x")' 2>&1 >/dev/full)
  check_eq "print > /dev/full says why" "zonelab: error: cannot write to standard output: No space left on device" "$out"
  for code in 'print("x")' 'io.write("x")' 'io.write("x") os.exit(0)' 'io.stdout:write("x"):flush()'; do
    out=$("$ZL" -e "$code" 2>&1 >/dev/full); rc=$?
    check_eq "-e '$code' > /dev/full: exit" 1 "$rc"
    check "-e '$code' > /dev/full" "zonelab: error: cannot write to standard output" "$out"
    one_line "-e '$code' > /dev/full" "$out"
  done
  for cmd in "recipes/evaluate.lua $tmp/dev.json $tmp/pred.json" "recipes/tokenize.lua --help" "--version"; do
    out=$("$ZL" $cmd 2>&1 >/dev/full); rc=$?
    check_eq "$cmd > /dev/full: exit" 1 "$rc"
    check "$cmd > /dev/full" "zonelab: error: cannot write to standard output" "$out"
    one_line "$cmd > /dev/full" "$out"
  done
  out=$("$ZL" recipes/evaluate.lua "$tmp/dev.json" "$tmp/pred.json" 2>&1); rc=$?
  check_eq "evaluate to a good stdout" '{"exact_match": 100.0, "f1": 100.0}' "$out"
  check_eq "evaluate to a good stdout: exit" 0 "$rc"
else
  fail=$((fail+1)); echo "FAIL /dev/full is not writable here"
fi

# Errors raised inside zonelab's own Lua (stdlib/, recipes/) carry no source position; the
# user's own code keeps its positions; --traceback shows everything.
out=$("$ZL" recipes/decode.lua --threads 99999999999 --model m --predict p --out o 2>&1)
check_eq "--threads 99999999999" "zonelab: error: --threads must be at most 1024, got '99999999999'" "$out"
out=$("$ZL" -e 'require("zonelab.stats").mean(nil)' 2>&1)
check_eq "stdlib error without position" "zonelab: error: attempt to get length of a nil value (local 'xs')" "$out"
out=$("$ZL" -e 'zl.set_threads(5000)' 2>&1)
check_eq "binding error from -e keeps its position" "zonelab: error: (command line):1: bad argument #1 to 'set_threads' (thread count must be 1..1024)" "$out"
printf 'local x = nil\nreturn x.field\n' > "$tmp/mine.lua"
out=$("$ZL" "$tmp/mine.lua" 2>&1); check "user script keeps its position" "mine.lua:2: attempt to index a nil value" "$out"
out=$("$ZL" -e 'error("deep")' 2>&1); check_eq "-e keeps its position" "zonelab: error: (command line):1: deep" "$out"
out=$("$ZL" --traceback -e 'require("zonelab.stats").mean(nil)' 2>&1)
check "--traceback keeps the position" "stdlib/zonelab/stats.lua:" "$out"

# help() reads docs/lua-api.md as built into the host: the same bytes as the page
"$ZL" -e 'io.write(require("zonelab.repl").doc)' > "$tmp/embedded.md"
cmp -s "$tmp/embedded.md" docs/lua-api.md && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL the embedded docs differ from docs/lua-api.md (rebuild)"; }

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
  # help() reads the docs compiled into the host: no docs/ folder is installed
  out=$(cd "$tmp" && "$tmp/inst/bin/zonelab" -e 'help(zl.bert)' 2>&1)
  check "installed help(zl.bert)" "## zonelab.bert" "$out"
  check "installed help(zl.bert) entry" "zl.bert.load(path, [opts])" "$out"
else
  fail=$((fail+1)); echo "FAIL cmake --install"
fi
finish
