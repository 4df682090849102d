/*
 * zfslxc-start starts one LXC container in the foreground through liblxc and
 * reports how its init ended.
 *
 *   zfslxc-start --name N --lxcpath P --rcfile CONFIG [--status-file F] [--pass-fds N]
 *   zfslxc-start --attach [--name N] --init-pidfd FD [--cgroup DIR]... [--seccomp POLICY] [--status-file F] [--pass-fds N] [--oom-score-adj N] -- PROGRAM [ARG...]
 *   zfslxc-start --decode-status WAITSTATUS
 *
 * Why a C program (docs/adr/0002-exit-status-and-init.md): `lxc-start -F`
 * exits 0 whatever init's status, and liblxc refuses a foreground start from
 * a multithreaded process such as any Go program. liblxc keeps init's wait
 * status in c->error_num after a foreground start; this program turns it
 * into a shell-style exit code (the code, or 128+signal) and, with
 * --status-file, into one machine-readable line written atomically:
 *
 *   exited N      init exited with status N
 *   signaled N    init was killed by signal N
 *   error TEXT    the container could not be started (exit code 125)
 *
 * stdin, stdout, stderr and the N descriptors from 3 named by --pass-fds
 * pass through liblxc to the container's init unchanged (foreground mode
 * does not close inherited fds, and lxc.console.path = none leaves stdio
 * alone). Every other inherited descriptor is closed first, so nothing the
 * caller leaked by accident (Go does not close inherited descriptors for
 * its children) reaches the container.
 * Signals sent to this process are forwarded to init by liblxc's monitor
 * loop (SIGKILL and SIGSTOP cannot be, by nature).
 *
 * With --attach the container must be running: PROGRAM runs in it as
 * attach.c says (the namespaces of the init whose pidfd is --init-pidfd,
 * the cgroups named by --cgroup, init's LSM label, personality and
 * no_new_privs, the seccomp policy --seccomp names), with the same stdio
 * and --pass-fds descriptors, as this program's child, and its status is
 * reported the same way. This is how the shim runs exec processes
 * (docs/adr/0003-exec.md, 0007-no-monitor.md): PROGRAM is zfslxc-init,
 * inherited as a descriptor. --oom-score-adj sets this process's
 * oom_score_adj first (as host root), which the attached process
 * inherits. liblxc's own attach is not used: it needs the container's
 * LXC monitor, which the shim ends once init is set up.
 *
 * With lxc.monitor.signal.pdeath = 0 in the config (the shim's
 * containers), this program may be killed once init runs: init lives on,
 * adopted by the shim, and liblxc's teardown (the container's cgroups) is
 * the shim's to do.
 *
 * Build: gcc -O2 -Wall -o zfslxc-start *.c -llxc -lseccomp
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <stdbool.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "zfslxc-start.h"

static const char *status_file;

/*
 * decode turns liblxc's c->error_num into (kind, number). Measured with
 * LXC 5.0.2: a normal exit is an ordinary wait status (exit 42 -> 42<<8 =
 * 10752), but a signal death comes back encoded like a *stopped* status,
 * the signal in the second byte and 0x7f in the first (SIGKILL -> 0x097f =
 * 2431). The ordinary signaled form (signal in the low 7 bits, 0x80 for a
 * core dump) is decoded too, in case another liblxc version returns it.
 */
static const char *decode(int st, int *n)
{
	if ((st & 0xff) == 0x7f) {
		*n = (st >> 8) & 0xff;
		return "signaled";
	}
	if ((st & 0x7f) == 0) {
		*n = (st >> 8) & 0xff;
		return "exited";
	}
	*n = st & 0x7f;
	return "signaled";
}

