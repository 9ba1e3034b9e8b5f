# recipes/flows.lua --html in a real browser: Debian's chromium driven by playwright-core
# (npm, tests/browser/package-lock.json, installed into the build folder). The page loads
# with no console error and no request; clicking a token highlights the tokens its paths
# reach in the JSON; the tau slider gives the edge counts of the JSON written at that tau;
# the screenshot is not blank. Exit 77 (skipped) only when chromium or node is missing.
source "$(dirname "$0")/lib.sh" "$@"
[ -x /usr/bin/chromium ] || skip_all "no /usr/bin/chromium (make deps installs it, optional)"
command -v node > /dev/null && command -v npm > /dev/null || skip_all "no node/npm (make deps installs them, optional)"

# playwright-core, pinned by the committed lock file, into a folder of the build tree
NM="$(cd "$(dirname "$ZL")" && pwd)/browser"
SRC="$(cd "$(dirname "$0")/../browser" && pwd)"
if ! cmp -s "$SRC/package-lock.json" "$NM/package-lock.json" || [ ! -d "$NM/node_modules/playwright-core" ]; then
  mkdir -p "$NM" && cp "$SRC/package.json" "$SRC/package-lock.json" "$NM/" \
    && (cd "$NM" && npm ci --no-audit --no-fund --ignore-scripts > npm.log 2>&1) \
    || { bad "npm ci of playwright-core failed: $(tail -3 "$NM/npm.log")"; finish; }
fi

# a random model with a wide initialisation attends sharply enough for edges at tau 0.1-0.3
flows_models "$tmp" 0.6 || { bad "could not build the synthetic data"; finish; }
QID=$(cat "$tmp/qid")
run() { # out-dir tau extra...
  local out="$1" tau="$2"; shift 2
  "$ZL" recipes/flows.lua --model "$tmp/m1" --predict "$tmp/data/dev.json" --qid "$QID" \
    --max-seq-length 256 --tau "$tau" --out "$tmp/$out" "$@" > "$tmp/$out.log" 2>&1 \
    && ok || bad "flows.lua --tau $tau $*: $(cat "$tmp/$out.log")"
}
drive() { # name html json json-at-tau2 tau2
  NODE_PATH="$NM/node_modules" node "$SRC/flows_view_check.js" "$2" "$3" "$4" "$5" "$tmp/$1.png" "$tmp/profile-$1" \
    > "$tmp/$1.check" 2>&1; local rc=$?
  grep -q " 0 failed" "$tmp/$1.check" && [ $rc -eq 0 ] && ok || bad "$1 in chromium: $(cat "$tmp/$1.check")"
}
F="flows_$QID"
# two models compared, the viewer written at tau 0.2 with floor 0.1; the JSONs at 0.3 and 0.2
run cmp 0.2 --compare "$tmp/m2" --html --html-floor 0.1
run cmp3 0.3 --compare "$tmp/m2"
grep -q "wrote $tmp/cmp/$F.html (viewer)" "$tmp/cmp.log" && ok || bad "no viewer line: $(cat "$tmp/cmp.log")"
grep -Eq "(src|href)=\"(https?:)?//" "$tmp/cmp/$F.html" && bad "the page links outside itself" || ok
grep -Eq '"floor": ?0.1[,}]' "$tmp/cmp/$F.html" && ok || bad "the page does not hold its floor"
drive compare "$tmp/cmp/$F.html" "$tmp/cmp/$F.json" "$tmp/cmp3/$F.json" 0.3
# one model, tau lowered on the slider to 0.1 (the default floor is min(tau, 0.05))
run one 0.2 --html
run one1 0.1
drive single "$tmp/one/$F.html" "$tmp/one/$F.json" "$tmp/one1/$F.json" 0.1
# zone-masked flows in the viewer: the model against itself under a p2q mask
run mask 0.2 --mask-zone p2q --mask-layer all --html
run mask3 0.3 --mask-zone p2q --mask-layer all
grep -q "m1, p2q masked at layer all" "$tmp/mask/$F.html" && ok || bad "the masked model's name is not in the page"
drive masked "$tmp/mask/$F.html" "$tmp/mask/$F.json" "$tmp/mask3/$F.json" 0.3
[ -n "${FLOWS_SCREENSHOT:-}" ] && cp "$tmp/compare.png" "$FLOWS_SCREENSHOT"

# --html-floor is checked
"$ZL" recipes/flows.lua --model "$tmp/m1" --predict "$tmp/data/dev.json" --qid "$QID" --tau 0.2 \
  --html --html-floor 0.3 --out "$tmp/e" > /dev/null 2> "$tmp/err" && bad "floor above tau accepted" \
  || check "floor above tau" "zonelab: error: --html-floor must be a number in [0, 0.2]" "$(cat "$tmp/err")"
finish
