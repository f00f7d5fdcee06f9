/*
 * testlib.c - helpers shared by the tests (see testlib.h).
 */
#include "testlib.h"

#include "os/os.h"
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---------------------------------------------------------------------------------------
 * Small utilities
 * ------------------------------------------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "testlib: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

char *tl_strdupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *p = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* A growing byte buffer, always NUL-terminated. */
typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void bufAdd(buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            fprintf(stderr, "testlib: out of memory\n");
            abort();
        }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static char *bufTake(buf *b)
{
    if (!b->data) bufAdd(b, "", 0);
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

static double nowSec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleepMs(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---------------------------------------------------------------------------------------
 * Registries: children and directories cleaned up at exit
 * ------------------------------------------------------------------------------------- */

#define MAX_TRACKED 64

static pthread_mutex_t regMu = PTHREAD_MUTEX_INITIALIZER;
static pid_t livePids[MAX_TRACKED];
static char *liveDirs[MAX_TRACKED];
static bool atexitSet;

static void cleanupAtExit(void);

static void ensureAtexit(void)
{
    /* Called with regMu held. */
    if (!atexitSet) {
        atexitSet = true;
        atexit(cleanupAtExit);
    }
}

static void trackPid(pid_t pid)
{
    pthread_mutex_lock(&regMu);
    ensureAtexit();
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (livePids[i] == 0) {
            livePids[i] = pid;
            break;
        }
    pthread_mutex_unlock(&regMu);
}

static void untrackPid(pid_t pid)
{
    pthread_mutex_lock(&regMu);
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (livePids[i] == pid) livePids[i] = 0;
    pthread_mutex_unlock(&regMu);
}

static void trackDir(const char *path)
{
    pthread_mutex_lock(&regMu);
    ensureAtexit();
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (!liveDirs[i]) {
            liveDirs[i] = xstrdup(path);
            break;
        }
    pthread_mutex_unlock(&regMu);
}

static void untrackDir(const char *path)
{
    pthread_mutex_lock(&regMu);
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (liveDirs[i] && strcmp(liveDirs[i], path) == 0) {
            free(liveDirs[i]);
            liveDirs[i] = NULL;
        }
    pthread_mutex_unlock(&regMu);
}

/* Kills and reaps every tracked child. */
static void killAllServers(void)
{
    pid_t pids[MAX_TRACKED];
    pthread_mutex_lock(&regMu);
    memcpy(pids, livePids, sizeof pids);
    memset(livePids, 0, sizeof livePids);
    pthread_mutex_unlock(&regMu);
    for (size_t i = 0; i < MAX_TRACKED; i++) {
        if (pids[i] <= 0) continue;
        kill(pids[i], SIGKILL);
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {}
    }
}

static void curlAtExit(void);

static void cleanupAtExit(void)
{
    killAllServers();
    pthread_mutex_lock(&regMu);
    for (size_t i = 0; i < MAX_TRACKED; i++) {
        if (!liveDirs[i]) continue;
        char *d = liveDirs[i];
        liveDirs[i] = NULL;
        pthread_mutex_unlock(&regMu);
        tl_rmtree(d);
        free(d);
        pthread_mutex_lock(&regMu);
    }
    pthread_mutex_unlock(&regMu);
    curlAtExit();
}

/* ---------------------------------------------------------------------------------------
 * Environment and files
 * ------------------------------------------------------------------------------------- */

const char *tl_loyal_bin(void)
{
    const char *b = getenv("LOYAL_BIN");
    if (!b || !*b) {
        fprintf(stderr, "LOYAL_BIN is not set: skipping\n");
        exit(TL_SKIP);
    }
    return b;
}

char *tl_source_path(const char *rel)
{
    const char *d = getenv("LOYAL_SOURCE_DIR");
    if (!d || !*d) {
        fprintf(stderr, "LOYAL_SOURCE_DIR is not set: skipping\n");
        exit(TL_SKIP);
    }
    return tl_join(d, rel);
}

char *tl_join(const char *dir, const char *name) { return tl_strdupf("%s/%s", dir, name); }

char *tl_tempdir(const char *prefix)
{
    const char *t = getenv("TMPDIR");
    if (!t || !*t) t = "/tmp";
    char *path = tl_strdupf("%s/loyal-%s-XXXXXX", t, prefix ? prefix : "test");
    if (!mkdtemp(path)) {
        int e = errno;
        free(path);
        fail_msg("mkdtemp under %s: %s", t, strerror(e));
    }
    trackDir(path);
    return path;
}

static int rmTree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    int rc = 0;
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *sub = tl_join(path, e->d_name);
            if (rmTree(sub) != 0) rc = -1;
            free(sub);
        }
        closedir(d);
    }
    if (rmdir(path) != 0 && errno != ENOENT) rc = -1;
    return rc;
}

