#!/usr/bin/env bash
# recipes/heatmap.lua end to end: Table 1 -> one-page PDF with its labels as text; panels
# side by side; baseline.json with --metric; 0-based files; and one-line errors (exit 1)
# that leave no PDF behind and never clobber an existing one.
source "$(dirname "$0")/lib.sh" "$@"
R=recipes/heatmap.lua
T1=tests/fixtures/published/single_run.csv
T2=tests/fixtures/published/five_run_mean.csv

out=$("$ZL" $R --help 2>&1); rc=$?
check_eq "help exit" 0 "$rc"
check "help explains" "seismic" "$out"
check "help options" "--panel" "$out"

# ---- Table 1, the published baseline ----
out=$("$ZL" $R $T1 80.567 "$tmp/fig1.pdf" 2>&1); rc=$?
check_eq "table1 exit" 0 "$rc"
check "table1 says where" "wrote $tmp/fig1.pdf" "$out"
check "pages" "Pages:           1" "$(pdfinfo "$tmp/fig1.pdf" 2>&1)"
text=$(pdftotext -layout "$tmp/fig1.pdf" - 2>&1)
for s in ALL Q2P P2Q Layer "Attention zone" -10 -8 -6 -4 -2 " 0" " 2"; do check "label $s" "$s" "$text"; done
check_eq "layers 1..12 printed" "1 2 3 4 5 6 7 8 9 10 11 12" \
  "$(echo "$text" | awk '$1 ~ /^[0-9]+$/ && $1 >= 1 && $1 <= 12 && NF == 1 {print $1}' | sort -n | uniq | tr '\n' ' ' | sed 's/ $//')"
# layer 12 above layer 1 in reading order
l12=$(echo "$text" | awk '$1 == "12" && NF == 1 {print NR; exit}')
l1=$(echo "$text" | awk '$1 == "1" && NF == 1 {print NR; exit}')
check_eq "layer 12 above layer 1" 1 "$(( ${l12:-99} < ${l1:-0} ))"

# ---- panels side by side, annotated, baseline.json ----
echo '{"exact_match": 80.567, "f1": 88.117, "metric": "exact_match"}' > "$tmp/baseline.json"
out=$("$ZL" $R $T1 "$tmp/baseline.json" "$tmp/two.pdf" --panel $T2 80.567 \
  --panel-title "Single run" --panel-title "Five-run mean" --title "SQuAD EM" --annotate 2>&1); rc=$?
check_eq "two panels exit" 0 "$rc"
check "two panels said" "2 panels" "$out"
text=$(pdftotext -layout "$tmp/two.pdf" - 2>&1)
check "panel title 1" "Single run" "$text"
check "panel title 2" "Five-run mean" "$text"
check "page title" "SQuAD EM" "$text"
check "annotation layer1 p2 (single)" "-13.6" "$text"
check "annotation layer1 p2 (mean)" "-14.3" "$text"
check "one page" "Pages:           1" "$(pdfinfo "$tmp/two.pdf" 2>&1)"
w1=$(pdfinfo "$tmp/fig1.pdf" | awk '/Page size/ {print int($3)}')
w2=$(pdfinfo "$tmp/two.pdf" | awk '/Page size/ {print int($3)}')
check_eq "two panels are wider" 1 "$(( w2 > w1 + 150 ))"

# --metric F1 picks the f1 key: layer 1 P2 becomes 66.982 - 88.117 = -21.1
out=$("$ZL" $R $T1 "$tmp/baseline.json" "$tmp/f1.pdf" --metric F1 --annotate 2>&1); rc=$?
check_eq "f1 exit" 0 "$rc"
check "f1 baseline used" "-21.1" "$(pdftotext -layout "$tmp/f1.pdf" - 2>&1)"
out=$("$ZL" $R $T1 80.567 "$tmp/each.pdf" --panel $T2 80.567 --colorbar each --no-notes 2>&1); rc=$?
check_eq "colorbar each exit" 0 "$rc"
check_eq "two bars" 2 "$(pdftotext -layout "$tmp/each.pdf" - | grep -o -- '-10' | wc -l)"

# a 0-based file draws the same figure
{ echo "layer,all,q2,q2p,p2q,p2"; tail -n +2 $T1 | awk -F, 'BEGIN{OFS=","} {$1=$1-1; print}'; } > "$tmp/zero.csv"
"$ZL" $R "$tmp/zero.csv" 80.567 "$tmp/zero.pdf" >/dev/null 2>&1
check_eq "0-based same text" "$(pdftotext -layout "$tmp/fig1.pdf" -)" "$(pdftotext -layout "$tmp/zero.pdf" -)"

