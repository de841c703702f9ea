/* `heaptop list`: ask every socket in this user's directory who it is. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/agents.h"
#include "viewer/client.h"
#include "viewer/snapshot.h"

#define LIST_TIMEOUT_MS 2000

/* Print the agent at PATH; 0 when it answered. */
static int show(const char *path, long pid)
{
	char *cause = NULL;
	struct client *c = client_connect(path, &cause);
	struct snapshot *s = snapshot_new();
	int ok = c && client_fetch(c, s, 0, LIST_TIMEOUT_MS, &cause) == 0;
	if (ok) {
		const struct snapshot_hello *h = snapshot_hello(s);
		time_t t = (time_t)(h->start_ns / 1000000000u);
		char when[32];
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("%7u  %-19s  %s\n", h->pid, when, *h->cmdline ? h->cmdline : h->exe);
	}
	client_close(c);
	snapshot_free(s);
	free(cause);
	return ok ? 0 : -1;
}

int agents_list(void)
{
	/* The directory is the one the agent of any pid would use. */
	char *dir = client_default_socket_path(0);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	printf("%7s  %-19s  %s\n", "PID", "STARTED", "COMMAND");
	DIR *d = opendir(dir);
	if (!d) {
		free(dir);
		return 0; /* no agent ever ran: an empty list */
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (pid <= 0 || strcmp(end, ".sock") != 0)
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		if (show(path, pid) < 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlink(path); /* left by a process that died */
		free(path);
	}
	closedir(d);
	free(dir);
	return 0;
}