int tl_rmtree(const char *path)
{
    if (!path) return 0;
    untrackDir(path);
    return rmTree(path);
}

int tl_write_file(const char *path, const char *data, size_t len)
{
    if (len == (size_t)-1) len = strlen(data);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    int rc = fclose(f);
    return w == len && rc == 0 ? 0 : -1;
}

char *tl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) bufAdd(&b, tmp, n);
    fclose(f);
    if (len) *len = b.len;
    return bufTake(&b);
}

/* ---------------------------------------------------------------------------------------
 * Child processes
 * ------------------------------------------------------------------------------------- */

/* environ plus add (entries of add replace those of the same name). NULL-terminated,
 * malloc'd array of borrowed strings. */
static char **buildEnv(const char *const *add)
{
    size_t n = 0, na = 0;
    while (environ[n]) n++;
    while (add && add[na]) na++;
    char **env = xmalloc((n + na + 1) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < na; j++) {
            const char *eq = strchr(add[j], '=');
            size_t nl = eq ? (size_t)(eq - add[j]) : strlen(add[j]);
            if (strncmp(environ[i], add[j], nl) == 0 && environ[i][nl] == '=') replaced = true;
        }
        if (!replaced) env[k++] = environ[i];
    }
    for (size_t j = 0; j < na; j++) env[k++] = (char *)add[j];
    env[k] = NULL;
    return env;
}

