// SPDX-License-Identifier: Apache-2.0
/* Runs a fuzz target over every file of a corpus directory, for CI. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_one(int dfd, const char *name)
{
	struct stat st;
	uint8_t *data;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data || read(fd, data, (size_t)st.st_size) != st.st_size) {
		fprintf(stderr, "replay: cannot read '%s'\n", name);
		exit(1);
	}
	close(fd);
	LLVMFuzzerTestOneInput(data, (size_t)st.st_size);
	free(data);
	return 1;
}

int main(int argc, char **argv)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n += run_one(dirfd(d), de->d_name);
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "replay: no inputs in '%s'\n", argv[1]);
		return 1;
	}
	printf("replayed %d inputs\n", n);
	return 0;
}
