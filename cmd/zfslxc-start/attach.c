/*
 * attach.c runs an exec process in a running container the way runc's
 * exec does, by joining the namespaces of the container's init through
 * its pidfd: liblxc's attach needs the container's LXC monitor (its
 * command socket gives init's pid and cgroups), and the shim's containers
 * have none once they run (docs/adr/0007-no-monitor.md).
 *
 * What the process gets is what liblxc's attach gave it (LXC 5.0,
 * LXC_ATTACH_DEFAULT without capability dropping, which zfslxc-init does
 * from the exec's spec): init's cgroups (each directory given, joined by
 * the child before anything else), every namespace in which init differs
 * from this process (a user namespace is refused: zfslxc does not make
 * them), init's personality, init's AppArmor label on exec, init's
 * no_new_privs, no supplementary groups, an empty environment, / as its
 * working directory, and the container's seccomp filter, loaded last.
 * The child reports a failure on a close-on-exec pipe; its exec closes
 * the pipe, which is success. The process stays this program's child, so
 * its status is an ordinary wait status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zfslxc-start.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* read_small reads a small /proc file into buf (NUL-terminated). */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* pidfd_pid returns the pid of a pidfd (its fdinfo), -1 if unknown. */
static pid_t pidfd_pid(int pidfd)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "\nPid:");
	if (!p)
		return -1;
	return (pid_t)strtol(p + 5, NULL, 10);
}

static const struct {
	const char *name;
	int flag;
} nstypes[] = {
	{ "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "uts", CLONE_NEWUTS },
	{ "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID },
	{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

/* ns_flags returns the namespaces in which pid differs from us (0 with
 * the reason in err for a user namespace, -1 on error). */
static int ns_flags(pid_t pid, int *flags, char *err, size_t errlen)
{
	size_t i;

	*flags = 0;
	for (i = 0; i < sizeof(nstypes) / sizeof(nstypes[0]); i++) {
		char ours[64], theirs[64];
		struct stat a, b;

		snprintf(ours, sizeof(ours), "/proc/self/ns/%s", nstypes[i].name);
		snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)pid, nstypes[i].name);
		if (stat(ours, &a) < 0 && errno == ENOENT)
			continue; /* the kernel has no such namespace */
		if (stat(theirs, &b) < 0) {
			snprintf(err, errlen, "%s: %s", theirs, strerror(errno));
			return -1;
		}
		if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			continue;
		if (nstypes[i].flag == CLONE_NEWUSER) {
			snprintf(err, errlen, "the container has a user namespace of its own, which zfslxc does not support");
			return -1;
		}
		*flags |= nstypes[i].flag;
	}
	return 0;
}

/* apparmor_label reads pid's AppArmor label without its mode suffix: ""
 * when AppArmor is off or pid is unconfined. */
static void apparmor_label(pid_t pid, char *label, size_t len)
{
	char path[64], *p;

	label[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/attr/apparmor/current", (int)pid);
	if (read_small(path, label, len) < 0) {
		label[0] = '\0';
		return;
	}
	if ((p = strchr(label, '\n')))
		*p = '\0';
	if ((p = strstr(label, " (")))
		*p = '\0';
	if (strcmp(label, "unconfined") == 0)
		label[0] = '\0';
}

/* no_new_privs reports pid's no_new_privs bit. */
static int no_new_privs(pid_t pid)
{
	char path[64], buf[4096], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "\nNoNewPrivs:");
	return p && strtol(p + 12, NULL, 10) == 1;
}

/* process_personality reads pid's personality (-1 if unknown). */
static long process_personality(pid_t pid)
{
	char path[64], buf[32];

	snprintf(path, sizeof(path), "/proc/%d/personality", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 16);
}

/* target is init's state, read before the fork. */
struct target {
	pid_t pid;
	int nsflags;
	long persona;
	int nnp;
	char label[256];
	void *filter;
};

/* child_fail reports err on the pipe and exits. */
static void child_fail(int errfd, const char *what, int err)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));

	if (write(errfd, msg, n > 0 ? (size_t)n : 0) < 0) {
		/* the parent reports a silent failure */
	}
	_exit(EXIT_START_FAILED);
}

