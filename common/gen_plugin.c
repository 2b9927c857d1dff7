/* Generator kind "plugin": samples from a shared library implementing plugin.h, and the
 * plugin loader that score_plugin.c shares (plugin_host.h).
 *
 *     "generator": {"kind": "plugin", "path": "/abs/libmine.so", "config": {...}}
 *
 * The library is loaded (and every check made) when the job is read. Each draw calls
 * the plugin's draw once for the whole batch. */
#include "generator.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interrupt.h"
#include "plugin_host.h"
#include "utf8.h"

static const char *const plugin_fields[] = {"kind", "path", "config", NULL};

#if defined(__x86_64__)
#define QZ_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define QZ_ELF_MACHINE EM_AARCH64
#elif defined(__powerpc64__)
#define QZ_ELF_MACHINE EM_PPC64
#elif defined(__s390x__)
#define QZ_ELF_MACHINE EM_S390
#elif defined(__riscv) && __riscv_xlen == 64
#define QZ_ELF_MACHINE EM_RISCV
#endif

/* a + b * c <= size, without overflow */
static int covers(uint64_t size, uint64_t a, uint64_t b, uint64_t c)
{
    return a <= size && (c == 0 || b <= (size - a) / c);
}

/* Check that fd (of `size` bytes) holds a whole 64-bit ELF shared object for this
 * machine: dlopen maps its segments, and touching a page past the end of a truncated
 * file raises SIGBUS in the loader, which no error return can catch. 0 when it does;
 * else 1 with why[] saying what is wrong. */
static int elf_incomplete(int fd, uint64_t size, char *why, size_t whylen)
{
    Elf64_Ehdr eh;
    if (size < sizeof eh || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh) {
        snprintf(why, whylen, "it is %llu bytes, too short for an ELF header",
                 (unsigned long long)size);
        return 1;
    }
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        snprintf(why, whylen, "it is not an ELF file (no ELF magic number)");
        return 1;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        snprintf(why, whylen, "it is not a 64-bit ELF file (class %u)", eh.e_ident[EI_CLASS]);
        return 1;
    }
#ifdef QZ_ELF_MACHINE
    if (eh.e_machine != QZ_ELF_MACHINE) {
        snprintf(why, whylen, "it is built for another machine (e_machine %u, this one is %u)",
                 eh.e_machine, QZ_ELF_MACHINE);
        return 1;
    }
#endif
    if (eh.e_phnum == 0 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        !covers(size, eh.e_phoff, eh.e_phnum, sizeof(Elf64_Phdr))) {
        snprintf(why, whylen,
                 "it is truncated or damaged: its %u program headers do not fit in its %llu "
                 "bytes",
                 eh.e_phnum, (unsigned long long)size);
        return 1;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) !=
            (ssize_t)sizeof ph) {
            snprintf(why, whylen, "cannot read its program header %u: %s", i,
                     strerror(errno ? errno : EIO));
            return 1;
        }
        if (ph.p_type == PT_LOAD && !covers(size, ph.p_offset, 1, ph.p_filesz)) {
            snprintf(why, whylen,
                     "it is truncated: its segment %u ends at byte %llu, the file has %llu", i,
                     (unsigned long long)ph.p_offset + (unsigned long long)ph.p_filesz,
                     (unsigned long long)size);
            return 1;
        }
    }
    if (eh.e_shoff != 0 && (eh.e_shentsize != sizeof(Elf64_Shdr) ||
                            !covers(size, eh.e_shoff, eh.e_shnum, sizeof(Elf64_Shdr)))) {
        snprintf(why, whylen, "it is truncated: its section headers end past its %llu bytes",
                 (unsigned long long)size);
        return 1;
    }
    return 0;
}

/* What quantilize offers every plugin that asks (plugin.h, qz_plugin_host). */
static int host_stop_requested(void)
{
    return qz_interrupt_pending() != 0;
}
static const struct qz_plugin_host host = {host_stop_requested};

/* The checks before dlopen: a readable regular file that is a whole ELF object. */
static enum qz_status check_library(const struct qz_jv *at, const char *path, struct qz_error *err)
{
    char why[200];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), bad;

    if (fd < 0) /* dlopen says why, as before */
        return QZ_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qz_jv_fail(at, "path", NULL, err, "cannot load plugin %s: not a regular file", path);
    }
    errno = 0;
    bad = elf_incomplete(fd, (uint64_t)st.st_size, why, sizeof why);
    close(fd);
    if (bad)
        return qz_jv_fail(at, "path", NULL, err, "cannot load plugin %s: %s", path, why);
    return QZ_OK;
}

