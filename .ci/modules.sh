#!/usr/bin/env bash
# The modules as users get them: with GOWORK=off, against a module proxy
# served from this tree (see .ci/modlib.sh for why and how), check that
#   - every go.mod requires its siblings at one release version, with no
#     replace directive, and go.work replaces exactly that version;
#   - every module's go.mod and go.sum are tidy outside the workspace (our
#     own modules' hashes aside), filling those hashes in dependency order
#     as a release does;
#   - each submodule builds and vets on its own;
#   - `go install github.com/avstudio/credits/cmd/credits@VERSION` works,
#     and the installed command runs;
#   - a new module can `go get` the backends at VERSION and build and run
#     the quickstart and postgres examples as its own code.
# It fails, naming what, if anything does not resolve.
#
# Usage: bash .ci/modules.sh [--release]
# --release also requires every go.sum to hold exactly the hashes of our own
# modules that this tree gives (true only of a release commit, made by
# .ci/release.sh). CREDITS_KEEP_TMP=1 keeps the temporary directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/modlib.sh"

release=0
case "${1:-}" in
"") ;;
--release) release=1 ;;
*)
	echo "usage: bash .ci/modules.sh [--release]" >&2
	exit 2
	;;
esac

start=$SECONDS
step() { echo "-- $* ($((SECONDS - start))s)"; }

modlib_init
step "modproxy's own tests (.ci/modproxy, a module outside go.work)"
(cd "$REPO/.ci/modproxy" && go vet ./... && go test ./...)

src="$MODTMP/src"
modlib_copy "$src"
mapfile -t mods < <("$MODPROXY" modules -repo "$src")

step "go.mod and go.sum of every module, tidy outside the workspace, in dependency order"
modlib_fill "$src" check

if [ "$release" = 1 ]; then
	step "go.sum files hold exactly the hashes this tree gives our own modules"
	for line in "${mods[@]}"; do
		dir="${line%% *}"
		if [ -f "$src/$dir/go.sum" ] || [ -f "$REPO/$dir/go.sum" ]; then
			diff -u --label "committed $dir/go.sum" --label "filled $dir/go.sum" "$REPO/$dir/go.sum" "$src/$dir/go.sum"
		fi
	done
fi

for line in "${mods[@]}"; do
	dir="${line%% *}"
	path="${line#* }"
	if [ "$dir" = . ]; then
		continue # the root requires none of its siblings: the workspace's vet covers it
	fi
	step "go build and go vet: $path"
	(cd "$src/$dir" && go build ./... && go vet ./...)
done

step "go install $ROOTPATH/cmd/credits@$VERSION"
mkdir -p "$MODTMP/gobin" "$MODTMP/outside"
(cd "$MODTMP/outside" && GOBIN="$MODTMP/gobin" go install "$ROOTPATH/cmd/credits@$VERSION")
"$MODTMP/gobin/credits" prices >"$MODTMP/prices.txt"
echo "   credits prices: $(wc -l <"$MODTMP/prices.txt") lines, the first: $(head -n 1 "$MODTMP/prices.txt")"

step "a new module: go get the backends at $VERSION, build the examples quickstart and postgres as its own code"
consumer="$MODTMP/consumer"
mkdir -p "$consumer"
for example in quickstart postgres; do
	mkdir -p "$consumer/$example"
	find "$src/examples/$example" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$consumer/$example/" \;
done
(
	cd "$consumer"
	go mod init example.com/consumer 2>"$MODTMP/init.log" || { cat "$MODTMP/init.log"; exit 1; }
	# The third-party hashes the backends' go.sum files record, so nothing
	# but our own modules is looked up anew.
	cat "$src/pgledger/go.sum" "$src/sqliteledger/go.sum" >go.sum
	go get "$ROOTPATH@$VERSION" "$ROOTPATH/pgledger@$VERSION" "$ROOTPATH/sqliteledger@$VERSION"
	go mod tidy
	go build ./...
	go run ./quickstart >"$MODTMP/quickstart.txt"
	echo "   quickstart: $(wc -l <"$MODTMP/quickstart.txt") lines, the last: $(tail -n 1 "$MODTMP/quickstart.txt")"
)

step "ok: every module resolves and builds outside the workspace at $VERSION"
