/* SPDX-License-Identifier: MIT */
/*
 * A per-thread reason for the last failure. The function that detects a
 * failure records why ("iova 0x1001 is not aligned to 0x1000"); functions
 * that only pass an error upward leave the reason alone. The last record
 * wins; entry points clear it before they start.
 */
#ifndef UIOMMUFD_BASE_ERR_REASON_H
#define UIOMMUFD_BASE_ERR_REASON_H

#include "base/common.h"

#define ERR_REASON_MAX 256

/*
 * Record a reason and return @err, so a failing path reads
 *	return err_reason(-EINVAL, "iova %#llx is not aligned", iova);
 */
int err_reason(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void err_reason_clear(void);

/*
 * Cleanup after a failure (undoing, destroying) must not replace the
 * failure's reason with its own: bracket it with save and restore.
 */
struct err_reason_saved {
	char text[ERR_REASON_MAX];
	bool valid;
};

void err_reason_save(struct err_reason_saved *saved);
void err_reason_restore(const struct err_reason_saved *saved);

/* The reason recorded on this thread since the last clear, or NULL. */
const char *err_reason_get(void);

#endif