void qz_plugin_unload(struct qz_plugin_lib *lib)
{
    if (lib->handle)
        dlclose(lib->handle);
    free(lib->path);
    cJSON_free(lib->config);
    memset(lib, 0, sizeof *lib);
}

enum qz_status qz_plugin_load(struct qz_plugin_lib *lib, const struct qz_jv *at, const cJSON *spec,
                              struct qz_error *err)
{
    const cJSON *path_item = cJSON_GetObjectItemCaseSensitive(spec, "path");
    const cJSON *config;
    const struct qz_plugin *(*entry)(void);
    const char *path, *why;
    void *sym;
    enum qz_status rc;

    memset(lib, 0, sizeof *lib);
    if ((rc = qz_jv_fields(at, spec, plugin_fields, err)) ||
        (rc = qz_jv_string(at, spec, "path", 1, NULL, &path, err)) ||
        (rc = qz_jv_object(at, spec, "config", 0, &config, err)))
        return rc;
    if (!strchr(path, '/'))
        return qz_jv_fail(at, "path", path_item, err,
                          "must be the path of a shared library, with a '/' (such as "
                          "\"/opt/plugins/libmine.so\" or \"./libmine.so\")");
    lib->path = strdup(path);
    lib->config = config ? cJSON_PrintUnformatted(config) : NULL;
    if (!lib->config && (lib->config = cJSON_malloc(3)))
        memcpy(lib->config, "{}", 3);
    if (!lib->path || !lib->config) {
        qz_plugin_unload(lib);
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    }
    if ((rc = check_library(at, path, err))) {
        qz_plugin_unload(lib);
        return rc;
    }
    dlerror();
    if (!(lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        why = dlerror();
        rc = qz_jv_fail(at, "path", NULL, err, "cannot load plugin: %s",
                        why ? why : "dlopen failed");
        qz_plugin_unload(lib);
        return rc;
    }
    dlerror();
    sym = dlsym(lib->handle, QZ_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        rc =
            qz_jv_fail(at, "path", NULL, err,
                       "plugin %s does not export " QZ_PLUGIN_ENTRY_SYMBOL " (see plugin.h)", path);
        qz_plugin_unload(lib);
        return rc;
    }
    /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
    memcpy(&entry, &sym, sizeof entry);
    if (!(lib->p = entry())) {
        rc = qz_jv_fail(at, "path", NULL, err, "plugin %s: " QZ_PLUGIN_ENTRY_SYMBOL "() gave NULL",
                        path);
        qz_plugin_unload(lib);
        return rc;
    }
    if (lib->p->abi_version != QZ_PLUGIN_ABI_VERSION) {
        rc = qz_jv_fail(at, "path", NULL, err, "plugin %s has ABI version %d, quantilize needs %d",
                        path, lib->p->abi_version, QZ_PLUGIN_ABI_VERSION);
        qz_plugin_unload(lib);
        return rc;
    }
    dlerror();
    if ((sym = dlsym(lib->handle, QZ_PLUGIN_HOST_SYMBOL))) /* optional (plugin.h) */
        *(const struct qz_plugin_host **)sym = &host;
    snprintf(lib->label, sizeof lib->label, "%s plugin \"%.60s\"", at->path,
             lib->p->name ? lib->p->name : path);
    return QZ_OK;
}

enum qz_status qz_plugin_config_error(const struct qz_plugin_lib *lib, const struct qz_jv *at,
                                      const char *errbuf, struct qz_error *err)
{
    const char *name = lib->p->name ? lib->p->name : lib->path;
    return qz_jv_fail(at, "config", NULL, err, "plugin \"%.60s\" rejected its config: %s", name,
                      errbuf[0] ? errbuf : "(no message)");
}

struct qz_generator {
    struct qz_plugin_lib lib;
    const struct qz_plugin_generator *ops;
    void *state;
    int opened; /* ops->open succeeded: close is due */
    int text;
    struct qz_gen_stats stats; /* calls of the plugin's draw, samples it left out, texts
                                  repaired to valid UTF-8 */

