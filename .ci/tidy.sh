#!/usr/bin/env bash
# Tidies every module's go.mod and go.sum as a user outside the workspace
# needs them: go mod tidy with GOWORK=off, in dependency order, against a
# module proxy served from this tree (.ci/modlib.sh says why). Use it instead
# of `go mod tidy` in a module, which ignores go.work and fails to fetch our
# own unreleased version. It keeps the hashes of our own modules that a
# release recorded in go.sum, and adds none.
#
# Usage: bash .ci/tidy.sh   (then review and commit what it changed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/modlib.sh"

modlib_init
modlib_copy "$MODTMP/src"
modlib_fill "$MODTMP/src" tidy
echo "tidy: done (each file it changed is named above)"
