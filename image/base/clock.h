/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock, for intervals and deadlines. */
#ifndef STELE_BASE_CLOCK_H
#define STELE_BASE_CLOCK_H

#include <stdint.h>

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t stele_monotonic_ns(void);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t stele_monotonic_ms(void);

/* Seconds of CLOCK_MONOTONIC, with their fraction. */
double stele_monotonic_seconds(void);

#endif
