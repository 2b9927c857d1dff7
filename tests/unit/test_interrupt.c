/* Stop requests: installing the handlers reports a status, and a signal is noted. */
#include <signal.h>

#include "check.h"
#include "interrupt.h"

int main(void)
{
    struct qz_error err = {QZ_OK, ""};

    CHECK(qz_interrupt_install(&err) == QZ_OK, "install: %s", err.msg);
    CHECK(qz_interrupt_install(&err) == QZ_OK, "a second install does nothing: %s", err.msg);
    CHECK(qz_interrupt_pending() == 0, "nothing pending before a signal");
    raise(SIGUSR1);
    raise(SIGTERM);
    CHECK(qz_interrupt_pending() == SIGUSR1, "the first signal is noted: %d",
          qz_interrupt_pending());
    return check_done("test_interrupt");
}
