#include "interrupt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t pending;

static void note(int sig)
{
    if (!pending)
        pending = sig;
}

enum qz_status qz_interrupt_install(struct qz_error *err)
{
    static const int sigs[] = {SIGUSR1, SIGTERM};
    struct sigaction sa, old;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        if (sigaction(sigs[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == note)
            continue;
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return qz_error_set(err, QZ_EINTERNAL, "cannot install the handler of signal %d: %s",
                                sigs[i], strerror(errno));
    }
    return QZ_OK;
}

int qz_interrupt_pending(void)
{
    return pending;
}

const char *qz_interrupt_name(int sig)
{
    return sig == SIGUSR1 ? "SIGUSR1" : sig == SIGTERM ? "SIGTERM" : "a signal";
}
