/* test_output_file.c: the writers' shared helpers tested directly: ComfyUI's counter
 * parsing, prefix resolution, the no-replace publication when another writer takes the
 * name first, cleanup of discarded and failed files, contiguous numbers for concurrent
 * sequences, and metadata escaping. */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* Two runs saving frame sequences into one folder at once: the second run's commits wait
 * for the first run's lock, so each run's frames get contiguous numbers. Without the lock
 * the child (started while the parent is half way) would take numbers 3 and 4. */
static void test_sequence_lock(void)
{
    output_target t;
    output_tmp tmp[4];
    loom_error err;
    char name[NAME_MAX + 1];
    int lock = -1, pipefd[2];
    CHECK(output_target_open(&t, root, "seq/f", 0, 0, &err) == LOOM_OK);
    for (int i = 0; i < 4; i++)
        CHECK(output_tmp_create(&t, &tmp[i], &err) == LOOM_OK);
    CHECK(output_target_lock(&t, &lock, &err) == LOOM_OK && pipe(pipefd) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(output_tmp_commit(&t, &tmp[i], "png", name, sizeof name, &err) == LOOM_OK);
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {           /* the other run: two frames, committed under its own lock */
        close(lock);            /* the parent's: a flock belongs to the open file, shared by fork */
        output_target u;
        output_tmp mine[2];
        int their_lock = -1, ok = output_target_open(&u, root, "seq/f", 0, 0, &err) == LOOM_OK;
        for (int i = 0; ok && i < 2; i++)
            ok = output_tmp_create(&u, &mine[i], &err) == LOOM_OK;
        ok = ok && output_target_lock(&u, &their_lock, &err) == LOOM_OK;
        for (int i = 0; ok && i < 2; i++) {
            ok = output_tmp_commit(&u, &mine[i], "png", name, sizeof name, &err) == LOOM_OK;
            if (ok && write(pipefd[1], name, strlen(name) + 1) < 0)
                ok = 0;
        }
        output_target_unlock(&their_lock);
        _exit(ok ? 0 : 1);
    }
    usleep(300 * 1000);         /* long enough for the child to commit if nothing held it */
    for (int i = 2; i < 4; i++) {
        CHECK(output_tmp_commit(&t, &tmp[i], "png", name, sizeof name, &err) == LOOM_OK);
        CHECK_MSG(i != 3 || !strcmp(name, "f_00004_.png"), "parent's last frame is %s", name);
    }
    output_target_unlock(&lock);
    int status = 1;
    waitpid(child, &status, 0);
    close(pipefd[1]);
    char got[64] = {0};
    ssize_t n = read(pipefd[0], got, sizeof got - 1);
    close(pipefd[0]);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0 && n > 0 &&
                  !strcmp(got, "f_00005_.png") && !strcmp(got + strlen(got) + 1, "f_00006_.png"),
              "the other run's frames: '%s' ...", got);
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
    test_sequence_lock();
    test_prefixes();
    test_meta();
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("output_file");
}
