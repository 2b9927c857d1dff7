/* Stop requests: installing the handlers reports a status, a handler something else
 * replaced is put back by installing again, and a signal is noted. */
#include <signal.h>
#include <string.h>

#include "check.h"
#include "interrupt.h"

int main(void)
{
    struct qz_error err = {QZ_OK, ""};

    CHECK(qz_interrupt_install(&err) == QZ_OK, "install: %s", err.msg);
    CHECK(qz_interrupt_install(&err) == QZ_OK, "a second install does nothing: %s", err.msg);
    CHECK(qz_interrupt_pending() == 0, "nothing pending before a signal");
    signal(SIGTERM, SIG_DFL); /* as a library might */
    CHECK(qz_interrupt_install(&err) == QZ_OK, "install again: %s", err.msg);
    CHECK(signal(SIGTERM, SIG_DFL) != SIG_DFL, "installing again puts the SIGTERM handler back");
    CHECK(qz_interrupt_install(&err) == QZ_OK, "install again: %s", err.msg);
    raise(SIGUSR1);
    raise(SIGTERM);
    CHECK(qz_interrupt_pending() == SIGUSR1, "the first signal is noted: %d",
          qz_interrupt_pending());
    CHECK(strcmp(qz_interrupt_name(SIGTERM), "SIGTERM") == 0, "the name of SIGTERM");
    return check_done("test_interrupt");
}
