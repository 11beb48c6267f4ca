#!/bin/sh
# make install as a user of the installed tree meets it. Installs a build
# into a temporary DESTDIR and checks: exactly the expected files, modes,
# symlinks and SONAME; a client built with nothing but pkg-config, shared
# and static; the man pages' own examples built and run against the
# installed tree; the installed uiommufd-run finding the installed shim,
# also with the tree moved; the man pages without groff warnings; and
# make uninstall leaving nothing behind. Prints TAP.
#
#   tests/install/check-install.sh [--full]
#
# BUILD is the build whose files are installed (default build/cc-release;
# make check passes its debug build, installed with INSTALL_MODE=debug).
# CC and SANITIZE follow BUILD's name unless set. --full (CI) also checks
# an install with another LIBDIR, which rebuilds BUILD's uiommufd-run,
# and fails instead of skipping when pkg-config or groff is missing.
# WRAP (valgrind, from tests/run-tests.sh) runs the programs built here,
# but for the static client: valgrind misreads a static glibc.

cd "$(dirname "$0")/../.." || exit 1
full=0
[ "${1:-}" = --full ] && full=1

BUILD=${BUILD:-build/cc-release}
WRAP=${WRAP:-}
variant=${BUILD##*/}
case $variant in
*-debug | *-debug-*) mode=debug ;;
*-release | *-release-*) mode=release ;;
*)
	echo "Bail out! cannot tell the mode of build $BUILD"
	exit 1
	;;
esac
ccname=${variant%%-"$mode"*}
if [ -z "${CC:-}" ]; then
	CC=$ccname
fi
if [ -z "${SANITIZE+set}" ]; then
	SANITIZE=$(printf '%s' "${variant#"$ccname-$mode"}" | sed 's/^-//; s/-/,/g')
fi
export CC SANITIZE
sanflags=
[ -n "$SANITIZE" ] && sanflags="-fsanitize=$SANITIZE -fno-omit-frame-pointer"
# The shim goes in ahead of an instrumented program's sanitizer runtime.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uiommufd-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
failures=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() {
	n=$((n + 1))
	failures=$((failures + 1))
	echo "not ok $n $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/# /' "$2"
	return 0
}
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
# A tool some checks need: missing, they skip, or fail under --full.
have() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$full" = 1 ] && echo "# --full needs $1" && return 0
	return 1
}

# make, not as a sub-make of make check (no jobserver), from BUILD.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make --no-print-directory INSTALL_MODE="$mode" "$@"
}

