# Sourced by .ci/modules.sh, .ci/tidy.sh and .ci/release.sh: the go command
# run outside the workspace, as a user's go get or go install runs, against a
# module proxy served from this repository's own tree.
#
# Why a proxy of our own: each go.mod requires its sibling modules at the
# version the next release tags (or the last one tagged), with no replace
# directive, so that `go get .../pgledger@vX.Y.Z` and
# `go install .../cmd/credits@vX.Y.Z` work for users. go.work replaces that
# version by the local directories for development. Outside the workspace
# (GOWORK=off) the go command must fetch that version: from the proxy that
# .ci/modproxy writes from the current tree, before anything else, with
# third-party modules from the caller's module cache and the real proxy.
#
# Why a private module cache: the go command never fetches a module version
# it has in its cache again, and our version's content changes with every
# commit; so each run downloads into a fresh GOMODCACHE under its temporary
# directory (-modcacherw, so it can be removed), seeded from the caller's
# module cache, and builds with -trimpath so the build cache is shared all
# the same (without -trimpath a package's cache key holds its directory).
#
# Why go.sum files hold no hashes of our own modules between releases: the
# hash of a version served from the working tree changes with every commit.
# A release records them (.ci/release.sh); every run here first strips them
# from its copy, then fills them in dependency order, as a release does.
#
# Never run `go mod tidy` inside a module of this repository by hand: it
# ignores go.work and would fetch our unreleased version from the real
# proxy. `bash .ci/tidy.sh` tidies every module this way instead.

# modlib_init sets REPO (the repository), MODTMP (a temporary directory,
# removed on exit unless CREDITS_KEEP_TMP=1), MODPROXY (the modproxy
# binary), ROOTPATH and VERSION, and exports the environment for the go
# command outside the workspace.
modlib_init() {
	REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		export PATH="/usr/local/go/bin:$PATH"
	fi
	MODTMP="$(mktemp -d "${TMPDIR:-/tmp}/credits-modules.XXXXXX")"
	trap modlib_cleanup EXIT

	# The tool itself builds with the caller's settings (its module cache,
	# its proxy): it is a module of its own, outside go.work.
	GOWORK=off go build -C "$REPO/.ci/modproxy" -o "$MODTMP/bin/modproxy" .
	MODPROXY="$MODTMP/bin/modproxy"
	VERSION="$("$MODPROXY" version -repo "$REPO")"
	ROOTPATH="$("$MODPROXY" modules -repo "$REPO" | awk '$1 == "." { print $2 }')"

	# Where modules come from: our proxy first; then the caller's module
	# cache (a valid file:// proxy, so a warm machine downloads nothing
	# again); then the caller's proxies, without "direct" (our modules'
	# repository need not be reachable, and a miss must fail, not hang).
	local seed upstream entry
	GOPROXY_CALLER="${GOPROXY-}"
	seed="$(go env GOMODCACHE)/cache/download"
	upstream=""
	for entry in $(go env GOPROXY | tr ',|' '  '); do
		case "$entry" in
		direct | off) ;;
		*) upstream="${upstream:+$upstream,}$entry" ;;
		esac
	done
	GOPROXY="file://$MODTMP/proxy"
	if [ -d "$seed" ]; then
		GOPROXY="$GOPROXY,file://$seed"
	fi
	GOPROXY="$GOPROXY,${upstream:-https://proxy.golang.org}"
	mkdir -p "$MODTMP/proxy"

	# The caller's settings, for a go command in the workspace (modlib_workspace).
	MODLIB_CALLER=(
		"GOWORK=${GOWORK-}" "GOMODCACHE=${GOMODCACHE-}" "GOFLAGS=${GOFLAGS-}" "GOPROXY=${GOPROXY_CALLER-}"
		"GONOSUMDB=${GONOSUMDB-}" "GOPRIVATE=${GOPRIVATE-}" "GONOPROXY=${GONOPROXY-}" "GOINSECURE=${GOINSECURE-}"
	)
	export GOPROXY
	export GOWORK=off
	export GOMODCACHE="$MODTMP/modcache"
	export GOFLAGS="-modcacherw -trimpath"
	# Our versions are not in the checksum database (not yet, or not with
	# this content); everything else is checked as usual.
	export GONOSUMDB="$ROOTPATH"
	export GOPRIVATE="" GONOPROXY="" GOINSECURE=""
	echo "modules at $VERSION, outside the workspace; GOPROXY=$GOPROXY"
}

# modlib_workspace CMD...: CMD with the caller's go settings, in the workspace.
modlib_workspace() {
	env "${MODLIB_CALLER[@]}" "$@"
}

