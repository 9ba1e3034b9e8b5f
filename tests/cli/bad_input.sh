#!/usr/bin/env bash
# The bad-input catalogue (tests/bad_input/run.lua): every malformed input through the
# recipe a user would use must give exit 1, one `zonelab: error: ...` line naming the
# file, and no partial output. Known bugs are listed as FAILED-EXPECTED; set
# ZONELAB_STRICT_BAD_INPUT=1 to make them fail too.
source "$(dirname "$0")/lib.sh" "$@"
"$ZL" tests/bad_input/run.lua "$ZL"