static int exitCodeOf(int st)
{
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

/* In the child, after fork: dies with the parent; only async-signal-safe calls. */
static void childCommon(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    /* The test process may block or ignore signals; the child starts clean. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
}

int tl_loyal(tl_run *r, const char *const *env_add, const char *arg, ...)
{
    const char *bin = tl_loyal_bin();
    memset(r, 0, sizeof *r);
    r->code = -1;
    const char *argv[64];
    size_t n = 0;
    argv[n++] = bin;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < 63; a = va_arg(ap, const char *)) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;

    int po[2], pe[2];
    if (pipe(po) != 0) goto fail;
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        goto fail;
    }
    /* Close-on-exec everywhere: a server started later must not hold these pipes open. */
    for (int i = 0; i < 2; i++) {
        fcntl(po[i], F_SETFD, FD_CLOEXEC);
        fcntl(pe[i], F_SETFD, FD_CLOEXEC);
    }
    char **env = buildEnv(env_add);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        childCommon(parent);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execve(bin, (char *const *)argv, env);
        _exit(127);
    }
    free(env);
    if (devnull >= 0) close(devnull);
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        goto fail;
    }
    trackPid(pid);
    buf out = {0}, err = {0};
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    double deadline = nowSec() + 240;
    while (open_fds > 0) {
        int left = (int)((deadline - nowSec()) * 1000);
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        int pr = poll(fds, 2, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char tmp[4096];
            ssize_t got = read(fds[i].fd, tmp, sizeof tmp);
            if (got > 0) {
                bufAdd(i == 0 ? &out : &err, tmp, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    untrackPid(pid);
    r->code = exitCodeOf(st);
    r->out = bufTake(&out);
    r->err = bufTake(&err);
    return r->code;
fail:
    r->out = xstrdup("");
    r->err = tl_strdupf("testlib: cannot run %s: %s", bin, strerror(errno));
    return r->code;
}

void tl_run_free(tl_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* ---------------------------------------------------------------------------------------
 * A test installation
 * ------------------------------------------------------------------------------------- */

void tl_world_make(tl_world *w, const char *prefix, const char *program_src)
{
    memset(w, 0, sizeof *w);
    w->dir = tl_tempdir(prefix);
    w->db = tl_join(w->dir, "loyal.db");
    w->program = tl_join(w->dir, "program.json");
    char *src = tl_source_path(program_src);
    size_t len = 0;
    char *text = tl_read_file(src, &len);
    if (!text) fail_msg("cannot read %s", src);
    if (tl_write_file(w->program, text, len) != 0) fail_msg("cannot write %s", w->program);
    free(text);
    free(src);

    tl_run r;
    if (tl_loyal(&r, NULL, "init", "--db", w->db, "--program", w->program, "--no-keys", NULL) != 0)
        fail_msg("loyal init exited %d: %s%s", r.code, r.out, r.err);
    tl_run_free(&r);
    tl_world_key(w, "pos", w->pos_key, sizeof w->pos_key);
    tl_world_key(w, "admin", w->admin_key, sizeof w->admin_key);
}

void tl_world_key(const tl_world *w, const char *role, char *out, size_t size)
{
    tl_run r;
    if (tl_loyal(&r, NULL, "keys", "create", "--role", role, "--label", "test", "--db", w->db, "--program",
                 w->program, NULL) != 0)
        fail_msg("loyal keys create --role %s exited %d: %s%s", role, r.code, r.out, r.err);
    size_t k = strcspn(r.out, "\r\n");
    if (k == 0 || k >= size) fail_msg("loyal keys create printed \"%s\"", r.out);
    memcpy(out, r.out, k);
    out[k] = '\0';
    tl_run_free(&r);
}

int tl_world_check(const tl_world *w)
{
    tl_run r;
    int code = tl_loyal(&r, NULL, "check", "--db", w->db, NULL);
    if (code != 0) fprintf(stderr, "loyal check exited %d:\n%s%s\n", code, r.out, r.err);
    tl_run_free(&r);
    return code;
}

void tl_world_free(tl_world *w)
{
    killAllServers();
    if (w->dir) tl_rmtree(w->dir);
    free(w->dir);
    free(w->db);
    free(w->program);
    memset(w, 0, sizeof *w);
}

/* ---------------------------------------------------------------------------------------
 * `loyal serve`
 * ------------------------------------------------------------------------------------- */

char *tl_server_log_tail(const tl_server *s, size_t max)
{
    size_t len = 0;
    char *all = s->log[0] ? tl_read_file(s->log, &len) : NULL;
    if (!all) return xstrdup("(no log)");
    if (len <= max) return all;
    char *t = xstrdup(all + len - max);
    free(all);
    return t;
}

const char *tl_server_analyze_every = "0";

void tl_server_start(tl_server *s, const char *db, const char *program, const char *log_path,
                     const char *const *env_add)
{
    const char *bin = tl_loyal_bin();
    memset(s, 0, sizeof *s);
    if (strlen(log_path) >= sizeof s->log) fail_msg("log path too long: %s", log_path);
    memcpy(s->log, log_path, strlen(log_path) + 1);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fail_msg("cannot open %s: %s", log_path, strerror(errno));
    off_t start = lseek(fd, 0, SEEK_END);
    if (start < 0) start = 0;
    const char *argv[] = {bin, "serve", "--db", db, "--program", program, "--listen", "127.0.0.1:0",
                          "--maintain-every", "0", "--analyze-every", tl_server_analyze_every, NULL};
    char **env = buildEnv(env_add);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        childCommon(parent);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(bin, (char *const *)argv, env);
        _exit(127);
    }
    free(env);
    if (devnull >= 0) close(devnull);
    close(fd);
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    trackPid(pid);
    s->pid = pid;

    double deadline = nowSec() + 20;
    for (;;) {
        size_t len = 0;
        char *all = tl_read_file(log_path, &len);
        const char *mine = all && (size_t)start <= len ? all + start : "";
        const char *hit = strstr(mine, "listening on http://");
        if (hit) {
            const char *hp = hit + strlen("listening on http://");
            const char *colon = NULL;
            for (const char *q = hp; *q && *q != ' ' && *q != '\n' && *q != '/'; q++)
                if (*q == ':') colon = q;
            if (colon && colon[1] >= '0' && colon[1] <= '9') {
                s->port = atoi(colon + 1);
                snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
                free(all);
                return;
            }
        }
        free(all);
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            untrackPid(pid);
            s->pid = 0;
            s->last_status = exitCodeOf(st);
            char *tail = tl_server_log_tail(s, 4000);
            fail_msg("loyal serve exited with %d before listening:\n%s", s->last_status, tail);
        }
        if (nowSec() > deadline) {
            tl_server_kill(s);
            char *tail = tl_server_log_tail(s, 4000);
            fail_msg("loyal serve did not print \"listening on\" within 20 s:\n%s", tail);
        }
        sleepMs(20);
    }
}

void tl_world_serve(tl_world *w, tl_server *s, const char *const *env_add)
{
    char *log = tl_join(w->dir, "serve.log");
    tl_server_start(s, w->db, w->program, log, env_add);
    free(log);
}

static int waitFor(pid_t pid, double seconds, int *status)
{
    double deadline = nowSec() + seconds;
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid) return 0;
        if (w < 0 && errno != EINTR) return -1;
        if (nowSec() > deadline) return 1;
        sleepMs(10);
    }
}