modlib_cleanup() {
	if [ -z "${MODTMP:-}" ] || [ ! -d "$MODTMP" ]; then
		return
	fi
	if [ "${CREDITS_KEEP_TMP:-}" = 1 ]; then
		echo "kept $MODTMP"
		return
	fi
	chmod -R u+w "$MODTMP" 2>/dev/null || true
	rm -rf "$MODTMP"
}

# modlib_git DIR ARGS...: git in a copy made by modlib_copy.
modlib_git() {
	local dir="$1"
	shift
	git -C "$dir" -c user.name=modules -c user.email=modules@invalid -c commit.gpgsign=false \
		-c core.hooksPath=/dev/null "$@"
}

# modlib_copy DST makes DST a new git repository holding, in one commit, the
# repository's files as a commit of everything would: tracked files as they
# are in the working tree, untracked files git does not ignore, no ignored
# file. The zips are made from it as the go command makes them from a tag.
modlib_copy() {
	local dst="$1"
	mkdir -p "$dst"
	git -C "$REPO" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# A tracked file deleted in the working tree is not copied.
			if [ -e "$REPO/$f" ] || [ -L "$REPO/$f" ]; then
				printf '%s\0' "$f"
			fi
		done |
		tar -C "$REPO" --null -T - -cf - | tar -C "$dst" -xf -
	modlib_git "$dst" init -q
	modlib_git "$dst" add -A -f
	modlib_git "$dst" commit -q -m "the tree under test"
}

# modlib_fill SRC MODE: in the copy SRC, strips every go.sum of our own
# modules' hashes, then, in dependency order (the root, then the modules
# that require only it, ...), runs go mod tidy in each module against the
# proxy, which serves each module once the modules it requires are done, so
# a module's go.sum gets its siblings' hashes as a release records them.
# It compares each result with the repository's go.mod and go.sum (our own
# hashes aside); MODE says what to do with a difference:
#   check    print it and fail (after all modules): a go.mod or go.sum that
#            is not tidy outside the workspace breaks go get or go install
#   tidy     write the tidy go.mod and go.sum back into the repository,
#            keeping the hashes of our own modules that it recorded
#   release  like check, and then write every go.sum back with the hashes
modlib_fill() {
	local src="$1" mode="$2" dir path untidy=()
	local -a mods
	mapfile -t mods < <("$MODPROXY" modules -repo "$src")
	for line in "${mods[@]}"; do
		dir="${line%% *}"
		"$MODPROXY" gosum -repo "$src" "$src/$dir/go.sum" "$src/$dir/go.sum"
	done
	if [ -n "$(modlib_git "$src" status --porcelain)" ]; then
		modlib_git "$src" commit -q -a -m "go.sum files without our own modules' hashes"
	fi

	for line in "${mods[@]}"; do
		dir="${line%% *}"
		path="${line#* }"
		echo "-- go mod tidy: $path"
		(cd "$src/$dir" && go mod tidy)
		"$MODPROXY" gosum -repo "$src" "$REPO/$dir/go.sum" "$MODTMP/committed.sum"
		"$MODPROXY" gosum -repo "$src" "$src/$dir/go.sum" "$MODTMP/tidy.sum"
		if ! diff -u --label "committed $dir/go.mod" --label "tidy $dir/go.mod" "$REPO/$dir/go.mod" "$src/$dir/go.mod" ||
			! diff -u --label "committed $dir/go.sum" --label "tidy $dir/go.sum" "$MODTMP/committed.sum" "$MODTMP/tidy.sum"; then
			untidy+=("$dir")
			if [ "$mode" = tidy ]; then
				cp "$src/$dir/go.mod" "$REPO/$dir/go.mod"
				"$MODPROXY" gosum -repo "$src" -keep "$REPO/$dir/go.sum" "$src/$dir/go.sum" "$REPO/$dir/go.sum"
				echo "   wrote $dir/go.mod and $dir/go.sum"
			fi
		fi
		if [ -n "$(modlib_git "$src" status --porcelain)" ]; then
			modlib_git "$src" commit -q -a -m "$path: go mod tidy"
		fi
		"$MODPROXY" serve -repo "$src" -out "$MODTMP/proxy" "$dir"
	done

	if [ "${#untidy[@]}" -gt 0 ] && [ "$mode" != tidy ]; then
		echo "FAIL: not tidy outside the workspace: ${untidy[*]} (the differences are above)."
		echo "      Run 'bash .ci/tidy.sh' (never 'go mod tidy' in a module: it ignores go.work) and commit the result."
		return 1
	fi
	if [ "$mode" = release ]; then
		for line in "${mods[@]}"; do
			dir="${line%% *}"
			if [ -f "$src/$dir/go.sum" ]; then
				cp "$src/$dir/go.sum" "$REPO/$dir/go.sum"
			fi
		done
	fi
}
