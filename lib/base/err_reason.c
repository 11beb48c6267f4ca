// SPDX-License-Identifier: MIT
#include "base/err_reason.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "uiommufd/uiommufd.h"

static __thread char reason[ERR_REASON_MAX];
static __thread bool reason_valid;

int err_reason(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	reason_valid = true;
	return err;
}

void err_reason_clear(void)
{
	reason_valid = false;
}

void err_reason_save(struct err_reason_saved *saved)
{
	saved->valid = reason_valid;
	if (reason_valid)
		memcpy(saved->text, reason, sizeof(reason));
}

void err_reason_restore(const struct err_reason_saved *saved)
{
	reason_valid = saved->valid;
	if (saved->valid)
		memcpy(reason, saved->text, sizeof(reason));
}

const char *err_reason_get(void)
{
	return reason_valid ? reason : NULL;
}

UIOMMUFD_EXPORT const char *uiommufd_last_reason(void)
{
	return err_reason_get();
}
