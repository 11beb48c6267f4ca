// SPDX-License-Identifier: MIT
/*
 * test_shim_debugfs.c built with _FORTIFY_SOURCE=2: opens whose flags the
 * compiler cannot see go through __open_2 and __openat_2, and reads into
 * a buffer of known size through __read_chk and __pread_chk, glibc's
 * entry points that the shim must answer as well.
 */
#define DEBUGFS_TEST_FORTIFIED
#undef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2

#include "test_shim_debugfs.c"
