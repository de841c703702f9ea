/*
 * The table of sites: column titles, one line per row (two with previews),
 * and the selected row's source line in a strip under it.  Columns are the
 * rows of one table in table.c; when the screen is narrow the columns with
 * the highest drop rank go first, the location last.
 */
#ifndef HEAPTOP_UI_TABLE_H
#define HEAPTOP_UI_TABLE_H

#include "viewer/live.h"

/* Draw LV's table in lines Y .. Y+H-1, W columns wide; tells LV how many
 * rows fit. */
void table_draw(struct live *lv, int y, int h, int w);

#endif
