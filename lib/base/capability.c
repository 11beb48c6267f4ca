// SPDX-License-Identifier: MIT
#include "base/capability.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err_reason.h"

/* capabilities(7), without "CAP_", indexed by number. */
static const char *const cap_names[CAP_SET_LAST + 1] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid",
	"kill", "setgid", "setuid", "setpcap", "linux_immutable",
	"net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot",
	"sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
	"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
	"audit_write", "audit_control", "setfcap", "mac_override",
	"mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read",
	"perfmon", "bpf", "checkpoint_restore",
};

u64 cap_set_effective(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (data[0].effective | (u64)data[1].effective << 32) &
	       CAP_SET_ALL;
}

static int cap_lookup(const char *name, size_t len)
{
	/* "CAP_IPC_LOCK" is what a reader of capabilities(7) may type. */
	if (len > 4 && !strncasecmp(name, "cap_", 4)) {
		name += 4;
		len -= 4;
	}
	for (unsigned int i = 0; i <= CAP_SET_LAST; i++)
		if (strlen(cap_names[i]) == len &&
		    !strncasecmp(cap_names[i], name, len))
			return i;
	return -1;
}

int cap_set_parse(const char *text, u64 *out)
{
	u64 set = 0;
	const char *p = text;

	if (!text)
		return err_reason(-EINVAL, "no capability list");
	if (!strcasecmp(text, "all")) {
		*out = CAP_SET_ALL;
		return 0;
	}
	if (!strcasecmp(text, "none")) {
		*out = 0;
		return 0;
	}
	for (;;) {
		const char *end = strchrnul(p, ',');
		int cap = cap_lookup(p, end - p);

		if (cap < 0)
			return err_reason(-EINVAL,
					  "unknown capability \"%.*s\" (capabilities(7) names without CAP_, e.g. ipc_lock, or all, or none)",
					  (int)(end - p), p);
		set |= 1ull << cap;
		if (!*end)
			break;
		p = end + 1;
	}
	*out = set;
	return 0;
}
