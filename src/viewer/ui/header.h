/*
 * The header: the program, its uptime and the refresh interval with the
 * view's state badges (MARK, DIFF, PAUSED, FILTERS, EXITED, AGENT LOST);
 * the process's heap in numbers (live, peak, rates, sites, agent memory,
 * exact or sampled); a sparkline of live bytes over the last minutes with
 * the grouping and sort.
 */
#ifndef HEAPTOP_UI_HEADER_H
#define HEAPTOP_UI_HEADER_H

#include "viewer/live.h"

/* Draw LV's header from line Y, W columns wide, in at most MAX lines;
 * returns the lines used. */
int header_draw(struct live *lv, int y, int w, int max);

#endif
