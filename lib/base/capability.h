/* SPDX-License-Identifier: MIT */
/*
 * Capabilities as sets of bits (bit N is capability N, CAP_IPC_LOCK...),
 * their capabilities(7) names, and the calling thread's effective set.
 */
#ifndef UIOMMUFD_BASE_CAPABILITY_H
#define UIOMMUFD_BASE_CAPABILITY_H

#include "base/common.h"

/* The highest capability this library knows by name. */
#define CAP_SET_LAST 40
#define CAP_SET_ALL ((2ull << CAP_SET_LAST) - 1)

/* The calling thread's effective set, read now (capget). */
u64 cap_set_effective(void);

/*
 * "all", "none", or names separated by commas, without the "CAP_"
 * prefix, in any case ("ipc_lock,SYS_RESOURCE"). 0, or -EINVAL with a
 * reason naming what was not understood.
 */
int cap_set_parse(const char *text, u64 *out);

#endif
