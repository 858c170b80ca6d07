#!/usr/bin/env bash
# Releases every module of the repository together at one version (see
# RELEASING.md): on a clean checkout of the commit to release, it
#   1. makes every go.mod require its siblings at VERSION, and go.work
#      replace them at VERSION (modproxy bump);
#   2. fills each go.sum with its siblings' hashes at VERSION, in dependency
#      order (the root, then pgledger and sqliteledger, then cmd/credits and
#      examples), from a module proxy served from this tree, as
#      .ci/modules.sh does (it fails if a module is not tidy);
#   3. commits that, and checks the commit with `.ci/modules.sh --release`:
#      every module builds outside the workspace at VERSION, the CLI
#      installs with go install ...@VERSION, and each go.sum holds exactly
#      the hashes the tagged content will have;
#   4. tags that one commit VERSION, pgledger/VERSION, sqliteledger/VERSION,
#      cmd/credits/VERSION and examples/VERSION (annotated tags).
# It pushes nothing: it prints the push command.
#
# Usage: bash .ci/release.sh vX.Y.Z
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/modlib.sh"

if [ $# -ne 1 ]; then
	echo "usage: bash .ci/release.sh vX.Y.Z" >&2
	exit 2
fi
version="$1"
die() {
	echo "release: $*" >&2
	exit 1
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
if [ -n "$(git status --porcelain)" ]; then
	git status --short
	die "the working tree has changes (above): release a clean checkout of a commit"
fi
branch="$(git symbolic-ref --short -q HEAD)" || die "HEAD is detached: check out the branch to release"

modlib_init
mapfile -t mods < <("$MODPROXY" modules -repo "$REPO")
tags=()
for line in "${mods[@]}"; do
	dir="${line%% *}"
	if [ "$dir" = . ]; then
		tag="$version"
	else
		tag="$dir/$version"
	fi
	if git rev-parse -q --verify "refs/tags/$tag" >/dev/null; then
		die "the tag $tag exists already"
	fi
	tags+=("$tag")
done

echo "== release $version of ${#mods[@]} modules from $(git rev-parse --short HEAD) on $branch"
echo "-- require the siblings at $version (every go.mod), replace them at $version (go.work)"
"$MODPROXY" bump -repo "$REPO" "$version"
modlib_workspace go build ./... # the workspace still resolves with the new go.work

echo "-- fill go.sum with the siblings' hashes at $version, in dependency order"
modlib_copy "$MODTMP/src"
modlib_fill "$MODTMP/src" release

files=(go.work)
for line in "${mods[@]}"; do
	dir="${line%% *}"
	for f in "$dir/go.mod" "$dir/go.sum"; do
		if [ -f "$f" ]; then
			files+=("${f#./}")
		fi
	done
done
git add -- "${files[@]}"
if [ -n "$(git status --porcelain | grep -v '^[MA]  ' || true)" ]; then
	git status --short
	die "the release changed files other than go.work, go.mod and go.sum (above)"
fi
if git diff --cached --quiet; then
	echo "-- nothing to change: the modules already require each other at $version with these hashes"
else
	git diff --cached --stat
	git commit -q -m "release: $version: every module requires its siblings at $version; go.sum records their hashes"
fi
commit="$(git rev-parse HEAD)"

echo "-- check the release commit $commit outside the workspace (.ci/modules.sh --release)"
# With the caller's settings: a run of its own, with a proxy and a module cache of its own.
if ! modlib_workspace bash "$REPO/.ci/modules.sh" --release; then
	die "the release commit $commit fails the check above; nothing is tagged (undo the commit with: git reset --hard HEAD~1)"
fi

echo "-- tag $commit"
for i in "${!mods[@]}"; do
	path="${mods[$i]#* }"
	git tag -a -m "release $path $version" "${tags[$i]}" "$commit"
	echo "   ${tags[$i]}"
done

echo "== release $version: committed and tagged; nothing is pushed. To publish it:"
echo "   git push --atomic origin $branch ${tags[*]}"
