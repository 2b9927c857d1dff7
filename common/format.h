/* Numbers as text for people and file names: one place for the shortest exact form
 * and the readable forms of the record's figures (durations, rates, sizes). Local. */
#ifndef QZ_FORMAT_H
#define QZ_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define QZ_FORMAT_MAX 64 /* room for any form below */

/* The shortest %g form of x that reads back as exactly x (at most 17 digits); whole
 * numbers below 1e15 without an exponent ("1000", not "1e+03"). */
void qz_format_exact(char *buf, size_t n, double x);

/* A figure for people (rates): 3 significant digits, no exponent from 100 to 1e15. */
void qz_format_human(char *buf, size_t n, double x);

/* A duration for people: "0.0123 s", "42.5 s", "3 min 7.2 s", "2 h 05 min 09 s". */
void qz_format_duration(char *buf, size_t n, double seconds);

/* Bytes in MiB for people: "123.4 MiB". */
void qz_format_mib(char *buf, size_t n, uint64_t bytes);

#endif
