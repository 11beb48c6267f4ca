#!/bin/sh
# The shared library exports exactly the functions the public headers
# declare: nothing internal leaks out, nothing declared is missing.
BUILD=${BUILD:-build}
lib="$BUILD/libuiommufd.so.0"
echo "TAP version 13"
echo "1..2"

exported=$(nm -D --defined-only "$lib" 2>/dev/null |
	awk '$2 ~ /^[TWDBR]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u)
declared=$(cat include/uiommufd/*.h |
	sed -n -e 's/^[a-z_][a-z_ 0-9*]*[ *]\(uiommufd_[a-z0-9_]*\)(.*/\1/p' \
		-e 's/^\(uiommufd_[a-z0-9_]*\)(.*/\1/p' |
	sort -u)

extra=$(printf '%s\n' "$exported" | grep -vxF "$declared" | grep -v '^$')
missing=$(printf '%s\n' "$declared" | grep -vxF "$exported" | grep -v '^$')

if [ -n "$exported" ] && [ -z "$extra" ]; then
	echo "ok 1 only declared symbols are exported"
else
	echo "not ok 1 only declared symbols are exported"
	printf '# not declared: %s\n' $extra
fi
if [ -n "$declared" ] && [ -z "$missing" ]; then
	echo "ok 2 every declared function is exported"
else
	echo "not ok 2 every declared function is exported"
	printf '# missing: %s\n' $missing
fi
