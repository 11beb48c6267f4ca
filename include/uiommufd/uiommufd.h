/* SPDX-License-Identifier: MIT */
/*
 * uiommufd public API.
 *
 * Everything declared here is exported from libuiommufd; nothing else is.
 */
#ifndef UIOMMUFD_UIOMMUFD_H
#define UIOMMUFD_UIOMMUFD_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Why the last failing call on this thread failed, in a short sentence, or
 * NULL when no reason was recorded. The string stays valid until the next
 * call into the library on this thread.
 */
const char *uiommufd_last_reason(void);

/*
 * Fault injection, the kernel's fail-nth protocol for the calling thread:
 * uiommufd_fail_nth_set(N) makes the Nth failure point reached from now on
 * fail (0 disarms); uiommufd_fail_nth_get() is the count still to go, so 0
 * once the fault has fired.
 */
void uiommufd_fail_nth_set(unsigned int nth);
unsigned int uiommufd_fail_nth_get(void);

#ifdef __cplusplus
}
#endif

#endif