# ---- bad input: one line, exit 1, no PDF, an existing PDF untouched ----
bad_csv() { # name, expected message part, csv content, [extra args...]
  local name="$1" msg="$2" content="$3"; shift 3
  printf "%b" "$content" > "$tmp/bad.csv"
  rm -f "$tmp/bad.pdf"
  local o; o=$("$ZL" $R "$tmp/bad.csv" 80.567 "$tmp/bad.pdf" "$@" 2>&1); local c=$?
  check_eq "$name exit" 1 "$c"
  check "$name message" "zonelab: error: $msg" "$o"
  check_eq "$name one line" 1 "$(echo "$o" | wc -l)"
  check_eq "$name no pdf" no "$([[ -e "$tmp/bad.pdf" ]] && echo yes || echo no)"
}
bad_csv ragged "$tmp/bad.csv:3:" "layer,all,q2\n1,80,80\n2,80\n"
bad_csv nonnumber "$tmp/bad.csv:2: column q2" "layer,all,q2\n1,80,eighty\n"
bad_csv nan "$tmp/bad.csv:2:" "layer,all,q2\n1,80,nan\n"
bad_csv inf "$tmp/bad.csv:2:" "layer,all,q2\n1,80,-inf\n"
bad_csv zone "$tmp/bad.csv:1: unknown zone column 'p3'" "layer,all,p3\n1,80,80\n"
bad_csv layers "$tmp/bad.csv:2:" "layer,all,q2\n3,80,80\n"
bad_csv empty "$tmp/bad.csv: every cell is empty (nothing to draw)" "layer,all,q2\n1,,\n"
bad_csv vmin "--vmin (5) must be below --vmax (2)" "layer,all\n1,80\n" --vmin 5
bad_csv titles "3 --panel-title for 1 panels" "layer,all\n1,80\n" --panel-title a --panel-title b --panel-title c

out=$("$ZL" $R $T1 nonsense "$tmp/x.pdf" 2>&1); rc=$?
check_eq "bad baseline exit" 1 "$rc"
check "bad baseline message" "zonelab: error: baseline 'nonsense'" "$out"
echo '{"exact_match": 80.5}' > "$tmp/nof1.json"
out=$("$ZL" $R $T1 "$tmp/nof1.json" "$tmp/x.pdf" --metric F1 2>&1); rc=$?
check_eq "missing f1 exit" 1 "$rc"
check "missing f1 message" "nof1.json: field 'f1' (the F1 baseline of $T1) is missing" "$out"

# Heatmaps that cannot mislead: the table's metric picks the baseline (an F1 table named so
# takes f1 from baseline.json, not exact_match), the bar says what it shows, each panel
# says its baseline (and "mean of N runs"), the ALL note is there unless --no-notes, and a
# baseline of the other metric is refused.
cp "$T1" "$tmp/results_f1.csv"
printf '{"exact_match": 80.567, "f1": 88.117, "runs": 3}' > "$tmp/bmean.json"
out=$("$ZL" $R "$tmp/results_f1.csv" "$tmp/bmean.json" "$tmp/f1name.pdf" --annotate 2>&1); rc=$?
check_eq "f1 by name exit" 0 "$rc"
text=$(pdftotext "$tmp/f1name.pdf" - 2>&1 | tr '\n' ' ')
check "f1 by name: f1 baseline" "-21.1" "$text"
check "f1 by name: bar label" "F1 difference from baseline (points)" "$text"
check "f1 by name: subtitle" "baseline F1 88.12 (mean of 3 runs)" "$text"
check "note on ALL" "every token attends uniformly to all positions, padding included" "$text"
check "note on clipping" "Colours clip at -10 and 2" "$text"
out=$("$ZL" $R "$T1" 80.567 "$tmp/em.pdf" --no-notes 2>&1)
text=$(pdftotext "$tmp/em.pdf" - 2>&1)
check "em bar label" "EM difference from baseline (points)" "$text"
check "em subtitle" "baseline EM 80.57" "$text"
check_eq "no notes" 0 "$(grep -c 'uniformly' <<<"$text")"
rm -f "$tmp/x.pdf"
out=$("$ZL" $R "$tmp/results_f1.csv" EM=80.567 "$tmp/x.pdf" 2>&1); rc=$?
check_eq "em baseline on f1 table exit" 1 "$rc"
check "em baseline on f1 table" "zonelab: error: baseline 'EM=80.567' is EM, but $tmp/results_f1.csv is an F1 table" "$out"
out=$("$ZL" $R "$tmp/results_f1.csv" 88.117 "$tmp/x.pdf" --metric em 2>&1); rc=$?
check_eq "metric contradiction exit" 1 "$rc"
check "metric contradiction" "results_f1.csv is an F1 table (its name says so), but --metric is EM" "$out"
check_eq "no pdf after refusals" no "$([[ -e "$tmp/x.pdf" ]] && echo yes || echo no)"
out=$("$ZL" $R "$tmp/results_f1.csv" F1=88.117 "$tmp/tagged.pdf" 2>&1); rc=$?
check_eq "tagged f1 baseline" 0 "$rc"
check "tagged f1 subtitle" "baseline F1 88.12" "$(pdftotext "$tmp/tagged.pdf" - 2>&1)"
out=$("$ZL" $R $T1 80 "$tmp/no/such/dir/x.pdf" 2>&1); rc=$?
check_eq "bad output exit" 1 "$rc"
check "bad output message" "zonelab: error: $tmp/no/such/dir/x.pdf" "$out"
check_eq "nothing left" no "$([[ -e "$tmp/x.pdf" ]] && echo yes || echo no)"
# a failing run leaves an existing figure alone
cp "$tmp/fig1.pdf" "$tmp/keep.pdf"
printf "layer,all\n1,x\n" > "$tmp/bad.csv"
"$ZL" $R "$tmp/bad.csv" 80 "$tmp/keep.pdf" >/dev/null 2>&1
check_eq "existing kept" same "$(cmp -s "$tmp/fig1.pdf" "$tmp/keep.pdf" && echo same || echo changed)"

finish
