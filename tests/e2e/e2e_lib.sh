# Sourced by the end-to-end check scripts, from the repository's root.
#
# e2e_setup NAME: the build under test and how to build clients for it.
# BUILD is the build whose uiommufd-run runs the clients (default
# build/cc-debug); clients are built with CC (default: the compiler
# BUILD's name says) and BUILD's sanitizers ($sanflags). WRAP (valgrind,
# from tests/run-tests.sh) is kept for the scripts that run clients under
# it. The UIOMMUFD_* settings that would change every answer are cleared;
# $tmp is a scratch directory removed at exit.
#
# ok TEXT, nok TEXT [LOG]: one TAP line each, numbered in $n; nok shows
# LOG's lines as comments.
#
# e2e_build_client NAME: tests/e2e/NAME.c built against the uAPI headers
# alone into $tmp/NAME (one TAP line); bails out when it does not build.
#
# e2e_in_order FILE: one TAP line per line of standard input, ok when it
# is a whole line of FILE below the line the one before matched (FILE is
# consumed). Run at the end of a pipe, its numbers do not come back.

e2e_setup() {
	BUILD=${BUILD:-build/cc-debug}
	WRAP=${WRAP:-}
	run="$BUILD/uiommufd-run"
	variant=${BUILD##*/}
	case $variant in
	*-debug | *-debug-*) mode=debug ;;
	*-release | *-release-*) mode=release ;;
	*) mode= ;;
	esac
	ccname=${variant%%-"$mode"*}
	[ -n "$mode" ] || ccname=cc
	CC=${CC:-$ccname}
	if [ -z "${SANITIZE+set}" ] && [ -n "$mode" ]; then
		SANITIZE=$(printf '%s' "${variant#"$ccname-$mode"}" |
			   sed 's/^-//; s/-/,/g')
	fi
	sanflags=
	[ -n "$SANITIZE" ] &&
		sanflags="-fsanitize=$SANITIZE -fno-omit-frame-pointer"
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	unset UIOMMUFD_KERNEL UIOMMUFD_CAPS UIOMMUFD_MEMLOCK UIOMMUFD_TRACE
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/uiommufd-$1.XXXXXX") || exit 1
	trap 'rm -rf "$tmp"' EXIT
	n=0
}

ok() { n=$((n + 1)); echo "ok $n $1"; }

nok() {
	n=$((n + 1))
	echo "not ok $n $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/# /' "$2"
	return 0
}

e2e_build_client() {
	# shellcheck disable=SC2086
	if $CC -std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
		-Wno-unused-parameter -Wno-missing-field-initializers \
		$sanflags -Iinclude -o "$tmp/$1" "tests/e2e/$1.c" \
		>"$tmp/cc" 2>&1; then
		ok "$1 builds with $CC against the uAPI headers alone"
	else
		nok "$1 builds with $CC against the uAPI headers alone" \
			"$tmp/cc"
		echo "Bail out! no client"
		exit 1
	fi
}

e2e_in_order() {
	while IFS= read -r line; do
		at=$(grep -n -F -x -- "$line" "$1" | head -n 1 | cut -d: -f1)
		if [ -n "$at" ]; then
			ok "$line"
			sed -i "1,${at}d" "$1"
		else
			nok "$line"
		fi
	done
}
