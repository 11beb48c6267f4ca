// SPDX-License-Identifier: MIT
/*
 * uiommufd-run [--kernel=RELEASE] [--caps=LIST] [--memlock=SIZE]
 *              [--trace[=FILE]] [--] program args...
 *
 * Runs @program with the preload shim, so its /dev/iommu is uiommufd, and
 * exits with the program's status (re-raising the signal that killed it).
 * The release, capabilities and memlock limit it answers with go to the
 * program as UIOMMUFD_KERNEL, UIOMMUFD_CAPS and UIOMMUFD_MEMLOCK, checked
 * here first by the library's own parser.
 * It refuses plainly when the shim cannot be active: a statically linked
 * program, or no shim library beside this tool. The shim reports in
 * through an inherited pipe; a program that ends without the shim having
 * loaded (setuid, a custom loader) gets a warning too.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/user_locked.h"
#include "uiommufd/uiommufd.h"

#define SHIM_NAME "libuiommufd-preload.so"
/* Where an install puts the shim, from where it puts this tool. */
#ifndef UIOMMUFD_SHIM_RELDIR
#define UIOMMUFD_SHIM_RELDIR "../lib/uiommufd"
#endif

static const char *prog_name = "uiommufd-run";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [options] [--] program [args...]\n"
		"Runs program with uiommufd answering /dev/iommu and /dev/vfio/vfio.\n"
		"  --kernel=RELEASE  answer as Linux RELEASE (6.2 or 7.2; default 7.2)\n"
		"  --caps=LIST       the capabilities the program holds: all, none, or\n"
		"                    names such as ipc_lock,sys_resource (default: its own)\n"
		"  --memlock=SIZE    the RLIMIT_MEMLOCK pinned pages charge against:\n"
		"                    bytes with K, M, G or T, or unlimited (default: its own)\n"
		"  --trace[=FILE]    print every call on those descriptors, decoded,\n"
		"                    with its result and reason (to FILE, or stderr)\n"
		"  --releases        print the release table (what came in which release)\n"
		"  -h, --help        this text\n"
		"Environment: UIOMMUFD_KERNEL, UIOMMUFD_CAPS and UIOMMUFD_MEMLOCK as the\n"
		"options; UIOMMUFD_PRELOAD names the shim library to use.\n",
		prog_name);
}

/*
 * The shim: $UIOMMUFD_PRELOAD; else beside this executable (the build
 * tree); else where an install puts it relative to this executable, so
 * an install under a DESTDIR, or moved, still finds its own.
 */
static int find_shim(char *out, size_t len)
{
	const char *env = getenv("UIOMMUFD_PRELOAD");
	char self[PATH_MAX], *dir;
	ssize_t n;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, R_OK);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -1;
	self[n] = 0;
	dir = dirname(self);
	snprintf(out, len, "%s/%s", dir, SHIM_NAME);
	if (!access(out, R_OK))
		return 0;
	snprintf(out, len, "%s/%s/%s", dir, UIOMMUFD_SHIM_RELDIR, SHIM_NAME);
	return access(out, R_OK);
}

static const struct {
	const char *option;	/* "--kernel=" */
	const char *key;	/* uiommufd_ctx_attr_parse()'s */
	const char *env;
} attr_options[] = {
	{ "--kernel=", "kernel", "UIOMMUFD_KERNEL" },
	{ "--caps=", "caps", "UIOMMUFD_CAPS" },
	{ "--memlock=", "memlock", "UIOMMUFD_MEMLOCK" },
};

#define NR_ATTR_OPTIONS (sizeof(attr_options) / sizeof(attr_options[0]))

/* @what names where @value came from: "--kernel=" or a variable. */
static int check_attr(unsigned int i, const char *what, const char *value)
{
	struct uiommufd_ctx_attr attr = { .size = sizeof(attr) };
	int len = strlen(what);

	if (!uiommufd_ctx_attr_parse(&attr, attr_options[i].key, value))
		return 0;
	if (what[len - 1] == '=')
		len--;
	fprintf(stderr, "%s: %.*s: %s\n", prog_name, len, what,
		uiommufd_last_reason());
	return -1;
}

/*
 * argv[*argi] may be one of attr_options ("--kernel=6.2" or "--kernel
 * 6.2"): checked, then passed on in the environment. 1 if it was one
 * (*argi at its last word), 0 if not, -1 if its value is bad.
 */
static int attr_option(char **argv, int argc, int *argi)
{
	const char *arg = argv[*argi], *value;

	for (unsigned int i = 0; i != NR_ATTR_OPTIONS; i++) {
		size_t len = strlen(attr_options[i].option);

		if (!strncmp(arg, attr_options[i].option, len)) {
			value = arg + len;
		} else if (!strncmp(arg, attr_options[i].option, len - 1) &&
			   !arg[len - 1]) {
			if (*argi + 1 == argc) {
				fprintf(stderr, "%s: %s needs a value\n",
					prog_name, arg);
				return -1;
			}
			value = argv[++*argi];
		} else {
			continue;
		}
		if (check_attr(i, attr_options[i].option, value))
			return -1;
		if (setenv(attr_options[i].env, value, 1)) {
			perror(prog_name);
			return -1;
		}
		return 1;
	}
	return 0;
}

/* The release table, a row a line: "since  what  (note)". */
static void print_releases(void)
{
	struct uiommufd_release_row row;

	for (unsigned int i = 0; !uiommufd_release_row(i, &row); i++)
		printf("%u.%-3u %s%s%s%s\n", row.since >> 16,
		       (row.since >> 8) & 0xff, row.what,
		       row.note ? " (" : "", row.note ? row.note : "",
		       row.note ? ")" : "");
}

