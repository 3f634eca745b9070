/* output_file.c: filename_prefix resolution, ComfyUI's counter, and atomic no-replace
 * publication of writer outputs (see output_file.h for the rules and invariants).
 *
 * The counter is found once per target by scanning the folder; publication then tries
 * "<name>_<counter>_.<ext>" and, if another writer took that name in the meantime, the
 * next number, so two runs sharing an output folder never clobber each other.
 */
#define _GNU_SOURCE
#include "output_file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Highest counter handed out; past 99999 names just get longer, as in ComfyUI. */
#define OUTPUT_COUNTER_MAX 999999999
/* Tries before giving up when other writers keep taking the next name. */
#define OUTPUT_PUBLISH_TRIES 1000
/* Temporaries start with this and the writing process's id, so they never match a
 * prefix's counter scan, and a later run can tell a killed run's leftovers from a live
 * run's file in progress. */
#define OUTPUT_TMP_PREFIX ".loom-partial-"

/* Replace every %var% ComfyUI knows (compute_vars) into out. */
static int expand_vars(const char *prefix, int width, int height, char *out, size_t cap,
                       loom_error *err)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    const struct { const char *key; int value, digits; } vars[] = {
        {"%width%", width, 1},         {"%height%", height, 1},
        {"%year%", tm.tm_year + 1900, 1}, {"%month%", tm.tm_mon + 1, 2},
        {"%day%", tm.tm_mday, 2},      {"%hour%", tm.tm_hour, 2},
        {"%minute%", tm.tm_min, 2},    {"%second%", tm.tm_sec, 2},
    };
    size_t n = 0;
    for (const char *p = prefix; *p;) {
        size_t i = 0, klen = 0;
        for (; i < sizeof vars / sizeof vars[0]; i++) {
            klen = strlen(vars[i].key);
            if (!strncmp(p, vars[i].key, klen))
                break;
        }
        int w;
        if (i < sizeof vars / sizeof vars[0]) {
            w = snprintf(out + n, cap - n, "%0*d", vars[i].digits, vars[i].value);
            p += klen;
        } else {
            w = snprintf(out + n, cap - n, "%c", *p);
            p++;
        }
        if (w < 0 || (size_t)w >= cap - n)
            return loom_errorf(err, LOOM_ERR_INVALID, "filename_prefix is too long");
        n += (size_t)w;
    }
    out[n] = '\0';
    return LOOM_OK;
}

/* Split a relative prefix into subfolder and name, folding "." and "x/.." the way
 * os.path.normpath does; refuse anything that leaves the root. */
static int split_prefix(const char *prefix, output_target *t, loom_error *err)
{
    if (prefix[0] == '/')
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "filename_prefix '%s' is an absolute path; saving outside the "
                           "output folder is not allowed", prefix);
    char buf[PATH_MAX];
    if (strlen(prefix) >= sizeof buf)
        return loom_errorf(err, LOOM_ERR_INVALID, "filename_prefix is too long");
    strcpy(buf, prefix);
    const char *parts[PATH_MAX / 2];
    size_t n = 0;
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            if (n == 0)
                return loom_errorf(err, LOOM_ERR_INVALID,
                                   "filename_prefix '%s' climbs out of the output folder "
                                   "with '..'; saving outside it is not allowed", prefix);
            n--;
            continue;
        }
        parts[n++] = c;
    }
    if (n == 0)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "filename_prefix '%s' names no file; give it a name such as "
                           "'ComfyUI'", prefix);
    if (strlen(parts[n - 1]) > NAME_MAX - 32)   /* room for "_<counter>_.<ext>" */
        return loom_errorf(err, LOOM_ERR_INVALID, "filename_prefix's name is too long");
    strcpy(t->name, parts[n - 1]);
    size_t len = 0;
    t->subfolder[0] = '\0';
    for (size_t i = 0; i + 1 < n; i++) {
        int w = snprintf(t->subfolder + len, sizeof t->subfolder - len, "%s%s",
                         i ? "/" : "", parts[i]);
        if (w < 0 || (size_t)w >= sizeof t->subfolder - len)
            return loom_errorf(err, LOOM_ERR_INVALID, "filename_prefix is too long");
        len += (size_t)w;
    }
    return LOOM_OK;
}