# The section 3 pages' example programs: the .EX block holding main(),
# with the roff escapes they use undone.
man_example() {
	awk '/^\.SH /{ ex = ($0 ~ /^\.SH EXAMPLES/) }
	     ex && /^\.EE/ { if (blk ~ /main\(/) printf "%s", blk; inb = 0; next }
	     ex && inb { blk = blk $0 "\n" }
	     ex && /^\.EX/ { inb = 1; blk = "" }' "$1" |
		sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e "s/\\\\(aq/'/g" \
			-e 's/\\(dq/"/g' -e 's/\\&//g'
}

# The functions the public headers declare, as tests/abi/check-exports.sh
# reads them.
declared=$(cat include/uiommufd/*.h |
	sed -n -e 's/^[a-z_][a-z_ 0-9*]*[ *]\(uiommufd_[a-z0-9_]*\)(.*/\1/p' \
		-e 's/^\(uiommufd_[a-z0-9_]*\)(.*/\1/p' | sort -u)

plan=10
[ "$full" = 1 ] && plan=11
echo "TAP version 13"
echo "1..$plan"

prefix=/usr/local
bindir=$prefix/bin
libdir=$prefix/lib
includedir=$prefix/include
mandir=$prefix/share/man

# ---- 1. the man pages, as written ----
if have groff; then
	groff -man -ww -z man/*.[0-9] >"$tmp/groff" 2>&1
	if [ $? -eq 0 ] && [ ! -s "$tmp/groff" ]; then
		ok "groff -man -ww finds nothing to warn about in man/"
	else
		nok "groff -man -ww finds nothing to warn about in man/" "$tmp/groff"
	fi
else
	skip "groff -man -ww finds nothing to warn about in man/" "no groff"
fi

# ---- 2. (--full) another LIBDIR: uiommufd-run is rebuilt for it ----
if [ "$full" = 1 ]; then
	r64=$tmp/root64
	what="make install LIBDIR=.../lib64 rebuilds uiommufd-run to find its shim there; uninstall cleans up"
	if mk install DESTDIR="$r64" PREFIX=/opt/uiommufd \
		LIBDIR=/opt/uiommufd/lib64 >"$tmp/log64" 2>&1 &&
	   [ -f "$r64/opt/uiommufd/lib64/uiommufd/libuiommufd-preload.so" ] &&
	   [ ! -e "$r64/opt/uiommufd/lib" ] &&
	   grep -qx 'libdir=${prefix}/lib64' \
		"$r64/opt/uiommufd/lib64/pkgconfig/uiommufd.pc" &&
	   env -u UIOMMUFD_PRELOAD "$r64/opt/uiommufd/bin/uiommufd-run" -- \
		sh -c 'printf "%s\n" "$LD_PRELOAD"' >"$tmp/pre64" 2>>"$tmp/log64" &&
	   [ "$(realpath "$(cut -d: -f1 "$tmp/pre64")")" = \
	     "$(realpath "$r64/opt/uiommufd/lib64/uiommufd/libuiommufd-preload.so")" ] &&
	   mk uninstall DESTDIR="$r64" PREFIX=/opt/uiommufd \
		LIBDIR=/opt/uiommufd/lib64 >>"$tmp/log64" 2>&1 &&
	   [ -z "$(find "$r64" ! -type d)" ]; then
		ok "$what"
	else
		cat "$tmp/pre64" >>"$tmp/log64" 2>/dev/null
		find "$r64" ! -type d >>"$tmp/log64" 2>/dev/null
		nok "$what" "$tmp/log64"
	fi
fi

# ---- 3. make install ----
root=$tmp/root
what="make install DESTDIR=... installs exactly the expected files, modes and links, from $BUILD"
{
	echo "$libdir/libuiommufd.a 644"
	echo "$libdir/pkgconfig/uiommufd.pc 644"
	echo "$libdir/uiommufd/libuiommufd-preload.so 755"
	echo "$bindir/uiommufd-run 755"
	for h in include/uiommufd/*.h; do
		echo "$includedir/uiommufd/${h##*/} 644"
	done
	for p in man/*.[1-8]; do
		echo "$mandir/man${p##*.}/${p##*/} 644"
	done
	# A link page for every public function without a page of its own.
	for f in $declared; do
		[ -e "man/$f.3" ] || echo "$mandir/man3/$f.3 644"
	done
} | sort >"$tmp/expected"
if mk install DESTDIR="$root" PREFIX="$prefix" >"$tmp/log" 2>&1; then
	(cd "$root" && find . -type f -printf '/%P %m\n' | sort) >"$tmp/got"
	so=$(cd "$root$libdir" && ls libuiommufd.so.0.*.* 2>/dev/null)
	soname=$(readelf -d "$root$libdir/$so" 2>/dev/null |
		sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
	if [ "$(find "$root" -type l | wc -l)" -eq 2 ] &&
	   [ "$(readlink "$root$libdir/libuiommufd.so")" = libuiommufd.so.0 ] &&
	   [ "$(readlink "$root$libdir/libuiommufd.so.0")" = "$so" ] &&
	   [ "$(stat -c %a "$root$libdir/$so")" = 755 ] &&
	   [ "$soname" = libuiommufd.so.0 ] &&
	   echo "$libdir/$so 755" | sort -o "$tmp/expected" - "$tmp/expected" &&
	   diff "$tmp/expected" "$tmp/got" >>"$tmp/log" &&
	   cmp "$BUILD/libuiommufd.so.0" "$root$libdir/$so" >>"$tmp/log" 2>&1 &&
	   cmp "$BUILD/libuiommufd.a" "$root$libdir/libuiommufd.a" >>"$tmp/log" 2>&1 &&
	   cmp "$BUILD/libuiommufd-preload.so" \
		"$root$libdir/uiommufd/libuiommufd-preload.so" >>"$tmp/log" 2>&1 &&
	   cmp "$BUILD/uiommufd-run" "$root$bindir/uiommufd-run" >>"$tmp/log" 2>&1
	then
		ok "$what"
	else
		echo "shared library: ${so:-none}, SONAME ${soname:-none}" >>"$tmp/log"
		nok "$what" "$tmp/log"
	fi
else
	nok "$what" "$tmp/log"
fi

pc() {
	PKG_CONFIG_LIBDIR="$root$libdir/pkgconfig" PKG_CONFIG_PATH= \
		PKG_CONFIG_SYSROOT_DIR="$root" pkg-config "$@" uiommufd
}
run_lib() { LD_LIBRARY_PATH="$root$libdir" $WRAP "$@"; }

# ---- 4. pkg-config, shared ----
what="a client built with only pkg-config --cflags --libs links the installed shared library and runs"
if have pkg-config; then
	if flags=$(pc --cflags --libs 2>"$tmp/pc") &&
	   $CC $sanflags -Wall -Wextra -Werror -o "$tmp/client" \
		tests/install/pkgconfig_client.c $flags >"$tmp/pc" 2>&1 &&
	   readelf -d "$tmp/client" | grep -q 'NEEDED.*\[libuiommufd\.so\.0\]' &&
	   run_lib "$tmp/client" >"$tmp/out" 2>&1 &&
	   grep -q 'all checks passed' "$tmp/out"; then
		ok "$what"
	else
		echo "flags: ${flags:-}" >>"$tmp/pc"
		cat "$tmp/out" >>"$tmp/pc" 2>/dev/null
		nok "$what" "$tmp/pc"
	fi
else
	skip "$what" "no pkg-config"
fi

# ---- 5. pkg-config, static ----
what="a client built with pkg-config --static and -static links the installed .a and runs"
if [ -n "$SANITIZE" ]; then
	skip "$what" "sanitizers do not link statically"
elif [ ! -f "$($CC -print-file-name=libc.a)" ]; then
	skip "$what" "no static C library"
elif have pkg-config; then
	if flags=$(pc --static --cflags --libs 2>"$tmp/pcs") &&
	   $CC -static -Wall -Wextra -Werror -o "$tmp/client-static" \
		tests/install/pkgconfig_client.c $flags >"$tmp/pcs" 2>&1 &&
	   ! readelf -d "$tmp/client-static" 2>/dev/null | grep -q NEEDED &&
	   "$tmp/client-static" >"$tmp/out" 2>&1 &&
	   grep -q 'all checks passed' "$tmp/out"; then
		ok "$what"
	else
		echo "flags: ${flags:-}" >>"$tmp/pcs"
		cat "$tmp/out" >>"$tmp/pcs" 2>/dev/null
		nok "$what" "$tmp/pcs"
	fi
else
	skip "$what" "no pkg-config"
fi

# ---- 6. the man pages' examples ----
what="the EXAMPLES programs of the section 3 pages build against the installed tree and run"
if have pkg-config; then
	: >"$tmp/ex.log"
	count=0
	good=1
	flags=$(pc --cflags --libs 2>>"$tmp/ex.log")
	for page in man/*.3; do
		name=${page##*/}
		name=${name%.3}
		man_example "$page" >"$tmp/$name.c"
		[ -s "$tmp/$name.c" ] || continue
		count=$((count + 1))
		echo "== $page" >>"$tmp/ex.log"
		if ! $CC $sanflags -Wall -Wextra -Werror -o "$tmp/$name" \
			"$tmp/$name.c" $flags >>"$tmp/ex.log" 2>&1 ||
		   ! run_lib "$tmp/$name" >>"$tmp/ex.log" 2>&1; then
			good=0
			echo "== failed: $page" >>"$tmp/ex.log"
		fi
	done
	if [ "$good" = 1 ] && [ "$count" -eq "$(ls man/*.3 | wc -l)" ]; then
		ok "$what ($count)"
	else
		echo "pages with an example: $count" >>"$tmp/ex.log"
		nok "$what" "$tmp/ex.log"
	fi
