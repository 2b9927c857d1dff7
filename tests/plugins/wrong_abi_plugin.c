/* A plugin built for an ABI version quantilize does not speak: it must be refused at
 * load with `plugin PATH has ABI version 99, quantilize needs 1`. */
#include <stddef.h>

#include "plugin.h"

static const struct qz_plugin plugin = {99, "wrong_abi", NULL, NULL};

const struct qz_plugin *qz_plugin_entry(void)
{
    return &plugin;
}
