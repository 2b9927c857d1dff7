/* Loading plugins (plugin.h) for the generator and scorer kinds "plugin": the part
 * gen_plugin.c and score_plugin.c share. All calls are local. */
#ifndef QZ_PLUGIN_HOST_H
#define QZ_PLUGIN_HOST_H

#include <cjson/cJSON.h>

#include "error.h"
#include "jsonv.h"
#include "plugin.h"

#define QZ_PLUGIN_ERR_MAX 512 /* errbuf handed to plugin callbacks */

/* A loaded plugin library. */
struct qz_plugin_lib {
    void *handle;                    /* from dlopen; NULL when not loaded */
    const struct qz_plugin *p;       /* its description */
    char *path;                      /* spec.path (owned) */
    char *config;                    /* spec.config as compact JSON, "{}" when absent (owned) */
    char label[QZ_JV_PATH_MAX + 80]; /* `generator plugin "NAME"`, for run-time messages */
};

/* Validate spec.path and spec.config (a JSON object, optional) of the job object `at`,
 * load the library and check its entry symbol and ABI version. On failure (QZ_EJOB, or
 * QZ_ENOMEM) nothing stays loaded and err names the field, e.g. `job.json:
 * generator.path: plugin /x/wrong.so has ABI version 99, quantilize needs 1`. */
enum qz_status qz_plugin_load(struct qz_plugin_lib *lib, const struct qz_jv *at, const cJSON *spec,
                              struct qz_error *err);

/* The job error for a plugin whose `open` rejected its config: `FILE: PATH.config:
 * plugin "NAME" rejected its config: ERRBUF`. */
enum qz_status qz_plugin_config_error(const struct qz_plugin_lib *lib, const struct qz_jv *at,
                                      const char *errbuf, struct qz_error *err);

/* dlclose and free; safe on a zeroed or unloaded lib. */
void qz_plugin_unload(struct qz_plugin_lib *lib);

#endif