int tl_server_stop(tl_server *s)
{
    if (s->pid <= 0) return s->last_status;
    int st = 0;
    kill(s->pid, SIGTERM);
    int rc = waitFor(s->pid, 30, &st);
    if (rc == 1) {
        fprintf(stderr, "testlib: loyal serve ignored SIGTERM for 30 s; killing it\n");
        kill(s->pid, SIGKILL);
        rc = waitFor(s->pid, 30, &st);
    }
    untrackPid(s->pid);
    s->pid = 0;
    s->last_status = rc == 0 ? exitCodeOf(st) : -1;
    return s->last_status;
}

int tl_server_kill(tl_server *s)
{
    if (s->pid <= 0) return s->last_status;
    int st = 0;
    kill(s->pid, SIGKILL);
    int rc = waitFor(s->pid, 30, &st);
    untrackPid(s->pid);
    s->pid = 0;
    s->last_status = rc == 0 ? exitCodeOf(st) : -1;
    return s->last_status;
}

/* ---------------------------------------------------------------------------------------
 * HTTP client
 * ------------------------------------------------------------------------------------- */

static pthread_once_t curlOnce = PTHREAD_ONCE_INIT;
static pthread_key_t curlKey;
static bool curlReady;

static void curlHandleFree(void *h)
{
    if (h) curl_easy_cleanup(h);
}

static void curlInit(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    pthread_key_create(&curlKey, curlHandleFree);
    curlReady = true;
    pthread_mutex_lock(&regMu);
    ensureAtexit();
    pthread_mutex_unlock(&regMu);
}

static void curlAtExit(void)
{
    if (!curlReady) return;
    tl_http_thread_done();
    curl_global_cleanup();
    curlReady = false;
}

void tl_http_thread_done(void)
{
    if (!curlReady) return;
    CURL *h = pthread_getspecific(curlKey);
    if (h) {
        curl_easy_cleanup(h);
        pthread_setspecific(curlKey, NULL);
    }
}

static CURL *threadHandle(void)
{
    pthread_once(&curlOnce, curlInit);
    CURL *h = pthread_getspecific(curlKey);
    if (!h) {
        h = curl_easy_init();
        if (!h) return NULL;
        pthread_setspecific(curlKey, h);
    } else {
        curl_easy_reset(h); /* options back to defaults; the connection stays open */
    }
    return h;
}

static size_t onBody(char *p, size_t size, size_t n, void *ctx)
{
    bufAdd(ctx, p, size * n);
    return size * n;
}

static size_t onHeader(char *p, size_t size, size_t n, void *ctx)
{
    buf *b = ctx;
    /* A new status line (after a 100 Continue, for example) starts the headers over. */
    if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0) b->len = 0;
    bufAdd(b, p, size * n);
    return size * n;
}

