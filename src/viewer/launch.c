/* Running a program under the agent. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/cxxshim.h"
#include "viewer/launch.h"

struct launch {
	pid_t pid;
	int reaped;
	int status;
	char *dir;   /* private directory, 0700 */
	char *final; /* dir/final.snapshot */
};

static char *private_dir(char **cause)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/heaptop.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl)) {
		*cause = xasprintf("cannot create a directory in %s: %s",
				   base && *base ? base : "/tmp", strerror(errno));
		free(tmpl);
		return NULL;
	}
	return tmpl;
}

/* LD_PRELOAD for PROGRAM: the agent first, keeping what the user
 * preloads, and libheaptop-cxx.so (beside the agent) after it when the
 * program's operator new is an allocator's own (see cxxshim.h). */
static char *preload_value(const char *program, const char *agent)
{
	const char *old = getenv("LD_PRELOAD");
	char *with_agent = old && *old ? xasprintf("%s:%s", agent, old) : xstrdup(agent);
	const char *slash = strrchr(agent, '/');
	char *shim = xasprintf("%.*slibheaptop-cxx.so", slash ? (int)(slash - agent + 1) : 0,
			       agent);
	char *path = NULL, *owner = NULL;
	if (access(shim, R_OK) == 0) {
		/* An allocator the user preloads serves whatever program it is
		 * given to (behind a script or env too); else ask the loader. */
		owner = cxxshim_preloaded_owner(old);
		path = cxxshim_find_program(program);
		if (!owner && path)
			owner = cxxshim_operator_new_owner(path, with_agent);
	}
	char *value = with_agent;
	if (cxxshim_needed(owner, path)) {
		value = old && *old ? xasprintf("%s:%s:%s", agent, shim, old)
				    : xasprintf("%s:%s", agent, shim);
		free(with_agent);
	}
	free(owner);
	free(path);
	free(shim);
	return value;
}

/* What the child could not do, as it tells the parent on the pipe. */
enum { FAILED_OUTPUT, FAILED_INPUT, FAILED_EXEC };

/* In the child: report STEP and errno on FD, and exit. */
static void __attribute__((noreturn)) child_failed(int fd, int step)
{
	int msg[2] = { step, errno };
	(void)!write(fd, msg, sizeof msg);
	_exit(127);
}

/* In the child: set up and exec; on failure report on FD and exit. */
static void __attribute__((noreturn))
child(char *const argv[], const struct launch_options *o, const char *preload,
      const char *final, int fd)
{
	char pid[32];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	setenv("LD_PRELOAD", preload, 1);
	setenv("HEAPTOP_FINAL", final, 1);
	setenv("HEAPTOP_FINAL_PID", pid, 1);
	for (const char *const *e = o->env; e && *e; e++)
		putenv((char *)*e);
	if (o->output) {
		int out = open(o->output, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			child_failed(fd, FAILED_OUTPUT);
		close(out);
	} else if (o->stdout_to_stderr && dup2(2, 1) < 0) {
		child_failed(fd, FAILED_OUTPUT);
	}
	if (o->stdin_null) {
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0)
			child_failed(fd, FAILED_INPUT);
		close(in);
	}
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	child_failed(fd, FAILED_EXEC);
}

struct launch *launch_start(char *const argv[], const struct launch_options *o,
			    char **cause)
{
	if (access(o->agent, R_OK) != 0) {
		*cause = xasprintf("cannot read the agent %s: %s", o->agent, strerror(errno));
		return NULL;
	}
	char *dir = private_dir(cause);
	if (!dir)
		return NULL;
	struct launch *l = xcalloc(1, sizeof *l);
	l->dir = dir;
	l->final = xasprintf("%s/final.snapshot", dir);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		launch_free(l);
		return NULL;
	}
	char *preload = preload_value(argv[0], o->agent);
	fflush(NULL);
	l->pid = fork();
	if (l->pid < 0) {
		*cause = xasprintf("fork: %s", strerror(errno));
		free(preload);
		close(pfd[0]);
		close(pfd[1]);
		launch_free(l);
		return NULL;
	}
	if (l->pid == 0) {
		close(pfd[0]);
		child(argv, o, preload, l->final, pfd[1]);
	}
	free(preload);
	close(pfd[1]);
	int msg[2] = { 0, 0 };
	ssize_t n;
	while ((n = read(pfd[0], msg, sizeof msg)) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof msg) {
		waitpid(l->pid, NULL, 0);
		if (msg[0] == FAILED_EXEC)
			*cause = xasprintf("cannot run %s: %s", argv[0], strerror(msg[1]));
		else if (msg[0] == FAILED_INPUT)
			*cause = xasprintf("cannot give %s /dev/null as its input: %s", argv[0],
					   strerror(msg[1]));
		else if (o->output)
			*cause = xasprintf("cannot open %s: %s", o->output, strerror(msg[1]));
		else
			*cause = xasprintf("cannot send the output of %s to standard error: %s",
					   argv[0], strerror(msg[1]));
		l->reaped = 1;
		launch_free(l);
		return NULL;
	}
	return l;
}

pid_t launch_pid(const struct launch *l)
{
	return l->pid;
}

const char *launch_final_path(const struct launch *l)
{
	return l->final;
}

int launch_poll(struct launch *l, int *status)
{
	if (!l->reaped) {
		pid_t r = waitpid(l->pid, &l->status, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			return 0;
		l->reaped = 1;
	}
	*status = l->status;
	return 1;
}

int launch_wait(struct launch *l)
{
	while (!l->reaped) {
		if (waitpid(l->pid, &l->status, 0) == l->pid || errno != EINTR)
			l->reaped = 1;
	}
	return l->status;
}

int launch_terminate(struct launch *l, int grace_ms)
{
	int status;
	if (launch_poll(l, &status))
		return status;
	kill(l->pid, SIGTERM);
	for (int waited = 0; waited < grace_ms; waited += 10) {
		if (launch_poll(l, &status))
			return status;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	kill(l->pid, SIGKILL);
	return launch_wait(l);
}

void launch_free(struct launch *l)
{
	if (!l)
		return;
	if (l->final) {
		unlink(l->final);
		char *tmp = xasprintf("%s.tmp", l->final);
		unlink(tmp);
		free(tmp);
	}
	if (l->dir)
		rmdir(l->dir);
	free(l->final);
	free(l->dir);
	free(l);
}

int launch_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}
