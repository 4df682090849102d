/*
 * seccomp.c compiles the seccomp policy lxcconv writes (LXC's policy
 * version 2, the subset lxcconv emits) with libseccomp, the way liblxc 5.0
 * loads it for the container's init, so that an exec process gets the same
 * filter as init without liblxc's attach (which needs LXC's monitor).
 *
 *   2
 *   denylist allow | allowlist ACTION
 *   NAME ACTION [INDEX,VALUE,OP] [INDEX,VALUE,SCMP_CMP_MASKED_EQ,MASK] ...
 *
 * ACTION is allow, kill, trap or "errno N". As liblxc does, every rule is
 * added for the native architecture and its compat ones (x86_64: i386 and
 * x32; aarch64: arm), each in a filter of its own merged into one; a
 * syscall an architecture lacks is skipped there; the filter does not set
 * no_new_privs (SCMP_FLTATR_CTL_NNP off). Anything else in the file is an
 * error naming its line: this reads only what lxcconv writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "zfslxc-start.h"

/* parse_action reads "allow", "kill", "trap" or "errno N" at s. */
static int parse_action(const char *s, uint32_t *act)
{
	char *end;
	long e;

	if (strcmp(s, "allow") == 0)
		*act = SCMP_ACT_ALLOW;
	else if (strcmp(s, "kill") == 0)
		*act = SCMP_ACT_KILL;
	else if (strcmp(s, "trap") == 0)
		*act = SCMP_ACT_TRAP;
	else if (strncmp(s, "errno ", 6) == 0) {
		e = strtol(s + 6, &end, 10);
		if (end == s + 6 || *end != '\0' || e < 0 || e > 4095)
			return -1;
		*act = SCMP_ACT_ERRNO((uint16_t)e);
	} else
		return -1;
	return 0;
}

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

/* parse_arg reads one "[INDEX,VALUE,OP]" or "[INDEX,VALUE,OP,MASK]". */
static int parse_arg(const char *s, struct scmp_arg_cmp *arg)
{
	char op[32];
	unsigned idx;
	uint64_t value, mask = 0;
	int n, used = 0;
	size_t i;

	n = sscanf(s, "[%u,%" SCNu64 ",%31[A-Z_],%" SCNu64 "]%n", &idx, &value, op, &mask, &used);
	if (n != 4 || used == 0 || s[used] != '\0') {
		used = 0;
		mask = 0;
		n = sscanf(s, "[%u,%" SCNu64 ",%31[A-Z_]]%n", &idx, &value, op, &used);
		if (n != 3 || used == 0 || s[used] != '\0')
			return -1;
	}
	if (idx >= 6)
		return -1;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].name) != 0)
			continue;
		arg->arg = idx;
		arg->op = ops[i].op;
		/* As liblxc: the mask is datum_a of a masked comparison. */
		if (ops[i].op == SCMP_CMP_MASKED_EQ) {
			arg->datum_a = mask;
			arg->datum_b = value;
		} else {
			arg->datum_a = value;
			arg->datum_b = 0;
		}
		return 0;
	}
	return -1;
}

/* rule is one parsed rule line. */
struct rule {
	char name[64];
	uint32_t action;
	unsigned nargs;
	struct scmp_arg_cmp args[6];
};

/* parse_rule splits "NAME ACTION [ARG]..." (line is modified). */
static int parse_rule(char *line, struct rule *r)
{
	char *p, *args;

	memset(r, 0, sizeof(*r));
	p = strchr(line, ' ');
	if (!p || (size_t)(p - line) >= sizeof(r->name))
		return -1;
	memcpy(r->name, line, p - line);
	p++;
	args = strchr(p, '[');
	if (args) {
		if (args == p || args[-1] != ' ')
			return -1;
		args[-1] = '\0';
	}
	if (parse_action(p, &r->action) < 0)
		return -1;
	while (args) {
		char *next = strchr(args, ' ');

		if (next)
			*next++ = '\0';
		if (r->nargs == 6 || parse_arg(args, &r->args[r->nargs]) < 0)
			return -1;
		r->nargs++;
		args = next;
	}
	return 0;
}

/* compat_arches lists the architectures besides the native one that
 * liblxc's loader covers. */