long tl_http(tl_response *r, const char *base, const char *method, const char *path,
             const char *const *headers, const char *body, size_t body_len)
{
    memset(r, 0, sizeof *r);
    CURL *h = threadHandle();
    if (!h) {
        snprintf(r->error, sizeof r->error, "curl_easy_init failed");
        r->body = xstrdup("");
        r->headers = xstrdup("");
        return 0;
    }
    char *url = tl_strdupf("%s%s", base, path);
    buf bb = {0}, hb = {0};
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    if (hl) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (body) {
        if (body_len == (size_t)-1) body_len = strlen(body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (strcmp(method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        r->status = 0;
        snprintf(r->error, sizeof r->error, "%.60s: %.180s", curl_easy_strerror(rc), errbuf);
    }
    curl_slist_free_all(hl);
    free(url);
    r->body_len = bb.len;
    r->body = bufTake(&bb);
    r->headers = bufTake(&hb);
    return r->status;
}

long tl_call(tl_response *r, const tl_server *s, const char *method, const char *path,
             const char *key, const char *body)
{
    char auth[128];
    const char *hs[4];
    size_t n = 0;
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hs[n++] = auth;
    }
    if (body) hs[n++] = "Content-Type: application/json";
    hs[n] = NULL;
    return tl_http(r, s->base, method, path, hs, body, (size_t)-1);
}

char *tl_response_header(const tl_response *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
            char *out = xmalloc((size_t)(ve - v) + 1);
            memcpy(out, v, (size_t)(ve - v));
            out[ve - v] = '\0';
            return out;
        }
        if (!end) break;
        line = end + 1;
    }
    return NULL;
}

json_t *tl_response_json(const tl_response *r)
{
    if (!r->body) return NULL;
    return json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
}

void tl_response_free(tl_response *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

/* ---------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------- */

char *tl_json_text(const json_t *v)
{
    if (!v) return xstrdup("(nothing)");
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return s ? s : xstrdup("(unprintable)");
}

static const char *typeName(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static bool isAny(const json_t *v) { return json_is_string(v) && strcmp(json_string_value(v), TL_ANY) == 0; }

static char *diffAt(const char *path, const json_t *e, const json_t *a)
{
    if (isAny(e)) return NULL;
    bool sameType = json_typeof(e) == json_typeof(a) || (json_is_boolean(e) && json_is_boolean(a));
    if (!sameType) {
        char *et = tl_json_text(e), *at = tl_json_text(a);
        char *d = tl_strdupf("%s: expected %s %s, got %s %s", path, typeName(e), et, typeName(a), at);
        free(et);
        free(at);
        return d;
    }
    if (json_is_object(e)) {
        /* Keys in expected order first, then any extra actual key. */
        const char *k;
        json_t *ev;
        json_object_foreach((json_t *)e, k, ev) {
            json_t *av = json_object_get(a, k);
            char *sub = tl_strdupf("%s.%s", path, k);
            if (!av) {
                char *et = tl_json_text(ev);
                char *d = tl_strdupf("%s: missing (expected %s)", sub, et);
                free(et);
                free(sub);
                return d;
            }
            char *d = diffAt(sub, ev, av);
            free(sub);
            if (d) return d;
        }
        json_t *av;
        json_object_foreach((json_t *)a, k, av) {
            if (!json_object_get(e, k)) {
                char *at = tl_json_text(av);
                char *d = tl_strdupf("%s.%s: unexpected key (value %s)", path, k, at);
                free(at);
                return d;
            }
        }
        return NULL;
    }
    if (json_is_array(e)) {
        size_t ne = json_array_size(e), na = json_array_size(a);
        size_t n = ne < na ? ne : na;
        for (size_t i = 0; i < n; i++) {
            char *sub = tl_strdupf("%s[%zu]", path, i);
            char *d = diffAt(sub, json_array_get(e, i), json_array_get(a, i));
            free(sub);
            if (d) return d;
        }
        if (ne != na) return tl_strdupf("%s: expected %zu elements, got %zu", path, ne, na);
        return NULL;
    }
    if (json_equal((json_t *)e, (json_t *)a)) return NULL;
    char *et = tl_json_text(e), *at = tl_json_text(a);
    char *d = tl_strdupf("%s: expected %s, got %s", path, et, at);
    free(et);
    free(at);
    return d;
}

char *tl_json_diff(const json_t *expected, const json_t *actual)
{
    if (!expected && !actual) return NULL;
    if (!expected || !actual) {
        char *et = tl_json_text(expected), *at = tl_json_text(actual);
        char *d = tl_strdupf("$: expected %s, got %s", et, at);
        free(et);
        free(at);
        return d;
    }
    return diffAt("$", expected, actual);
}

json_t *tl_json_parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text ? text : "", JSON_DECODE_ANY, &je);
    if (!v) fail_msg("not JSON (%s at line %d column %d): %s", je.text, je.line, je.column, text ? text : "(null)");
    return v;
}

