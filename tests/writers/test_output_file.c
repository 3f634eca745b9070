/* test_output_file.c: the writers' shared helpers tested directly: ComfyUI's counter
 * parsing, prefix resolution, the no-replace publication when another writer takes the
 * name first, cleanup of discarded and failed files, and metadata escaping. */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/check.h"
#include "output_file.h"
#include "output_meta.h"

static char root[256];

static void touch(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *fp = fopen(p, "w");
    fputs(text, fp);
    fclose(fp);
}

static int count(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int n = 0;
    DIR *d = opendir(p);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void test_counter(void)
{
    output_target t;
    loom_error err;
    CHECK(output_target_open(&t, root, "a/./b/name", 0, 0, &err) == LOOM_OK);
    CHECK_MSG(!strcmp(t.subfolder, "a/b"), "(%s)", t.subfolder);
    CHECK_MSG(!strcmp(t.name, "name"), "(%s)", t.name);
    CHECK(t.counter == 1);
    /* ComfyUI's map_filename: "<name>_<digits>" up to the next "_" or the end counts,
     * anything else after "<name>_" counts as 0, other names not at all. */
    touch("a/b/name_00003_.png", "");
    touch("a/b/name_00001.png", "");
    touch("a/b/name_x_.png", "");
    touch("a/b/namefoo_00042_.png", "");
    touch("a/b/name_00005", "");
    CHECK(output_target_open(&t, root, "a/b/name", 0, 0, &err) == LOOM_OK);
    CHECK(t.counter == 6);
    CHECK(output_target_open(&t, root, "a/b/other", 0, 0, &err) == LOOM_OK);
    CHECK(t.counter == 1);
}

static void test_no_replace(void)
{
    output_target t;
    output_tmp tmp;
    loom_error err;
    char name[NAME_MAX + 1];
    CHECK(output_target_open(&t, root, "race/x", 0, 0, &err) == LOOM_OK);
    CHECK(output_tmp_create(&t, &tmp, &err) == LOOM_OK);
    fputs("new", tmp.fp);
    /* Another writer takes the next two names while this one is encoding. */
    touch("race/x_00001_.png", "theirs");
    touch("race/x_00002_.png", "theirs too");
    CHECK(output_tmp_commit(&t, &tmp, "png", name, sizeof name, &err) == LOOM_OK);
    CHECK_MSG(!strcmp(name, "x_00003_.png"), "(%s)", name);
    CHECK(t.counter == 4);
    char p[512], buf[32] = {0};
    snprintf(p, sizeof p, "%s/race/x_00001_.png", root);
    FILE *fp = fopen(p, "r");
    CHECK(fp && fread(buf, 1, sizeof buf - 1, fp) > 0 && !strcmp(buf, "theirs"));
    if (fp)
        fclose(fp);
    CHECK(count("race") == 3);
}

static void test_cleanup(void)
{
    output_target t;
    output_tmp tmp;
    loom_error err;
    char name[NAME_MAX + 1];
    CHECK(output_target_open(&t, root, "clean/y", 0, 0, &err) == LOOM_OK);
    CHECK(output_tmp_create(&t, &tmp, &err) == LOOM_OK);
    fputs("partial", tmp.fp);
    CHECK(count("clean") == 1);
    output_tmp_discard(&tmp);
    output_tmp_discard(&tmp);   /* twice is harmless */
    CHECK(count("clean") == 0);
    /* A name that cannot be formed fails and removes the temporary too. */
    CHECK(output_tmp_create(&t, &tmp, &err) == LOOM_OK);
    CHECK(output_tmp_commit(&t, &tmp, "png", name, 4, &err) != LOOM_OK);
    CHECK(count("clean") == 0);
}

static void test_prefixes(void)
{
    output_target t;
    loom_error err;
    const char *refused[] = {"../x", "/abs/x", "a/../../x", "", ".", "a/.."};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_MSG(output_target_open(&t, root, refused[i], 0, 0, &err) == LOOM_ERR_INVALID,
                  "('%s' accepted)", refused[i]);
    }
    CHECK(output_target_open(&t, root, "../x", 0, 0, &err) != LOOM_OK);
    CHECK_CONTAINS(err.msg, "not allowed");
    CHECK(output_target_open(&t, root, "v/%width%x%height%_%year%", 640, 480, &err) == LOOM_OK);
    CHECK(!strncmp(t.name, "640x480_20", 10) && strlen(t.name) == 12);
    CHECK(output_target_open(&t, root, "a/../top", 0, 0, &err) == LOOM_OK);
    CHECK_MSG(!strcmp(t.subfolder, ""), "(%s)", t.subfolder);
    CHECK_MSG(!strcmp(t.name, "top"), "(%s)", t.name);
    touch("plainfile", "");
    CHECK(output_target_open(&t, root, "plainfile/z", 0, 0, &err) == LOOM_ERR_IO);
}

static void test_meta(void)
{
    output_meta m;
    loom_error err;
    CHECK(output_meta_collect(&m, "{\"1\": {\"t\": \"\xc3\xa9\xf0\x9f\x98\x80\"}}",
                              "{\"workflow\": {\"a\": 1}, \"other\": [1, 2]}", &err) == LOOM_OK);
    CHECK(m.n == 3);
    CHECK_STR(output_meta_get(&m, "prompt"), "{\"1\": {\"t\": \"\\u00e9\\ud83d\\ude00\"}}");
    CHECK_STR(output_meta_get(&m, "workflow"), "{\"a\":1}");
    CHECK_STR(output_meta_get(&m, "other"), "[1,2]");
    output_meta_free(&m);
    CHECK(output_meta_collect(&m, "", "{}", &err) == LOOM_OK && m.n == 0);
    output_meta_free(&m);
    CHECK(output_meta_collect(&m, NULL, "[1]", &err) == LOOM_ERR_INVALID);
    output_meta_free(&m);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    snprintf(root, sizeof root, "%s/loom-output-file-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root))
        return 1;
    test_counter();
    test_no_replace();
    test_cleanup();
    test_prefixes();
    test_meta();
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("output_file");
}
