/*
 * The stack view: the stacks of the selected site, biggest first, one at a
 * time, every frame from the attributed one outwards with its function,
 * file:line and module, and its source line under it.
 */
#ifndef HEAPTOP_UI_STACKVIEW_H
#define HEAPTOP_UI_STACKVIEW_H

#include "viewer/live.h"

struct stackview;

struct stackview *stackview_new(void);
void stackview_free(struct stackview *sv);
/* Show the stacks of LV's selected site. */
void stackview_open(struct stackview *sv, struct live *lv);
/* Let go of them (live_stacks_close). */
void stackview_close(struct stackview *sv, struct live *lv);
/* Draw in lines Y .. Y+H-1, W columns wide. */
void stackview_draw(struct stackview *sv, struct live *lv, int y, int h, int w);
/* The footer line. */
void stackview_footer(int y, int w);
/* Act on KEY; KEYS_CLOSE when the view should close. */
unsigned stackview_key(struct stackview *sv, struct live *lv, int key);

#endif
