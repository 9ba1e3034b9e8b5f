#!/usr/bin/env bash
# Every long option of every recipe is documented: for each recipes/NAME.lua, the options
# listed by `--help` (its Usage block) must each appear as `--option` in NAME's section of
# docs/recipes.md (the "## " heading whose part before " — " names the recipe, e.g.
# "## decode / sweep — ..."), up to the next "## " heading. A recipe without a section, or
# an option missing from it, fails the suite.
#   bash tests/cli/docs_options.sh build/zonelab [DOCS.md]    (default docs/recipes.md)
source "$(dirname "$0")/lib.sh" "$@"
DOCS="${2:-docs/recipes.md}"

if [ ! -f "$DOCS" ]; then
  echo "docs_options.sh: $DOCS: no such file"; echo "docs_options.sh: 0 passed, 1 failed"; exit 1
fi

# The section(s) of a recipe: lines from a "## " heading naming it (before " — ", split on
# spaces and slashes) to the next "## " heading.
section() { # recipe name
  awk -v name="$1" '
    /^## / {
      head = substr($0, 4); cut = index(head, " — "); if (cut > 0) head = substr(head, 1, cut - 1)
      n = split(head, words, /[ \/]+/); inside = 0
      for (i = 1; i <= n; i++) if (words[i] == name) inside = 1
      next
    }
    inside { print }' "$DOCS"
}

# The long options of a recipe: every --name in the Usage block of --help (up to its
# first blank line), --help itself left out.
options() { # recipe path
  "$ZL" "$1" --help 2>&1 | awk 'started && /^[[:space:]]*$/ { exit } /^Usage:/ { started = 1 } started' |
    grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | grep -vx -- '--help' | sort -u
}

n_recipes=0
for recipe in recipes/*.lua; do
  name=$(basename "$recipe" .lua)
  n_recipes=$((n_recipes + 1))
  help=$("$ZL" "$recipe" --help 2>&1); rc=$?
  if [ "$rc" -ne 0 ] || [[ "$help" != Usage:* ]]; then
    fail=$((fail + 1)); echo "FAIL $recipe: --help exited $rc or printed no Usage block"; continue
  fi
  text=$(section "$name")
  if [ -z "$text" ]; then
    fail=$((fail + 1)); echo "FAIL $recipe: $DOCS has no section '## $name — ...'"; continue
  fi
  opts=$(options "$recipe")
  if [ -z "$opts" ] && [ "$name" != inspect ]; then
    # only inspect takes no option but --help; anything else means the parsing broke
    fail=$((fail + 1)); echo "FAIL $recipe: no long option found in --help"; continue
  fi
  for opt in $opts; do
    if printf '%s\n' "$text" | grep -qE -- "(^|[^A-Za-z0-9-])${opt}([^A-Za-z0-9-]|\$)"; then
      pass=$((pass + 1))
    else
      fail=$((fail + 1)); echo "FAIL $recipe: $opt is not documented in its section of $DOCS"
    fi
  done
done
if [ "$n_recipes" -lt 10 ]; then
  fail=$((fail + 1)); echo "FAIL: only $n_recipes recipes found (run from the source root)"
fi

finish
