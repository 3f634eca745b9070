/* writers_support.h: what the writer tests share: a session with the built-in plugins
 * and an in-process "WriterTestFrames" node that makes a deterministic IMAGE, a fresh
 * output folder per test, running a workflow built in code, and looking at the files.
 *
 * WriterTestFrames (width, height, frames, channels, pattern) yields [N, H, W, C] f32:
 *   "exact"  - values from -0.05 to 1.02 on a fixed pattern, so PNG tests see clipping
 *              and truncation at every level;
 *   "smooth" - slow gradients that move from frame to frame, what lossy codecs handle
 *              well, so video tests can bound the mean error tightly.
 */
#ifndef LOOM_TEST_WRITERS_SUPPORT_H
#define LOOM_TEST_WRITERS_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "loom/loom.h"

/* Value of channel k of pixel (x, y) in frame f, as WriterTestFrames makes it. */
float writers_pattern(const char *pattern, int f, int y, int x, int k, int w, int h, int n);

/* ComfyUI's 8-bit conversion of the same value (what a PNG must hold). */
uint8_t writers_pattern_u8(const char *pattern, int f, int y, int x, int k, int w, int h, int n);

typedef struct writers_run {
    loom_session *s;
    char          out_dir[256];     /* a fresh mkdtemp folder, the session's output_dir */
    int           interrupt_at;     /* writer progress value that triggers loom_interrupt */
    const char   *workflow_json;    /* UI workflow to embed (loom_run_options), or NULL */
    char          error[1024];      /* the last execution error message */
    bool          interrupted;
} writers_run;

/* A session over a new temporary output folder, WriterTestFrames registered. */
int  writers_open(writers_run *r);
void writers_close(writers_run *r);      /* removes the output folder */

/* A workflow "1": WriterTestFrames(w, h, n, c, pattern) -> "2": `writer`, its constant
 * inputs given as NULL-terminated name / JSON-text pairs ({"fps", "16", NULL}) and the
 * other widgets at their declared defaults (as a frontend fills them). The frames go to
 * the writer's "images", or, when video_fps > 0, through a CreateVideo "3" at that rate
 * into its "video". */
loom_workflow *writers_workflow(writers_run *r, const char *writer, int w, int h, int n, int c,
                                const char *pattern, double video_fps,
                                const char *const *inputs);

/* Run wf (cache cleared first, so writers run again); returns loom_run's status. */
int  writers_execute(writers_run *r, loom_workflow *wf);

/* The UI outputs of the last run, {"2": {...}}, as JSON text (malloc'd) or NULL. */
char *writers_ui(writers_run *r);

/* Count entries of dir (hidden ones too, "." and ".." excluded); -1 if it does not exist. */
int  writers_count_files(const char *dir);

#endif