/* mkdir -p for path; existing folders are fine. */
static int make_dirs(const char *path, loom_error *err)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return loom_errorf(err, LOOM_ERR_IO, "cannot create output folder '%s': %s",
                                   buf, strerror(errno));
            struct stat st;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                return loom_errorf(err, LOOM_ERR_IO, "output folder '%s' is not a folder",
                                   buf);
            if (end)
                return LOOM_OK;
            *p = '/';
        }
    }
}

/* ComfyUI's map_filename: "<name>_<digits>..." counts as <digits> (0 if not a number). */
static long long counter_of(const char *file, const char *name)
{
    size_t len = strlen(name);
    if (strncmp(file, name, len) != 0 || file[len] != '_')
        return -1;
    const char *d = file + len + 1;
    long long v = 0;
    size_t i = 0;
    for (; isdigit((unsigned char)d[i]); i++) {
        if (v > OUTPUT_COUNTER_MAX)
            return OUTPUT_COUNTER_MAX + 1LL;
        v = v * 10 + (d[i] - '0');
    }
    if (i == 0 || (d[i] != '_' && d[i] != '\0'))
        return 0;
    return v;
}

/* A temporary left by a process that no longer exists (killed mid-encode, or a second
 * Ctrl-C): nothing will ever finish it. */
static bool is_stale_partial(const char *file)
{
    size_t n = strlen(OUTPUT_TMP_PREFIX);
    if (strncmp(file, OUTPUT_TMP_PREFIX, n) != 0 || !isdigit((unsigned char)file[n]))
        return false;
    char *end;
    long pid = strtol(file + n, &end, 10);
    return *end == '-' && pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 &&
           errno == ESRCH;
}

/* Set t->counter one past the highest number in t->dir, removing stale temporaries. */
static int scan_counter(output_target *t, loom_error *err)
{
    DIR *d = opendir(t->dir);
    if (!d)
        return loom_errorf(err, LOOM_ERR_IO, "cannot list output folder '%s': %s", t->dir,
                           strerror(errno));
    long long highest = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (is_stale_partial(e->d_name))
            unlinkat(dirfd(d), e->d_name, 0);
        long long c = counter_of(e->d_name, t->name);
        if (c > highest)
            highest = c;
    }
    closedir(d);
    if (highest >= OUTPUT_COUNTER_MAX)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "'%s' already has a file numbered %lld; choose another "
                           "filename_prefix", t->name, highest);
    t->counter = (int)highest + 1;
    return LOOM_OK;
}

int output_target_open(output_target *t, const char *root, const char *prefix, int width,
                       int height, loom_error *err)
{
    char expanded[PATH_MAX];
    memset(t, 0, sizeof *t);
    int rc = expand_vars(prefix ? prefix : "", width, height, expanded, sizeof expanded, err);
    if (rc == LOOM_OK)
        rc = split_prefix(expanded, t, err);
    if (rc != LOOM_OK)
        return rc;
    int w = t->subfolder[0] ? snprintf(t->dir, sizeof t->dir, "%s/%s", root, t->subfolder)
                            : snprintf(t->dir, sizeof t->dir, "%s", root);
    if (w < 0 || (size_t)w >= sizeof t->dir)
        return loom_errorf(err, LOOM_ERR_INVALID, "output path for '%s' is too long", prefix);
    if ((rc = make_dirs(t->dir, err)) != LOOM_OK)
        return rc;
    return scan_counter(t, err);
}

int output_target_lock(output_target *t, int *lock_fd, loom_error *err)
{
    *lock_fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*lock_fd < 0)
        return loom_errorf(err, LOOM_ERR_IO, "cannot open output folder '%s': %s", t->dir,
                           strerror(errno));
    while (flock(*lock_fd, LOCK_EX) != 0 && errno == EINTR) {}
    int rc = scan_counter(t, err);   /* past what other runs published meanwhile */
    if (rc != LOOM_OK)
        output_target_unlock(lock_fd);
    return rc;
}

