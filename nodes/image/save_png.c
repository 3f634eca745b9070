/* save_png.c: SaveImage and PreviewImage, one 8-bit PNG per frame, as ComfyUI writes them.
 *
 * Pixels go through ComfyUI's conversion (output_pixels.h); the prompt and each key of
 * extra_pnginfo go into tEXt chunks before the image data, so dropping the file on
 * ComfyUI restores the workflow. SaveImage uses zlib level 4 and PreviewImage level 1,
 * like ComfyUI. A batch is all-or-nothing: every frame is encoded to a temporary first
 * and only then are the frames published in order, so an interrupt or a failed frame
 * leaves no file behind.
 *
 * Previews go to "<output>/temp" with the UI type "temp" and ComfyUI's name
 * "ComfyUI_temp_<5 random letters>_<counter>_.png" (the plugin ABI has no temp folder).
 */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "image_nodes.h"
#include "loom/types.h"
#include "output_file.h"
#include "output_meta.h"
#include "output_pixels.h"

/* zlib levels ComfyUI uses: SaveImage.compress_level and PreviewImage.compress_level. */
#define SAVE_PNG_LEVEL    4
#define PREVIEW_PNG_LEVEL 1
#define PREVIEW_FOLDER    "temp"

typedef struct png_job {
    const loom_tensor *frames;
    const output_meta *meta;
    int                level;
} png_job;

static void png_fail(png_structp png, png_const_charp msg)
{
    loom_error *err = png_get_error_ptr(png);
    loom_errorf(err, LOOM_ERR_IO, "PNG encoder: %s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Encode frame i of job into fp. row is scratch for one row of 8-bit samples. */
static int write_png(FILE *fp, const png_job *job, int64_t i, uint8_t *row, loom_error *err)
{
    const int64_t h = job->frames->shape[1], w = job->frames->shape[2];
    const int64_t c = job->frames->shape[3];
    const float *px = (const float *)job->frames->data + i * h * w * c;
    static const int color_type[] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB,
                                     PNG_COLOR_TYPE_RGB_ALPHA};
    png_text text[OUTPUT_META_MAX_KEYS];
    for (size_t k = 0; k < job->meta->n; k++)
        text[k] = (png_text){.compression = PNG_TEXT_COMPRESSION_NONE,
                             .key = job->meta->key[k], .text = job->meta->json[k],
                             .text_length = strlen(job->meta->json[k])};

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for the PNG encoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return err->code ? err->code : LOOM_ERR_IO;
    }
    png_init_io(png, fp);
    png_set_compression_level(png, job->level);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, color_type[c],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (job->meta->n)
        png_set_text(png, info, text, (int)job->meta->n);
    png_write_info(png, info);
    for (int64_t y = 0; y < h; y++) {
        output_pixels_u8(px + y * w * c, (size_t)(w * c), row);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return LOOM_OK;
}

/* Write every frame as "<prefix>_<counter>_.png" under root; UI entries of `type`. */
static int save_frames(loom_node_ctx *ctx, const char *root, const char *prefix,
                       const char *ui_type, int level)
{
    loom_error err = {0};
    loom_tensor *frames = loom_in_image(ctx, "images");
    if (output_frames_check(frames, &err) != LOOM_OK)
        return loom_node_fail_err(ctx, &err);
    const int64_t n = frames->shape[0];
    output_meta meta;
    output_target target;
    output_tmp *tmps = calloc((size_t)n, sizeof *tmps);
    uint8_t *row = malloc((size_t)(frames->shape[2] * frames->shape[3]));
    int rc = output_meta_collect(&meta, loom_in_str(ctx, "prompt"),
                                 loom_in_str(ctx, "extra_pnginfo"), &err);
    if (rc == LOOM_OK && (!tmps || !row))
        rc = loom_errorf(&err, LOOM_ERR_NOMEM, "out of memory");
    if (rc == LOOM_OK)
        rc = output_target_open(&target, root, prefix, (int)frames->shape[2],
                                (int)frames->shape[1], &err);
    png_job job = {.frames = frames, .meta = &meta, .level = level};
    int64_t made = 0;
    for (; rc == LOOM_OK && made < n; made++) {
        rc = output_tmp_create(&target, &tmps[made], &err);
        if (rc == LOOM_OK)
            rc = write_png(tmps[made].fp, &job, made, row, &err);
        if (rc == LOOM_OK)   /* one open file at a time, however long the batch */
            rc = output_tmp_close(&tmps[made], &err);
        if (rc == LOOM_OK && loom_progress(ctx, made + 1, n) != LOOM_OK)
            rc = loom_errorf(&err, LOOM_ERR_INTERRUPTED, "interrupted");
    }
    int lock = -1;     /* the frames of one run get contiguous numbers */
    if (rc == LOOM_OK)
        rc = output_target_lock(&target, &lock, &err);
    for (int64_t i = 0; rc == LOOM_OK && i < n; i++) {
        char name[NAME_MAX + 1];
        rc = output_tmp_commit(&target, &tmps[i], "png", name, sizeof name, &err);
        if (rc == LOOM_OK)
            rc = loom_ui_file(ctx, "images", name, target.subfolder, ui_type);
    }
    output_target_unlock(&lock);
    for (int64_t i = 0; tmps && i < made; i++)
        output_tmp_discard(&tmps[i]);   /* no-op for published frames */
    free(tmps);
    free(row);
    output_meta_free(&meta);
    if (rc == LOOM_ERR_INTERRUPTED)
        return rc;
    return rc == LOOM_OK ? LOOM_OK : loom_node_fail_err(ctx, &err);
}

int save_image_execute(loom_node_ctx *ctx)
{
    return save_frames(ctx, loom_output_dir(ctx), loom_in_str(ctx, "filename_prefix"),
                       "output", SAVE_PNG_LEVEL);
}

int preview_image_execute(loom_node_ctx *ctx)
{
    /* ComfyUI's prefix_append: "_temp_" and five random letters, so previews of
     * concurrent runs never share a counter sequence. */
    static const char letters[] = "abcdefghijklmnopqrstupvxyz";   /* ComfyUI's own list */
    unsigned char rnd[5];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(time(NULL) >> (i * 3));
    char prefix[32] = "ComfyUI_temp_";
    for (size_t i = 0; i < sizeof rnd; i++)
        prefix[13 + i] = letters[rnd[i] % (sizeof letters - 1)];
    char root[PATH_MAX];
    if (snprintf(root, sizeof root, "%s/" PREVIEW_FOLDER, loom_output_dir(ctx)) >=
        (int)sizeof root)
        return loom_node_fail(ctx, "output folder path is too long");
    return save_frames(ctx, root, prefix, "temp", PREVIEW_PNG_LEVEL);
}
