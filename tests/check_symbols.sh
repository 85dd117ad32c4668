#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every symbol the library exports carries the stele_ prefix.
set -euo pipefail
lib=$1
bad=$(nm -g --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^stele_' || true)
total=$(nm -g --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/' | wc -l)
if [ -n "$bad" ]; then
	echo "symbols without the stele_ prefix:"
	echo "$bad"
	exit 1
fi
[ "$total" -gt 0 ] || { echo "no symbols found in $lib"; exit 1; }
echo "$total exported symbols, all prefixed stele_"