/* What the environment says already must make sense too. */
static int check_attr_env(void)
{
	for (unsigned int i = 0; i != NR_ATTR_OPTIONS; i++) {
		const char *value = getenv(attr_options[i].env);

		if (value && *value &&
		    check_attr(i, attr_options[i].env, value))
			return -1;
	}
	return 0;
}

/* Where execvp would find @file, or NULL. */
static char *resolve(const char *file, char *out, size_t len)
{
	const char *path = getenv("PATH");
	const char *p;

	if (strchr(file, '/')) {
		snprintf(out, len, "%s", file);
		return access(out, X_OK) ? NULL : out;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p;) {
		const char *end = strchrnul(p, ':');

		snprintf(out, len, "%.*s/%s", (int)(end - p),
			 end == p ? "." : p, file);
		if (!access(out, X_OK))
			return out;
		p = *end ? end + 1 : end;
	}
	return NULL;
}

/*
 * Whether the ELF file at @path can take a preload: it must ask for a
 * program interpreter (a dynamic loader). Scripts (#!) are fine: their
 * interpreter is what runs. 1 yes, 0 no (statically linked), -1 unknown.
 */
static int takes_preload(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh))
		goto out;
	if (!memcmp(eh.e_ident, "#!", 2)) {
		rc = 1;
		goto out;
	}
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		goto out;
	rc = 0;
	for (unsigned int i = 0; i != eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * eh.e_phentsize) !=
		    sizeof(ph)) {
			rc = -1;
			break;
		}
		if (ph.p_type == PT_INTERP) {
			rc = 1;
			break;
		}
	}
out:
	close(fd);
	return rc;
}

static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

/* LD_PRELOAD with the shim first, keeping what was there. */
static int set_preload(const char *shim)
{
	const char *old = getenv("LD_PRELOAD");
	char *val;
	int rc;

	if (old && *old) {
		if (asprintf(&val, "%s:%s", shim, old) < 0)
			return -1;
	} else {
		val = strdup(shim);
		if (!val)
			return -1;
	}
	rc = setenv("LD_PRELOAD", val, 1);
	free(val);
	return rc;
}

int main(int argc, char **argv)
{
	char shim[PATH_MAX], exe[PATH_MAX], ready_fd[16], account[16], byte;
	const char *trace = NULL;
	int argi = 1, status, pipefd[2], rc, account_fd;
	bool shim_loaded;

	for (; argi < argc && argv[argi][0] == '-'; argi++) {
		const char *a = argv[argi];

		if (!strcmp(a, "--")) {
			argi++;
			break;
		} else if (!strcmp(a, "--trace")) {
			trace = "-";
		} else if (!strncmp(a, "--trace=", 8)) {
			trace = a + 8;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--releases")) {
			print_releases();
			return 0;
		} else if ((rc = attr_option(argv, argc, &argi))) {
			if (rc < 0)
				return 2;
		} else {
			fprintf(stderr, "%s: unknown option %s\n", prog_name, a);
			usage(stderr);
			return 2;
		}
	}
	if (argi == argc) {
		usage(stderr);
		return 2;
	}
	if (check_attr_env())
		return 2;
	if (find_shim(shim, sizeof(shim))) {
		fprintf(stderr,
			"%s: the shim %s is missing or unreadable; the program would run without uiommufd, so it is not run\n",
			prog_name, shim);
		return 127;
	}
	if (!resolve(argv[argi], exe, sizeof(exe))) {
		fprintf(stderr, "%s: %s: command not found\n", prog_name,
			argv[argi]);
		return 127;
	}
	if (!takes_preload(exe)) {
		fprintf(stderr,
			"%s: %s is statically linked: the shim cannot be loaded into it, so it is not run (link it dynamically, or use libuiommufd directly)\n",
			prog_name, exe);
		return 126;
	}
	if (set_preload(shim) ||
	    (trace && setenv("UIOMMUFD_TRACE", trace, 1)) || pipe(pipefd)) {
		perror(prog_name);
		return 125;
	}
	snprintf(ready_fd, sizeof(ready_fd), "%d", pipefd[1]);
	setenv("UIOMMUFD_RUN_READY_FD", ready_fd, 1);
	/*
	 * One count of each user's locked pages for the program, its
	 * children and their brokers, as the kernel counts them across
	 * processes: a file they all inherit (a memfd: nothing is left).
	 */
	account_fd = user_locked_session_create();
	if (account_fd >= 0) {
		snprintf(account, sizeof(account), "%d", account_fd);
		setenv("UIOMMUFD_ACCOUNT_FD", account, 1);
	}

	/*
	 * Brokers of shared contexts (forked by the program's library, then
	 * orphaned) come to us, not to init: reaped here while we wait.
	 */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	child = fork();
	if (child < 0) {
		perror(prog_name);
		return 125;
	}
	if (!child) {
		close(pipefd[0]);
		execv(exe, argv + argi);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog_name, exe,
			strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(pipefd[1]);
	/*
	 * The terminal signals the whole process group: the program gets
	 * ^C itself and decides. Signals meant for us go on to it.
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTERM, forward);
	signal(SIGHUP, forward);

	shim_loaded = read(pipefd[0], &byte, 1) == 1;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);

		if (pid == child) {
			status = st;
			break;
		}
		if (pid < 0 && errno != EINTR) {
			perror(prog_name);
			return 125;
		}
	}
	/* Brokers that are done; the others go to init with us. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (!shim_loaded)
		fprintf(stderr,
			"%s: warning: the shim never loaded into %s (setuid, or a loader that ignores LD_PRELOAD): it ran without uiommufd\n",
			prog_name, exe);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		struct rlimit no_core = { 0, 0 };

		/* Die the same way, without a second core dump. */
		setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		raise(sig);
		return 128 + sig;
	}
	return WEXITSTATUS(status);
}
