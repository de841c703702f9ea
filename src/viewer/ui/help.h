/*
 * The help screen: every key of the main screen (from the key table), the
 * columns, where the program's output goes and the configuration keys of
 * the view.  Scrolls when it does not fit; any other key closes it.
 */
#ifndef HEAPTOP_UI_HELP_H
#define HEAPTOP_UI_HELP_H

#include "viewer/settings.h"

struct help;

/* Help for a view run with S (S must outlive it). */
struct help *help_new(const struct settings *s);
void help_free(struct help *hp);
void help_open(struct help *hp);
/* Draw in lines Y .. Y+H-1, W columns wide. */
void help_draw(struct help *hp, int y, int h, int w);
void help_footer(int y, int w);
/* Act on KEY: scrolling keys scroll, others close (KEYS_CLOSE). */
unsigned help_key(struct help *hp, int key);

#endif
