/* The command line: `quantilize run|select|inspect|report|export|rm|pack|--help|--version` — usage,
 * option parsing and dispatch (a run's work is in mpi/session.h).
 * Collective over MPI_COMM_WORLD (every rank parses the same arguments); only rank 0
 * prints. Returns the process exit status (0 ok, 1 run-time failure, 2 bad job or
 * arguments, 75 checkpointed on a signal). */
#ifndef QZ_CLI_H
#define QZ_CLI_H

int qz_cli_main(int argc, char **argv);

/* Whether the command line is one that a stop request (SIGUSR1, SIGTERM) asks to
 * checkpoint and stop (run, select), rather than end (inspect, report, ...). Local;
 * main asks before MPI_Init, to install the handlers first thing. */
int qz_cli_stoppable(int argc, char **argv);

#endif
