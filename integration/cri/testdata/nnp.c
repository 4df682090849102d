/*
 * A stand-in for critest's e2e-test-images/nonewprivs: installed setuid
 * root, it prints its effective uid. Run as uid 1000 it prints 0, unless
 * no_new_privs is set (the container's allowPrivilegeEscalation=false):
 * then exec ignores the setuid bit and it prints 1000.
 */
#include <stdio.h>
#include <unistd.h>

int main(void) {
	printf("Effective uid: %d\n", (int)geteuid());
	return 0;
}
