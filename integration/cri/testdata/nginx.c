/*
 * A stand-in for the nginx of critest's e2e-test-images/nginx (no
 * registry is reachable here): what critest checks of it, and nothing
 * more. Its command line reads "nginx: master process ..." (it re-execs
 * itself with that argv[0], keeping its pid and its comm "nginx", so
 * pidof finds it), it writes its pid to /var/run/nginx.pid, and busybox
 * httpd, its child, serves /www on port 80. SIGTERM or SIGINT stops
 * both; it exits with httpd's status if httpd dies.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TITLE "nginx: master process nginx -g daemon off;"

static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = sig; }

int main(int argc, char **argv) {
	(void)argc;
	if (strcmp(argv[0], TITLE) != 0) {
		/* By its path, not /proc/self/exe: the kernel names the
		 * process (comm) after the file exec'd. */
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n < 0) {
			perror("nginx: /proc/self/exe");
			return 1;
		}
		self[n] = 0;
		char *args[] = {TITLE, NULL};
		execv(self, args);
		perror("nginx: re-exec");
		return 1;
	}
	mkdir("/var/run", 0755);
	FILE *f = fopen("/var/run/nginx.pid", "w");
	if (f == NULL) {
		perror("nginx: /var/run/nginx.pid");
		return 1;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	pid_t child = fork();
	if (child < 0) {
		perror("nginx: fork");
		return 1;
	}
	if (child == 0) {
		execl("/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www", (char *)NULL);
		perror("nginx: /bin/busybox httpd");
		_exit(127);
	}
	fprintf(stderr, "nginx: serving /www on port 80 (busybox httpd, pid %d)\n", (int)child);
	for (;;) {
		int status;
		pid_t p = waitpid(-1, &status, 0);
		if (stop) {
			kill(child, SIGTERM);
			waitpid(child, NULL, 0);
			return 0;
		}
		if (p == child)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (p < 0 && errno == ECHILD)
			return 1;
	}
}
