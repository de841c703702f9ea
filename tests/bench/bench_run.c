/*
 * Runs one command and measures it for the benchmark driver: wall time,
 * CPU time of the whole process tree, the tree's peak RSS, and the peak RSS
 * of the target process itself, which may run under a wrapper (heaptop,
 * heaptrack) that started it.
 *
 * The target is the first descendant whose /proc/PID/exe is EXE (-x); its
 * VmHWM is read every few milliseconds while it runs (the kernel keeps the
 * peak, so only the growth of its last few milliseconds can be missed).
 * When the target is the command itself, the exact ru_maxrss of wait4 is
 * used.  Without -x, the target is the command.
 *
 * Usage: bench_run [-x EXE] [-o FILE] -- COMMAND [ARG...]
 * Appends to FILE (default: stdout) one line:
 *   wall_s=.. cpu_s=.. tree_rss_kb=.. target_rss_kb=.. status=..
 * status is the command's exit status, or 128 + the signal that ended it.
 * Not part of `make check`.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_NS 5000000L /* 5 ms */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The parent pid of PID from /proc/PID/stat; -1 when gone. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *close_paren = strrchr(buf, ')'); /* the name may hold anything */
	char state;
	long ppid;
	if (!close_paren || sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2)
		return -1;
	return (pid_t)ppid;
}

static int is_descendant(pid_t pid, pid_t root)
{
	for (int hops = 0; pid > 1 && hops < 64; hops++) {
		if (pid == root)
			return 1;
		pid = parent_of(pid);
	}
	return 0;
}

static int runs_exe(pid_t pid, const char *exe)
{
	char path[64], target[PATH_MAX];
	snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, exe) == 0;
}

/* The first descendant of ROOT (ROOT included) that runs EXE, or -1. */
static pid_t find_target(pid_t root, const char *exe)
{
	if (runs_exe(root, exe))
		return root;
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	pid_t found = -1;
	struct dirent *e;
	while (found < 0 && (e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atol(e->d_name);
		if (pid != root && runs_exe(pid, exe) && is_descendant(pid, root))
			found = pid;
	}
	closedir(d);
	return found;
}

/* VmHWM of PID in KiB; -1 when it cannot be read (gone, or a zombie). */
static long peak_rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmHWM:", 6) == 0) {
			kb = atol(line + 6);
			break;
		}
	fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	const char *exe = NULL, *out = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+x:o:")) != -1) {
		switch (opt) {
		case 'x': exe = optarg; break;
		case 'o': out = optarg; break;
		default: optind = argc; break;
		}
	}
	if (optind >= argc) {
		fputs("usage: bench_run [-x EXE] [-o FILE] -- COMMAND [ARG...]\n", stderr);
		return 2;
	}
	char exe_real[PATH_MAX];
	if (exe && !realpath(exe, exe_real)) {
		fprintf(stderr, "bench_run: %s: %s\n", exe, strerror(errno));
		return 2;
	}

	double t0 = now_s();
	pid_t child = fork();
	if (child < 0) {
		perror("bench_run: fork");
		return 2;
	}
	if (child == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "bench_run: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}

	pid_t target = exe ? -1 : child;
	long target_kb = 0;
	int status;
	struct rusage ru;
	for (;;) {
		pid_t r = wait4(child, &status, WNOHANG, &ru);
		if (r == child)
			break;
		if (r < 0 && errno != EINTR) {
			perror("bench_run: wait4");
			return 2;
		}
		if (target < 0)
			target = find_target(child, exe_real);
		if (target > 0) {
			long kb = peak_rss_kb(target);
			if (kb > target_kb)
				target_kb = kb;
		}
		nanosleep(&(struct timespec){ 0, POLL_NS }, NULL);
	}
	double wall = now_s() - t0;
	if (target == child && ru.ru_maxrss > target_kb)
		target_kb = ru.ru_maxrss;
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	int code = WIFEXITED(status) ? WEXITSTATUS(status)
		   : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;

	FILE *f = out ? fopen(out, "a") : stdout;
	if (!f) {
		fprintf(stderr, "bench_run: %s: %s\n", out, strerror(errno));
		return 2;
	}
	fprintf(f, "wall_s=%.6f cpu_s=%.3f tree_rss_kb=%ld target_rss_kb=%ld status=%d\n",
		wall, cpu, ru.ru_maxrss, target_kb, code);
	if (f != stdout)
		fclose(f);
	return 0;
}