/* write_status replaces the status file with one line, atomically. */
int write_status(const char *fmt, ...)
{
	char tmp[PATH_MAX], line[1024];
	va_list ap;
	int fd, len, ok;

	if (!status_file)
		return 0;
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", status_file) >= (int)sizeof(tmp)) {
		fprintf(stderr, "zfslxc-start: status file path too long\n");
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "zfslxc-start: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	ok = write(fd, line, len) == len;
	ok = (fsync(fd) == 0) && ok;
	ok = (close(fd) == 0) && ok;
	if (!ok || rename(tmp, status_file) < 0) {
		fprintf(stderr, "zfslxc-start: writing %s: %s\n", status_file, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* fail reports a start failure in the status file and on stderr. */
int fail(const char *fmt, const char *arg)
{
	char msg[900];

	snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
	fprintf(stderr, "zfslxc-start: %s\n", msg);
	write_status("error %s", msg);
	return EXIT_START_FAILED;
}

/* close_from closes every descriptor >= first (close_range where the
 * kernel has it, else one by one from /proc/self/fd). */
static int close_from(int first)
{
	DIR *d;
	struct dirent *e;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0)
		return 0;
#endif
	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (fd >= first && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
	return 0;
}

/* load loads the container object and its config, as lxc-start --rcfile
 * does: only the given file counts, even if lxcpath/name/config exists (it
 * may be the same file). It reports failures itself. */
static struct lxc_container *load(const char *name, const char *lxcpath, const char *rcfile)
{
	struct lxc_container *c;

	c = lxc_container_new(name, lxcpath);
	if (!c) {
		fail("cannot create container object %s", name);
		return NULL;
	}
	c->clear_config(c);
	if (!c->load_config(c, rcfile)) {
		lxc_container_put(c);
		fail("cannot load LXC config %s", rcfile);
		return NULL;
	}
	free(c->configfile);
	c->configfile = strdup(rcfile);
	if (!c->configfile) {
		lxc_container_put(c);
		fail("out of memory%s", NULL);
		return NULL;
	}
	return c;
}

/* set_oom_score_adj writes value to /proc/self/oom_score_adj. */
static int set_oom_score_adj(const char *value)
{
	int fd, ok;
	size_t len = strlen(value);

	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, value, len) == (ssize_t)len;
	ok = (close(fd) == 0) && ok;
	return ok ? 0 : -1;
}

/* int_arg parses optarg as an integer in [min, max] (base 0: C's
 * prefixes), or says that what is bad. */
static int int_arg(const char *what, int base, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(optarg, &end, base);
	if (*optarg == '\0' || *end != '\0' || errno || v < min || v > max) {
		fprintf(stderr, "zfslxc-start: bad %s %s\n", what, optarg);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zfslxc-start --name NAME --lxcpath DIR --rcfile CONFIG [--status-file FILE] [--pass-fds N]\n"
		"       zfslxc-start --attach [--name NAME] --init-pidfd FD [--cgroup DIR]... [--seccomp POLICY]\n"
		"                    [--status-file FILE] [--pass-fds N] [--oom-score-adj N] -- PROGRAM [ARG...]\n"
		"       zfslxc-start --decode-status WAITSTATUS\n"
		"\n"
		"Start an LXC container in the foreground and exit with its init's status\n"
		"(the exit code, or 128+signal). With --status-file, also write one line:\n"
		"\"exited N\", \"signaled N\" or \"error TEXT\" (exit code 125).\n"
		"Descriptors 3 to 3+N-1 (--pass-fds N, default 0) are passed to init;\n"
		"all other descriptors above 2 are closed.\n"
		"With --attach, run PROGRAM in the running container whose init the pidfd\n"
		"FD (which must be 3+N) is, in its cgroups DIR, with the seccomp POLICY\n"
		"lxcconv wrote, and exit with its status.\n"
		"\n"
		"Example:\n"
		"  zfslxc-start --name web --lxcpath /run/web/lxc --rcfile /run/web/lxc/web/config \\\n"
		"    --status-file /run/web/status\n");
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "lxcpath", required_argument, NULL, 'P' },
		{ "rcfile", required_argument, NULL, 'f' },
		{ "status-file", required_argument, NULL, 's' },
		{ "pass-fds", required_argument, NULL, 'p' },
		{ "decode-status", required_argument, NULL, 'd' },
		{ "attach", no_argument, NULL, 'a' },
		{ "oom-score-adj", required_argument, NULL, 'o' },
		{ "init-pidfd", required_argument, NULL, 'i' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "seccomp", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *lxcpath = NULL, *rcfile = NULL, *oom_score_adj = NULL, *kind;
	struct lxc_container *c;
	struct attach_opts ao = { .pidfd = -1 };
	int opt, n, st, pass_fds = 0;
	bool started, attach_mode = false;

	ao.cgroups = calloc(argc, sizeof(char *));
	if (!ao.cgroups)
		return fail("out of memory%s", NULL);
	while ((opt = getopt_long(argc, argv, "+n:P:f:s:p:d:ao:i:c:S:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': name = optarg; break;
		case 'P': lxcpath = optarg; break;
		case 'f': rcfile = optarg; break;
		case 's': status_file = optarg; break;
		case 'p':
			if (int_arg("--pass-fds", 10, 0, 1000, &pass_fds) < 0)
				return 2;
			break;
		case 'd':
			if (int_arg("wait status", 0, INT_MIN, INT_MAX, &st) < 0)
				return 2;
			kind = decode(st, &n);
			printf("%s %d\n", kind, n);
			return 0;
		case 'a': attach_mode = true; break;
		case 'o':
			if (int_arg("--oom-score-adj", 10, -1000, 1000, &n) < 0)
				return 2;
			oom_score_adj = optarg;
			break;
		case 'i':
			if (int_arg("--init-pidfd", 10, 3, 1003, &ao.pidfd) < 0)
				return 2;
			break;
		case 'c': ao.cgroups[ao.ncgroups++] = optarg; break;
		case 'S': ao.seccomp = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* With --attach, --name only labels the process (ps). */
	if (attach_mode ? (optind >= argc || ao.pidfd != 3 + pass_fds || lxcpath || rcfile)
			: (optind != argc || !name || !lxcpath || !rcfile || ao.pidfd >= 0 || ao.ncgroups || ao.seccomp)) {
		usage(stderr);
		return 2;
	}

	if (close_from(3 + pass_fds + (attach_mode ? 1 : 0)) < 0)
		return fail("cannot close inherited descriptors%s", NULL);
	if (oom_score_adj && set_oom_score_adj(oom_score_adj) < 0)
		return fail("cannot set oom_score_adj to %s", oom_score_adj);
	if (attach_mode) {
		/* The pidfd must not reach the container. */
		if (fcntl(ao.pidfd, F_SETFD, FD_CLOEXEC) < 0)
			return fail("--init-pidfd: %s", strerror(errno));
		ao.argv = argv + optind;
		return attach(&ao);
	}

	c = load(name, lxcpath, rcfile);
	if (!c)
		return EXIT_START_FAILED;
	if (!c->want_daemonize(c, false)) {
		lxc_container_put(c);
		return fail("cannot select foreground mode%s", NULL);
	}
	/* Inherited descriptors are the contract with zfslxc-init. */
	c->want_close_all_fds(c, false);

	c->error_num = 0;
	started = c->start(c, 0, NULL);
	st = c->error_num;
	if (!started) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%d", st);
		lxc_container_put(c);
		return fail("liblxc could not start the container (error_num %s); see lxc.log.file", msg);
	}
	lxc_container_put(c);

	kind = decode(st, &n);
	if (write_status("%s %d", kind, n) < 0)
		fprintf(stderr, "zfslxc-start: init %s %d\n", kind, n);
	if (kind[0] == 's')
		return 128 + n;
	return n;
}