else
	skip "$what" "no pkg-config"
fi

# ---- 7, 8, 9: the installed uiommufd-run ----
# Which shim the installed uiommufd-run preloads, with no hint given.
shim_of() {
	env -u UIOMMUFD_PRELOAD "$1$bindir/uiommufd-run" -- \
		sh -c 'printf "%s\n" "$LD_PRELOAD"' >"$tmp/preload" 2>&1
	cut -d: -f1 "$tmp/preload"
}
# The demo, built against the installed headers, under it.
demo_runs() {
	env -u UIOMMUFD_PRELOAD "$1$bindir/uiommufd-run" -- $WRAP "$tmp/demo" \
		>"$tmp/demo.out" 2>&1 &&
	grep -q 'our memory now says "hello from the device"' "$tmp/demo.out" &&
	grep -q 'nothing is pinned any more' "$tmp/demo.out"
}

what="the installed uiommufd-run preloads the installed shim, found from its own location"
got=$(shim_of "$root")
want=$(realpath -e "$root$libdir/uiommufd/libuiommufd-preload.so" 2>/dev/null)
if [ -n "$want" ] && [ "$(realpath -e "$got" 2>/dev/null)" = "$want" ]; then
	ok "$what"
else
	nok "$what" "$tmp/preload"
fi

