// SPDX-License-Identifier: Apache-2.0
/* The monotonic clock, for intervals and deadlines. */
#include "clock.h"

#include <time.h>

uint64_t stele_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t stele_monotonic_ms(void)
{
	return stele_monotonic_ns() / 1000000;
}

double stele_monotonic_seconds(void)
{
	return (double)stele_monotonic_ns() / 1e9;
}