    /* the draw in progress, for the sink */
    struct qz_batch *out;
    enum qz_status sink_rc;
    struct qz_error *err;
};

static int sink_text(void *ctx, size_t j, const char *text, size_t len)
{
    struct qz_generator *g = ctx;
    if (j >= g->out->n) {
        g->sink_rc = qz_error_set(g->err, QZ_EINTERNAL,
                                  "%s: emit_text for sample %zu of a draw of %zu samples",
                                  g->lib.label, j, g->out->n);
        return -1;
    }
    if (!text) {
        text = "";
        len = 0;
    }
    if ((g->sink_rc = qz_batch_put_text(g->out, j, text, len, g->err)))
        return -1;
    g->out->value[j] = 0;
    return 0;
}

static void sink_logprobs(void *ctx, size_t j, double logprob_sum, uint32_t tokens)
{
    struct qz_generator *g = ctx;
    if (j < g->out->n) {
        g->out->logprob_sum[j] = logprob_sum;
        g->out->tokens[j] = tokens;
    }
}

static enum qz_status plugin_draw(struct qz_generator *g, uint64_t first, size_t n,
                                  struct qz_batch *out, struct qz_error *err)
{
    const struct qz_plugin_sink sink = {g, sink_text, sink_logprobs};
    char errbuf[QZ_PLUGIN_ERR_MAX] = "", why[4 * QZ_PLUGIN_ERR_MAX + 8];
    int failed;

    qz_batch_begin(out, first, n, g->text);
    if (n == 0)
        return QZ_OK;
    g->out = out;
    g->err = err;
    g->sink_rc = QZ_OK;
    failed = g->ops->draw(g->state, first, n, out->value, &sink, errbuf, sizeof errbuf);
    errbuf[sizeof errbuf - 1] = '\0';
    /* the plugin's text, control characters escaped */
    qz_utf8_escape(errbuf, strlen(errbuf), sizeof errbuf, why, sizeof why);
    g->out = NULL;
    g->err = NULL;
    if (g->sink_rc)
        return g->sink_rc;
    if (failed && qz_interrupt_pending()) /* it returned early, as plugin.h allows */
        return qz_error_set(err, QZ_ESTOPPED, "stopped");
    if (failed)
        return qz_error_set(err, QZ_EIO, "%s: drawing samples %llu to %llu: %s", g->lib.label,
                            (unsigned long long)first, (unsigned long long)(first + n - 1),
                            why[0] ? why : "failed (no message)");
    g->stats.requests++;
    g->stats.utf8_repaired_samples += qz_batch_repaired(out);
    for (size_t j = 0; j < n; j++)
        if (isnan(out->value[j])) {
            g->stats.failed_samples++;
            if (g->text) /* a text sample never emitted is a failed one */
                out->text_len[j] = 0;
        }
    return QZ_OK;
}

static void plugin_stats(const struct qz_generator *g, struct qz_gen_stats *st)
{
    st->requests += g->stats.requests;
    st->failed_samples += g->stats.failed_samples;
    st->utf8_repaired_samples += g->stats.utf8_repaired_samples;
}

static void plugin_close(struct qz_generator *g)
{
    if (!g)
        return;
    if (g->opened && g->ops->close)
        g->ops->close(g->state);
    qz_plugin_unload(&g->lib);
    free(g);
}

static enum qz_status plugin_open(struct qz_generator **out, const cJSON *spec,
                                  const struct qz_jv *at, uint64_t seed, struct qz_error *err)
{
    struct qz_generator *g = calloc(1, sizeof *g);
    char errbuf[QZ_PLUGIN_ERR_MAX] = "";
    enum qz_status rc;

    *out = NULL;
    if (!g)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    if ((rc = qz_plugin_load(&g->lib, at, spec, err))) {
        free(g);
        return rc;
    }
    g->ops = g->lib.p->generator;
    if (!g->ops || !g->ops->open || !g->ops->draw) {
        rc = qz_jv_fail(at, "path", NULL, err, "plugin %s (\"%.60s\") has no generator%s",
                        g->lib.path, g->lib.p->name ? g->lib.p->name : "",
                        g->ops ? " (open or draw is missing)" : "");
        plugin_close(g);
        return rc;
    }
    if (g->ops->open(g->lib.config, seed, &g->state, errbuf, sizeof errbuf)) {
        errbuf[sizeof errbuf - 1] = '\0';
        rc = qz_plugin_config_error(&g->lib, at, errbuf, err);
        plugin_close(g);
        return rc;
    }
    g->opened = 1;
    g->text = g->ops->produces_text ? g->ops->produces_text(g->state) != 0 : 0;
    *out = g;
    return QZ_OK;
}

static int plugin_produces_text(const struct qz_generator *g)
{
    return g->text;
}

#define QZ_PLUGIN_CHUNK_DEFAULT 256 /* a plugin call cannot be abandoned: keep chunks short */

static uint64_t plugin_chunk_hint(const struct qz_generator *g)
{
    (void)g;
    return QZ_PLUGIN_CHUNK_DEFAULT;
}

const struct qz_generator_ops qz_gen_plugin_ops = {
    .name = "plugin",
    .open = plugin_open,
    .draw = plugin_draw,
    .produces_text = plugin_produces_text,
    .stats = plugin_stats,
    .chunk_hint = plugin_chunk_hint,
    .close = plugin_close,
};
