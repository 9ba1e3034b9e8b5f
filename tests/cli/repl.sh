#!/usr/bin/env bash
# The REPL through a real terminal (a private tmux server): Tab completion of globals,
# zl. fields and an object's methods; Ctrl-C interrupting a Lua loop and a loop of C
# calls with the objects intact, cancelling a half-typed line and a multi-line chunk,
# never killing the REPL; help(); readable values; the history file written after
# every line and read back by the next session. Every wait polls the screen with a
# bounded timeout. Also, without a terminal: -e predefines zl and help.
#   bash tests/cli/repl.sh build/zonelab
set -u
ZL=$(realpath "${1:-build/zonelab}")
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d)
TM=(tmux -S "$tmp/tmux.sock" -f /dev/null)
S=repl
cleanup() {
  # only the tmux server this test started (its own socket), then its folder
  [ -S "$tmp/tmux.sock" ] && "${TM[@]}" kill-server >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM # a killed test still stops its tmux server

# ---- without a terminal
out=$("$ZL" -e 'print(type(zl), zl.version == require("zonelab").version)' 2>&1)
[ "$out" = "table	true" ] && ok "-e predefines zl" || bad "-e predefines zl: $out"
out=$("$ZL" -e 'help(zl.tensor.from)' 2>&1)
[[ "$out" == *"zl.tensor.from("* ]] && ok "-e help(zl.tensor.from)" || bad "-e help(zl.tensor.from): $out"
out=$(printf '%s\n' '{1, {2, "x"}, k = true}' 'zl.json.null' | "$ZL" 2>&1)
[ "$out" = $'{1, {2, "x"}, k = true}\nzl.json.null' ] && ok "piped REPL prints tables readably" \
  || bad "piped REPL tables: $out"

# a script: Ctrl-C (SIGINT) stops a Lua loop with one error line and exit status 1
"$ZL" -e 'print("spinning"); while true do end' >"$tmp/spin.out" 2>"$tmp/spin.err" &
spin=$!
for ((i = 0; i < 200; i++)); do grep -q spinning "$tmp/spin.out" 2>/dev/null && break; sleep 0.1; done
kill -INT "$spin"
wait "$spin"; rc=$?
[ "$rc" -eq 1 ] && [ "$(cat "$tmp/spin.err")" = "zonelab: error: interrupted (Ctrl-C)" ] \
  && ok "SIGINT stops a script's loop" || bad "SIGINT to a script: exit $rc, $(cat "$tmp/spin.err")"

if ! command -v tmux >/dev/null; then
  bad "tmux is not installed (make deps installs it)"
  echo "repl.sh: $pass passed, $fail failed"; exit 1
fi

hist="$tmp/history"
start() { # a REPL in a detached 100x50 window of our own tmux server
  "${TM[@]}" new-session -d -s "$S" -x 100 -y 50 \
    "cd $(printf %q "$tmp") && exec env ZONELAB_HISTORY=$(printf %q "$hist") TERM=screen INPUTRC=/dev/null $(printf %q "$ZL")"
}
screen() { "${TM[@]}" capture-pane -p -J -t "$S" -S -1000 2>/dev/null; }
keys() { "${TM[@]}" send-keys -t "$S" "$@"; }
line() { "${TM[@]}" send-keys -t "$S" -l "$1"; "${TM[@]}" send-keys -t "$S" Enter; }
# waits up to 20 s (a loaded machine) for a line of the screen to match an extended regex (readline may
# leave blanks after the cursor, hence the " *$" of the line patterns)
wait_for() {
  local i
  for ((i = 0; i < 200; i++)); do
    screen | grep -Eq -- "$1" && return 0
    sleep 0.1
  done
  return 1
}
# Ctrl-C at a prompt, then waits for the fresh prompt it brings (keys typed sooner could
# reach the line being cancelled: a person is slower than send-keys)
prompts() { screen | grep -cE '^>>? '; }
cancel() {
  local n i
  n=$(prompts)
  keys C-c
  for ((i = 0; i < 200; i++)); do [ "$(prompts)" -gt "$n" ] && return 0; sleep 0.1; done
  bad "no fresh prompt after Ctrl-C"; screen | tail -5
}
expect() {
  if wait_for "$1"; then ok "$2"; else bad "$2: /$1/ is not on the screen:"; screen | tail -15; fi
  if [ "$fail" -ge 5 ]; then echo "repl.sh: $pass passed, $fail failed (stopped early)"; exit 1; fi
}

start
expect '^> *$' "the REPL shows its prompt"

# ---- values and help
line 'print("calc-" .. 20 + 22)'
expect '^calc-42$' "a line runs"
line '{1, {2, "x"}, k = true}'
expect '^\{1, \{2, "x"\}, k = true\}$' "a table is printed readably"
line 'help(zl.bert)'
expect '^## zonelab.bert$' "help(zl.bert) shows the module's section"
line 'm = zl.bert.new{vocab_size = 8, hidden_size = 4, num_hidden_layers = 1, num_attention_heads = 1, intermediate_size = 4, max_position_embeddings = 8}'
line 'help(m.forward)'
expect '^  m:forward\{' "help(m.forward) shows the method's entry"
line 'help "param_names"'
expect '^  m:params\(\), m:param_names\(\)$' 'help "param_names" finds the entry'

# ---- Tab completion
keys -l 'cg = zl.tens'; keys Tab
expect '^> cg = zl\.tensor *$' "Tab completes a zl. field"
keys -l '.ran'; keys Tab
expect '^> cg = zl\.tensor\.randn *$' "Tab completes a function of a module"
keys C-u
line 'tabcomp = zl.tensor.from{1, 2, 3}'
keys -l 'print("n=" .. tabcomp:nume'; keys Tab
expect '^> print\("n=" \.\. tabcomp:numel *$' "Tab completes a method after ':'"
line '())'
expect '^n=3' "the completed method runs"
keys -l 'tabcomp.matm'; keys Tab
expect '^> tabcomp\.matmul *$' "Tab completes a method after '.'"
keys C-u
keys -l 'prin'; keys Tab
expect '^> print *$' "Tab completes a global"
keys C-u
keys -l 'f = io.open("hist'; keys Tab
expect '^> f = io\.open\("history"? *$' "Tab completes a file name inside a string"
keys C-u
keys -l 'zl.t'; keys Tab Tab
expect 'zl\.tokenizer' "Tab Tab lists the candidates"
keys C-u

# ---- Ctrl-C
line 'print("loop-" .. "started"); x = 41; while true do x = 41 end'
if wait_for '^loop-started$'; then
  keys C-c
  expect 'interrupted \(Ctrl-C\)' "Ctrl-C stops a Lua loop"
  line 'print("after-" .. (x + 1) .. "-" .. tabcomp:numel())'
  expect '^after-42-3$' "the REPL and its objects survive the interrupt"
else
  bad "the Lua loop did not start"; screen | tail -5
fi
line 'print("pcall-" .. "started"); n = 0; while true do pcall(function() n = n + 1; while true do end end) end'
if wait_for '^pcall-started$'; then
  keys C-c
  for ((i = 0; i < 200; i++)); do
    [ "$(screen | grep -c 'interrupted (Ctrl-C)')" -ge 2 ] && break
    sleep 0.1
  done
  [ "$(screen | grep -c 'interrupted (Ctrl-C)')" -ge 2 ] && ok "Ctrl-C stops a loop that catches errors with pcall" \
    || { bad "Ctrl-C did not stop the pcall loop"; screen | tail -5; }
else
  bad "the pcall loop did not start"; screen | tail -5
fi
line 'a = zl.tensor.randn({128, 128}, 1); b = a:matmul(a); print("mm-" .. "started"); while true do b = a:matmul(a) end'
if wait_for '^mm-started$'; then
  keys C-c
  for ((i = 0; i < 200; i++)); do
    [ "$(screen | grep -c 'interrupted (Ctrl-C)')" -ge 3 ] && break
    sleep 0.1
  done
  [ "$(screen | grep -c 'interrupted (Ctrl-C)')" -ge 3 ] && ok "Ctrl-C stops a loop of C calls" \
    || { bad "Ctrl-C did not stop the matmul loop"; screen | tail -5; }
  line 'print("alive-" .. a:numel() .. "-" .. b:numel())'
  expect '^alive-16384-16384$' "tensors are intact after the interrupt"
else
  bad "the matmul loop did not start"; screen | tail -5
fi
keys -l 'this is not lua'
wait_for '^> this is not lua *$' || bad "typed text does not show"
cancel
line 'print("clean-" .. 8)'
expect '^clean-8$' "Ctrl-C clears a half-typed line"
line 'for i = 1, 3 do'
expect '^>> *$' "a multi-line chunk continues with >>"
cancel
line 'print("fresh-" .. 7)'
expect '^fresh-7$' "Ctrl-C cancels the half-typed chunk"
cancel; cancel
line 'print("still-" .. 9)'
expect '^still-9$' "Ctrl-C at the prompt never kills the REPL"
if screen | grep -q 'syntax error'; then bad "a cancelled line reached Lua"; screen | grep 'syntax error'; else ok "no cancelled line reached Lua"; fi

# ---- history: on disk after every line, read back by the next session
if grep -qxF 'print("fresh-" .. 7)' "$hist" && grep -qxF 'help(zl.bert)' "$hist"; then
  ok "every line is in the history file while the REPL runs"
else
  bad "history file lacks lines: $(cat "$hist" 2>/dev/null)"
fi
grep -qxF 'this is not lua' "$hist" && bad "a cancelled line went to the history" || ok "cancelled lines stay out of the history"
line 'print("last-" .. 10)'
expect '^last-10$' "the last line runs"
keys C-d
for ((i = 0; i < 100; i++)); do "${TM[@]}" has-session -t "$S" 2>/dev/null || break; sleep 0.1; done
"${TM[@]}" has-session -t "$S" 2>/dev/null && bad "Ctrl-D did not quit" || ok "Ctrl-D quits"
start
expect '^> *$' "a second session starts"
keys Up
expect '^> print\("last-" \.\. 10\) *$' "Up recalls the previous session's last line"
keys C-u C-d

echo "repl.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