what="examples/iommufd_demo.c, built against the installed headers, runs under the installed uiommufd-run"
if [ -n "$(command -v pkg-config)" ]; then
	incflags=$(pc --cflags 2>/dev/null)
else
	incflags="-I$root$includedir"
fi
if $CC $sanflags -Wall -Wextra -Werror $incflags -o "$tmp/demo" \
	examples/iommufd_demo.c >"$tmp/demo.out" 2>&1 && demo_runs "$root"; then
	ok "$what"
else
	nok "$what" "$tmp/demo.out"
fi

what="the installed tree moved elsewhere still works: uiommufd-run, its shim, the library"
moved=$tmp/moved
if mv "$root" "$moved" &&
   [ "$(realpath -e "$(shim_of "$moved")" 2>/dev/null)" = \
     "$(realpath -e "$moved$libdir/uiommufd/libuiommufd-preload.so")" ] &&
   demo_runs "$moved" &&
   { [ ! -x "$tmp/client" ] ||
     LD_LIBRARY_PATH="$moved$libdir" $WRAP "$tmp/client" >/dev/null 2>&1; }; then
	ok "$what"
else
	cat "$tmp/preload" >>"$tmp/demo.out" 2>/dev/null
	nok "$what" "$tmp/demo.out"
fi
[ -d "$moved" ] && mv "$moved" "$root"

# ---- 10. the installed man pages ----
what="the installed man pages render without warnings and every link page resolves"
if have groff; then
	(cd "$root$mandir" && groff -man -ww -z man1/* man3/* man7/*) \
		>"$tmp/groff" 2>&1
	rc=$?
	bad=
	for f in "$root$mandir"/man3/*.3; do
		to=$(sed -n 's/^\.so //p' "$f")
		[ -z "$to" ] || [ -f "$root$mandir/$to" ] || bad="$bad $f"
	done
	if [ $rc -eq 0 ] && [ ! -s "$tmp/groff" ] && [ -z "$bad" ] &&
	   [ -n "$(ls "$root$mandir"/man3)" ]; then
		ok "$what"
	else
		echo "dangling: $bad" >>"$tmp/groff"
		nok "$what" "$tmp/groff"
	fi
else
	skip "$what" "no groff"
fi

# ---- 11. make uninstall ----
what="make uninstall removes everything make install put there"
if mk uninstall DESTDIR="$root" PREFIX="$prefix" >"$tmp/log" 2>&1 &&
   [ -d "$root$libdir" ] &&
   [ -z "$(find "$root" ! -type d)" ] &&
   [ -z "$(find "$root" -name 'uiommufd*')" ]; then
	ok "$what"
else
	find "$root" ! -type d -o -name 'uiommufd*' >>"$tmp/log" 2>&1
	nok "$what" "$tmp/log"
fi

[ "$failures" -eq 0 ]