void output_target_unlock(int *lock_fd)
{
    if (*lock_fd >= 0)
        close(*lock_fd);          /* closing the descriptor releases the flock */
    *lock_fd = -1;
}

/* Outputs are ordinary files, readable like any other (0666 less the umask, as a plain
 * fopen would make them), whatever mode the temporary had: mkstemp makes 0600. */
static mode_t output_mode(void)
{
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

int output_tmp_create(const output_target *t, output_tmp *tmp, loom_error *err)
{
    tmp->fp = NULL;
    int w = snprintf(tmp->path, sizeof tmp->path, "%s/" OUTPUT_TMP_PREFIX "%ld-XXXXXX", t->dir,
                     (long)getpid());
    if (w < 0 || (size_t)w >= sizeof tmp->path) {
        tmp->path[0] = '\0';
        return loom_errorf(err, LOOM_ERR_INVALID, "output path in '%s' is too long", t->dir);
    }
    int fd = mkostemp(tmp->path, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        tmp->path[0] = '\0';
        return loom_errorf(err, LOOM_ERR_IO, "cannot create a file in '%s': %s", t->dir,
                           strerror(e));
    }
    tmp->fp = fdopen(fd, "wb");
    if (!tmp->fp) {
        int e = errno;
        close(fd);
        output_tmp_discard(tmp);
        return loom_errorf(err, LOOM_ERR_IO, "cannot open a file in '%s': %s", t->dir,
                           strerror(e));
    }
    return LOOM_OK;
}

int output_tmp_close(output_tmp *tmp, loom_error *err)
{
    if (!tmp->fp)
        return LOOM_OK;
    bool bad = ferror(tmp->fp) != 0;
    int e = errno;
    if (fclose(tmp->fp) != 0) {
        bad = true;
        e = errno;
    }
    tmp->fp = NULL;
    if (!bad)
        return LOOM_OK;
    output_tmp_discard(tmp);
    return loom_errorf(err, LOOM_ERR_IO, "cannot write an output file: %s", strerror(e));
}

/* Give tmp the name dst unless dst exists: renameat2 is one atomic step; filesystems
 * without it get link (which also refuses to replace) and then unlink. */
static int publish_noreplace(const char *tmp, const char *dst)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(tmp, dst) != 0)
        return -1;
    unlink(tmp);
    return 0;
}

int output_tmp_commit(output_target *t, output_tmp *tmp, const char *ext, char *filename,
                      size_t cap, loom_error *err)
{
    int rc = output_tmp_close(tmp, err);
    if (rc != LOOM_OK)
        return rc;
    /* set here, where every output passes, not at creation: a writer may replace the
     * temporary by path (safetensors, libavformat), making a new file with its own mode */
    chmod(tmp->path, output_mode());
    for (int tries = 0; tries < OUTPUT_PUBLISH_TRIES && t->counter <= OUTPUT_COUNTER_MAX;
         tries++, t->counter++) {
        char name[NAME_MAX + 1], dst[PATH_MAX];
        int w = snprintf(name, sizeof name, "%s_%05d_.%s", t->name, t->counter, ext);
        if (w < 0 || (size_t)w >= sizeof name || (size_t)w >= cap)
            break;
        w = snprintf(dst, sizeof dst, "%s/%s", t->dir, name);
        if (w < 0 || (size_t)w >= sizeof dst)
            break;
        if (publish_noreplace(tmp->path, dst) == 0) {
            strcpy(filename, name);
            t->counter++;
            tmp->path[0] = '\0';
            return LOOM_OK;
        }
        if (errno != EEXIST) {
            int e = errno;
            output_tmp_discard(tmp);
            return loom_errorf(err, LOOM_ERR_IO, "cannot create '%s': %s", dst, strerror(e));
        }
    }
    output_tmp_discard(tmp);
    return loom_errorf(err, LOOM_ERR_IO, "no free file name for '%s' in '%s'", t->name, t->dir);
}

void output_tmp_discard(output_tmp *tmp)
{
    if (tmp->fp) {
        fclose(tmp->fp);
        tmp->fp = NULL;
    }
    if (tmp->path[0]) {
        unlink(tmp->path);
        tmp->path[0] = '\0';
    }
}