void tl_assert_json(const char *what, const char *expected, const char *actual)
{
    json_t *e = tl_json_parse(expected);
    json_error_t je;
    json_t *a = json_loads(actual ? actual : "", JSON_DECODE_ANY, &je);
    if (!a) {
        json_decref(e);
        fail_msg("%s%sresponse is not JSON (%s): %s", what ? what : "", what ? ": " : "", je.text,
                 actual ? actual : "(null)");
    }
    char *d = tl_json_diff(e, a);
    json_decref(e);
    json_decref(a);
    if (d) {
        print_error("%s%s%s\n  expected: %s\n  actual:   %s\n", what ? what : "", what ? ": " : "", d,
                    expected, actual);
        free(d);
        fail();
    }
}

json_t *tl_json_at(json_t *v, const char *path)
{
    const char *p = path;
    while (v && *p) {
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            if (*end != ']' || i < 0) return NULL;
            v = json_array_get(v, (size_t)i);
            p = end + 1;
            continue;
        }
        size_t n = strcspn(p, ".[");
        char key[256];
        if (n >= sizeof key) return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        p += n;
    }
    return v;
}

long long tl_json_int(json_t *v, const char *path)
{
    json_t *x = tl_json_at(v, path);
    if (!json_is_integer(x)) {
        char *t = tl_json_text(v);
        print_error("%s is not an integer in %s\n", path, t);
        free(t);
        fail();
    }
    return (long long)json_integer_value(x);
}

const char *tl_json_str(json_t *v, const char *path)
{
    json_t *x = tl_json_at(v, path);
    if (!json_is_string(x)) {
        char *t = tl_json_text(v);
        print_error("%s is not a string in %s\n", path, t);
        free(t);
        fail();
    }
    return json_string_value(x);
}

/* ---------------------------------------------------------------------------------------
 * Error responses
 * ------------------------------------------------------------------------------------- */

char *tl_check_error(const tl_response *r, long status, const char *code, const char *field)
{
    if (r->status != status)
        return tl_strdupf("expected HTTP %ld, got %ld%s%s: %s", status, r->status, r->error[0] ? " " : "", r->error,
                          r->body ? r->body : "");
    char *ct = tl_response_header(r, "Content-Type");
    bool json = ct && strncmp(ct, "application/json", 16) == 0;
    char *problem = json ? NULL : tl_strdupf("Content-Type is %s, not application/json", ct ? ct : "missing");
    free(ct);
    if (problem) return problem;
    json_t *v = tl_response_json(r);
    json_t *e = v ? json_object_get(v, "error") : NULL;
    json_t *c = e ? json_object_get(e, "code") : NULL;
    json_t *m = e ? json_object_get(e, "message") : NULL;
    json_t *f = e ? json_object_get(e, "field") : NULL;
    if (!json_is_object(v) || json_object_size(v) != 1 || !json_is_object(e) || !json_is_string(c) ||
        !json_is_string(m) || !*json_string_value(m) || (f && !json_is_string(f)))
        problem = tl_strdupf("the body is not {\"error\":{\"code\":...,\"message\":...[,\"field\":...]}}: %s", r->body);
    else if (code && strcmp(json_string_value(c), code) != 0)
        problem = tl_strdupf("expected error code \"%s\", got \"%s\": %s", code, json_string_value(c), r->body);
    else if (field && (!f || strcmp(json_string_value(f), field) != 0))
        problem = tl_strdupf("expected error field \"%s\": %s", field, r->body);
    json_decref(v);
    return problem;
}

void tl_assert_error(const char *what, const tl_response *r, long status, const char *code,
                     const char *field)
{
    char *problem = tl_check_error(r, status, code, field);
    if (problem) {
        print_error("%s: %s\n", what ? what : "request", problem);
        free(problem);
        fail();
    }
}

/* ---------------------------------------------------------------------------------------
 * An in-process service on a fresh database
 * ------------------------------------------------------------------------------------- */

ly_time tl_at(const char *s)
{
    ly_time t;
    if (!ly_time_parse(s, &t, NULL)) fail_msg("not an RFC 3339 time: %s", s);
    return t;
}

static void svcStart(tl_svc *f, const char *program_text)
{
    if (program_text && tl_write_file(f->program, program_text, (size_t)-1) != 0)
        fail_msg("cannot write %s: %s", f->program, strerror(errno));
    ly_service_options so = {.db_path = f->db, .program_path = f->program, .sync = f->sync};
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_open(&so, &f->svc, &err) != LY_OK) {
        f->svc = NULL;
        fail_msg("open: %s %s\n%s", err.field, err.message, program_text ? program_text : "");
    }
}

