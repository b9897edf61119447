#include "TestRunSettings.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

// swift-testing runs every test at once by default. Here, ~150 tests starting together queue
// their work on the cooperative pool (as wide as the cores: two on CI) in front of the servers
// and probes they test, which then miss their deadlines. Four tests per core keep the run
// parallel and fast without that burst. Set before main, where swift-testing reads it; a value
// already in the environment wins.
#define WIDTH_VARIABLE "SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH"

__attribute__((constructor)) static void bound_parallelization_width(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char width[32];
    snprintf(width, sizeof width, "%ld", (cores > 0 ? cores : 1) * 4);
    setenv(WIDTH_VARIABLE, width, 0);
}

int infraprobe_test_parallelization_width(void) {
    const char *value = getenv(WIDTH_VARIABLE);
    return value ? atoi(value) : 0;
}
