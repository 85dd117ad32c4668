#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every symbol the library exports (and its helpers', in base/) carries the stele_ prefix.
set -euo pipefail
for lib in "$@"; do
	syms=$(nm -g --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
	bad=$(grep -v '^stele_' <<<"$syms" || true)
	if [ -n "$bad" ]; then
		echo "$lib: symbols without the stele_ prefix:"
		echo "$bad"
		exit 1
	fi
	[ -n "$syms" ] || { echo "$lib: no symbols found"; exit 1; }
	echo "$lib: $(wc -l <<<"$syms") exported symbols, all prefixed stele_"
done