void tl_svc_open_sync(tl_svc *f, const char *prefix, const char *program_text, ly_sync_mode sync)
{
    memset(f, 0, sizeof *f);
    f->sync = sync;
    f->dir = tl_tempdir(prefix);
    f->db = tl_join(f->dir, "loyal.db");
    f->program = tl_join(f->dir, "program.json");
    svcStart(f, program_text);
}

void tl_svc_open(tl_svc *f, const char *prefix, const char *program_text)
{
    tl_svc_open_sync(f, prefix, program_text, LY_SYNC_NORMAL);
}

tl_svc *tl_svc_new(const char *prefix, const char *program_text)
{
    tl_svc *f = xmalloc(sizeof *f);
    tl_svc_open(f, prefix, program_text);
    return f;
}

int tl_svc_teardown(void **state)
{
    tl_svc *f = *state;
    tl_svc_close(f);
    free(f);
    *state = NULL;
    return 0;
}

void tl_svc_reopen(tl_svc *f, const char *program_text)
{
    ly_service_close(f->svc);
    f->svc = NULL;
    svcStart(f, program_text);
}

int64_t tl_svc_check(tl_svc *f)
{
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(f->svc), &err);
    if (!db) fail_msg("store reader: %s", err.message);
    int64_t n = 0, bad = -1;
    if (ly_db_check(db, NULL, NULL, &n, &bad, &err) != LY_OK) fail_msg("ledger check: %s", err.message);
    if (bad != 0)
        fail_msg("ledger check: %lld mismatches between the balances and the ledger (%lld customers)",
                 (long long)bad, (long long)n);
    return n;
}

void tl_svc_close(tl_svc *f)
{
    if (f->svc) {
        tl_svc_check(f);
        ly_service_close(f->svc);
        f->svc = NULL;
    }
    ly_arena_free(&f->arena);
    int rc = tl_rmtree(f->dir);
    if (rc != 0) fail_msg("cannot remove %s", f->dir);
    free(f->dir);
    free(f->db);
    free(f->program);
    memset(f, 0, sizeof *f);
}

int64_t tl_svc_enrol(tl_svc *f, const char *card, const char *now)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = tl_at(now)};
    op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
    ly_os_hash(card, strlen(card), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("enrol %s: %s %s", card, op.err.code, op.err.message);
    return op.out.customer.id;
}

void tl_svc_return(tl_svc *f, const char *receipt_id, const char *ret_id, ly_qty qty, const char *now)
{
    ly_op op = {.kind = LY_OP_RETURN, .arena = &f->arena, .now = tl_at(now)};
    ly_return_request_line *l = ly_arena_alloc(&f->arena, sizeof *l);
    if (!l) fail_msg("out of memory");
    *l = (ly_return_request_line){.line = 0, .qty = qty};
    op.in.ret = (ly_return_request){.receipt_id = receipt_id, .return_id = ret_id, .full = qty == 0,
                                    .lines = qty ? l : NULL, .n_lines = qty ? 1 : 0};
    ly_os_hash(ret_id, strlen(ret_id), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("return %s: %s", ret_id, op.err.message);
}

ly_quests_view tl_svc_quests(tl_svc *f, int64_t customer_id, const char *now)
{
    ly_quests_view v;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_quests_view(f->svc, customer_id, tl_at(now), &f->arena, &v, &err) != LY_OK)
        fail_msg("quests of %lld: %s", (long long)customer_id, err.message);
    return v;
}

ly_points tl_svc_bonus_with(tl_svc *f, int64_t customer_id, const char *prefix)
{
    ly_error err;
    ly_error_clear(&err);
    ly_entry *e;
    size_t n;
    if (ly_service_ledger(f->svc, customer_id, 0, 500, &f->arena, &e, &n, &err) != LY_OK)
        fail_msg("ledger of %lld: %s", (long long)customer_id, err.message);
    ly_points sum = 0;
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == LY_ENTRY_BONUS && e[i].ref && strncmp(e[i].ref, prefix, pl) == 0)
            sum += e[i].delta.available + e[i].delta.pending;
    return sum;
}