/* child sets the process up in the container and execs o->argv. */
static void child(const struct attach_opts *o, const struct target *t, int errfd)
{
	static char *const noenv[] = { NULL };
	char what[PATH_MAX + 16], err[512];
	int i, lsmfd = -1;

	for (i = 0; i < o->ncgroups; i++) {
		int fd;

		snprintf(what, sizeof(what), "%s/cgroup.procs", o->cgroups[i]);
		fd = open(what, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			child_fail(errfd, what, errno);
		close(fd);
	}
	if (t->label[0]) {
		/* Opened before the mount namespace changes, as liblxc. */
		lsmfd = open("/proc/thread-self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
		if (lsmfd < 0)
			child_fail(errfd, "opening /proc/thread-self/attr/apparmor/exec", errno);
	}
	if ((t->nsflags & ~CLONE_NEWPID) && setns(o->pidfd, t->nsflags & ~CLONE_NEWPID) < 0)
		child_fail(errfd, "joining the namespaces of the container's init", errno);
	close(o->pidfd);
	if (chdir("/") < 0)
		child_fail(errfd, "chdir /", errno);
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		child_fail(errfd, "dropping supplementary groups", errno);
	if (t->persona >= 0 && personality(0xffffffff) != (int)t->persona && personality((unsigned long)t->persona) < 0)
		child_fail(errfd, "setting the container's personality", errno);
	if (lsmfd >= 0) {
		int n = snprintf(what, sizeof(what), "exec %s", t->label);

		if (write(lsmfd, what, n) != n)
			child_fail(errfd, "setting the AppArmor label on exec", errno);
		close(lsmfd);
	}
	if (t->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(errfd, "setting no_new_privs", errno);
	if (t->filter && seccomp_policy_load(t->filter, err, sizeof(err)) < 0) {
		if (write(errfd, err, strlen(err)) < 0) {
			/* the parent reports a silent failure */
		}
		_exit(EXIT_START_FAILED);
	}
	execve(o->argv[0], o->argv, noenv);
	snprintf(what, sizeof(what), "executing %s in the container", o->argv[0]);
	child_fail(errfd, what, errno);
}

/* read_target reads what the child needs to know of init. */
static int read_target(const struct attach_opts *o, struct target *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->pid = pidfd_pid(o->pidfd);
	if (t->pid <= 0 || syscall(SYS_pidfd_send_signal, o->pidfd, 0, NULL, 0) < 0) {
		snprintf(err, errlen, "the container's init has exited");
		return -1;
	}
	if (ns_flags(t->pid, &t->nsflags, err, errlen) < 0)
		return -1;
	t->persona = process_personality(t->pid);
	t->nnp = no_new_privs(t->pid);
	apparmor_label(t->pid, t->label, sizeof(t->label));
	if (o->seccomp && !(t->filter = seccomp_policy(o->seccomp, err, errlen)))
		return -1;
	/* Still init's? The pid read through the pidfd could be recycled
	 * only if init had exited, which the pidfd would tell. */
	if (syscall(SYS_pidfd_send_signal, o->pidfd, 0, NULL, 0) < 0) {
		snprintf(err, errlen, "the container's init has exited");
		return -1;
	}
	return 0;
}

int attach(const struct attach_opts *o)
{
	struct target t;
	char err[600];
	int pipefd[2], st;
	ssize_t n;
	pid_t pid;

	if (read_target(o, &t, err, sizeof(err)) < 0)
		return fail("%s", err);
	/* The pid namespace applies to children only: joined here. */
	if ((t.nsflags & CLONE_NEWPID) && setns(o->pidfd, CLONE_NEWPID) < 0) {
		snprintf(err, sizeof(err), "joining the pid namespace of the container's init: %s", strerror(errno));
		return fail("%s", err);
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pipefd[0]);
		child(o, &t, pipefd[1]);
	}
	close(pipefd[1]);
	close(o->pidfd);
	do
		n = read(pipefd[0], err, sizeof(err) - 1);
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	while (waitpid(pid, &st, 0) < 0) {
		char msg[64];

		if (errno == EINTR)
			continue;
		snprintf(msg, sizeof(msg), "%d: %s", (int)pid, strerror(errno));
		return fail("waiting for the attached process %s", msg);
	}
	if (n > 0) {
		err[n] = '\0';
		return fail("%s", err);
	}
	if (WIFSIGNALED(st)) {
		if (write_status("signaled %d", WTERMSIG(st)) < 0)
			fprintf(stderr, "zfslxc-start: process signaled %d\n", WTERMSIG(st));
		return 128 + WTERMSIG(st);
	}
	if (write_status("exited %d", WEXITSTATUS(st)) < 0)
		fprintf(stderr, "zfslxc-start: process exited %d\n", WEXITSTATUS(st));
	return WEXITSTATUS(st);
}
