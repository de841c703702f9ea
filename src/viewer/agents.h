/* `heaptop list`: this user's processes that run with the agent. */
#ifndef HEAPTOP_AGENTS_H
#define HEAPTOP_AGENTS_H

/* Print one line per reachable agent (pid, start, command) to stdout, and
 * remove sockets whose process is gone.  Returns heaptop's exit code. */
int agents_list(void);

#endif
