/*
 * The filter list: the command line's patterns, the named filters of the
 * configuration and those added from the keyboard (x, and searches kept
 * with Enter), each switched on and off with a key.
 */
#ifndef HEAPTOP_UI_FILTERS_H
#define HEAPTOP_UI_FILTERS_H

#include "viewer/live.h"

struct filters;

struct filters *filters_new(void);
void filters_free(struct filters *fl);
void filters_open(struct filters *fl);
/* Draw in lines Y .. Y+H-1, W columns wide. */
void filters_draw(struct filters *fl, struct live *lv, int y, int h, int w);
void filters_footer(int y, int w);
/* Act on KEY; KEYS_CLOSE when the list should close. */
unsigned filters_key(struct filters *fl, struct live *lv, int key);

#endif
