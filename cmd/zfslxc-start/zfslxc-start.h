/* What the parts of zfslxc-start share (zfslxc-start.c, attach.c, seccomp.c). */
#ifndef ZFSLXC_START_H
#define ZFSLXC_START_H

#include <stddef.h>

/* Exit code when the container could not be started at all (as docker). */
#define EXIT_START_FAILED 125

/* write_status replaces the --status-file with one line, atomically. */
int write_status(const char *fmt, ...);
/* fail reports a start failure in the status file and on stderr and
 * returns EXIT_START_FAILED. */
int fail(const char *fmt, const char *arg);

/* attach_opts is what --attach runs, and where. */
struct attach_opts {
	int pidfd;		/* a pidfd of the container's init */
	char **cgroups;		/* cgroup directories to join (init's) */
	int ncgroups;
	const char *seccomp;	/* the container's seccomp policy, or NULL */
	char **argv;		/* the program and its arguments */
};

/* attach runs o->argv in the namespaces, cgroups, LSM profile, personality
 * and seccomp filter of the container whose init o->pidfd is, waits for it
 * and reports its status (attach.c). */
int attach(const struct attach_opts *o);

/* seccomp_policy compiles an lxcconv seccomp policy (seccomp.c): a
 * libseccomp filter, or NULL with the reason in err. */
void *seccomp_policy(const char *path, char *err, size_t errlen);
/* seccomp_policy_load loads it into the calling thread. */
int seccomp_policy_load(void *filter, char *err, size_t errlen);

#endif
