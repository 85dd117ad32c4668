// SPDX-License-Identifier: Apache-2.0
/* stele: the command table. */
#include <stdio.h>

int main(void)
{
	return 3;
}
