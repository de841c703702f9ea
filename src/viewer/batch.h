/* The batch front end: tables printed to stdout (-b), and `heaptop report`. */
#ifndef HEAPTOP_BATCH_H
#define HEAPTOP_BATCH_H

#include <signal.h>

#include "viewer/session.h"
#include "viewer/settings.h"

/* Print a table every S->delay seconds until the program ends, S->iterations
 * tables were printed, or *STOP is set; then what was live at exit.
 * Returns heaptop's exit code. */
int batch_run(const struct settings *s, struct session *ss, volatile sig_atomic_t *stop);
/* `heaptop report`: print S->report_file, or the diff S->base_file -> it. */
int batch_report(const struct settings *s);

#endif