static int compat_arches(uint32_t *out)
{
	switch (seccomp_arch_native()) {
	case SCMP_ARCH_X86_64:
		out[0] = SCMP_ARCH_X86;
		out[1] = SCMP_ARCH_X32;
		return 2;
	case SCMP_ARCH_AARCH64:
		out[0] = SCMP_ARCH_ARM;
		return 1;
	default:
		return 0;
	}
}

/* new_ctx returns a filter for arch alone (the native one for 0). */
static scmp_filter_ctx new_ctx(uint32_t def, uint32_t arch)
{
	scmp_filter_ctx ctx = seccomp_init(def);

	if (!ctx)
		return NULL;
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0)
		goto bad;
	if (arch) {
		if (seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE) < 0 || seccomp_arch_add(ctx, arch) < 0)
			goto bad;
	}
	return ctx;
bad:
	seccomp_release(ctx);
	return NULL;
}

/* add_rule adds r to ctx for arch (0: native) unless the arch lacks it.
 * As liblxc: the rule names the native number, which libseccomp
 * translates for a compat filter. */
static int add_rule(scmp_filter_ctx ctx, uint32_t arch, const struct rule *r)
{
	int nr = seccomp_syscall_resolve_name(r->name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* undefined on the host */
	if (!arch && nr < 0)
		return 0; /* a pseudo syscall: not native */
	if (arch && seccomp_syscall_resolve_name_arch(arch, r->name) < 0)
		return 0; /* not on this compat arch */
	return seccomp_rule_add_exact_array(ctx, r->action, nr, r->nargs, r->args);
}

void *seccomp_policy(const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	uint32_t def = 0, arches[2];
	int narch = compat_arches(arches), i;
	scmp_filter_ctx merged = NULL;
	scmp_filter_ctx ctx[3] = { NULL, NULL, NULL };
	struct rule r;

	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "seccomp policy %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (lineno == 1) {
			if (strcmp(line, "2") != 0)
				goto bad_line;
			continue;
		}
		if (lineno == 2) {
			if (strcmp(line, "denylist allow") == 0)
				def = SCMP_ACT_ALLOW;
			else if (strncmp(line, "allowlist ", 10) != 0 || parse_action(line + 10, &def) < 0)
				goto bad_line;
			ctx[0] = new_ctx(def, 0);
			for (i = 0; i < narch && ctx[0]; i++)
				if (!(ctx[i + 1] = new_ctx(def, arches[i])))
					break;
			if (!ctx[0] || i < narch) {
				snprintf(err, errlen, "seccomp policy %s: libseccomp could not make a filter", path);
				goto out;
			}
			continue;
		}
		if (len == 0)
			continue;
		if (parse_rule(line, &r) < 0)
			goto bad_line;
		for (i = 0; i <= narch; i++) {
			int rc = add_rule(ctx[i], i ? arches[i - 1] : 0, &r);

			if (rc < 0) {
				snprintf(err, errlen, "seccomp policy %s line %u (%s): libseccomp: %s", path, lineno, r.name, strerror(-rc));
				goto out;
			}
		}
	}
	if (lineno < 2) {
		snprintf(err, errlen, "seccomp policy %s: no policy line", path);
		goto out;
	}
	for (i = 1; i <= narch; i++) {
		int rc = seccomp_merge(ctx[0], ctx[i]);

		if (rc < 0) {
			snprintf(err, errlen, "seccomp policy %s: merging architectures: %s", path, strerror(-rc));
			goto out;
		}
		ctx[i] = NULL; /* merged: released with ctx[0] */
	}
	merged = ctx[0];
	ctx[0] = NULL;
	goto out;
bad_line:
	snprintf(err, errlen, "seccomp policy %s line %u: not understood: %.80s", path, lineno, line);
out:
	for (i = 0; i < 3; i++)
		if (ctx[i])
			seccomp_release(ctx[i]);
	free(line);
	fclose(f);
	return merged;
}

int seccomp_policy_load(void *filter, char *err, size_t errlen)
{
	int rc = seccomp_load(filter);

	if (rc < 0) {
		snprintf(err, errlen, "loading the seccomp filter: %s", strerror(-rc));
		return -1;
	}
	return 0;
}
