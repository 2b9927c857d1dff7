#include "interrupt.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t pending;
static int installed;

static void note(int sig)
{
    if (!pending)
        pending = sig;
}

int qz_interrupt_install(void)
{
    static const int sigs[] = {SIGUSR1, SIGTERM};
    struct sigaction sa;

    if (installed)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return -1;
    installed = 1;
    return 0;
}

int qz_interrupt_pending(void)
{
    return pending;
}
