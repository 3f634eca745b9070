/* output_file.h: where a writer node puts its files, and how they appear atomically.
 *
 * ComfyUI's filename_prefix rules (folder_paths.get_save_image_path): the prefix may name
 * subfolders ("video/ComfyUI"), may use %width% %height% %year% %month% %day% %hour%
 * %minute% %second%, and files are "<name>_<counter:05>_.<ext>" with the counter one past
 * the highest number already used by any "<name>_<digits>..." file in that folder.
 * A prefix that is absolute or climbs out of the output root with ".." is rejected.
 *
 * Invariants: a file is encoded into a hidden temporary in its final folder, then given
 * its name with a no-replace rename (renameat2 RENAME_NOREPLACE, else link + unlink), so
 * a reader never sees a partial file and an existing file is never overwritten (the
 * counter moves on instead). A discarded or failed file leaves nothing behind, and a
 * temporary whose writing process is gone (killed) is removed by the next writer that
 * opens that folder.
 * This file is compiled into both the image and the video plugin.
 */
#ifndef LOOM_OUTPUT_FILE_H
#define LOOM_OUTPUT_FILE_H

#include <limits.h>
#include <stdio.h>

#include "loom/error.h"

/* A resolved filename_prefix: the folder files go to and the name they start with. */
typedef struct output_target {
    char dir[PATH_MAX];        /* absolute-or-root-relative folder, created */
    char subfolder[PATH_MAX];  /* relative to the output root, "" for the root (UI field) */
    char name[NAME_MAX + 1];   /* the prefix's last component */
    int  counter;              /* next number to try */
} output_target;

/* A file being written: an open temporary in the target folder. */
typedef struct output_tmp {
    char  path[PATH_MAX];
    FILE *fp;                  /* open for writing; NULL once closed */
} output_tmp;

/* Resolve prefix under root (creating folders) and find the first free counter.
 * width/height feed %width% / %height%. */
int  output_target_open(output_target *t, const char *root, const char *prefix, int width,
                        int height, loom_error *err);

/* Hold t->dir for a sequence of commits (flock on the folder) and move the counter past
 * what other runs published meanwhile, so that one run's frames get contiguous numbers
 * even when another run saves into the same folder. Release with output_target_unlock
 * (safe on -1). */
int  output_target_lock(output_target *t, int *lock_fd, loom_error *err);
void output_target_unlock(int *lock_fd);

/* Create a hidden temporary file in t->dir to write into. */
int  output_tmp_create(const output_target *t, output_tmp *tmp, loom_error *err);

/* Close the temporary's stream but keep the file, reporting a failed write (a full disk):
 * for batches that must not hold a descriptor per file, and for encoders that reopen the
 * file by path (libavformat). Commit and discard work as before. */
int  output_tmp_close(output_tmp *tmp, loom_error *err);

/* Close the temporary and give it the name "<name>_<counter>_.<ext>", moving the counter
 * past names already taken; the chosen file name goes to filename. On failure the
 * temporary is removed. */
int  output_tmp_commit(output_target *t, output_tmp *tmp, const char *ext, char *filename,
                       size_t cap, loom_error *err);

/* Close and remove the temporary (a failed or interrupted encode). Safe to call twice. */
void output_tmp_discard(output_tmp *tmp);

#endif
