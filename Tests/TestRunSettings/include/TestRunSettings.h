#ifndef INFRAPROBE_TEST_RUN_SETTINGS_H
#define INFRAPROBE_TEST_RUN_SETTINGS_H

/// The parallelization width this test process runs with (see TestRunSettings.c).
int infraprobe_test_parallelization_width(void);

#endif
