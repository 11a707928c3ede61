/* SPDX-License-Identifier: MIT */
#ifndef WIRELOG_SENSOR_TRACE_H
#define WIRELOG_SENSOR_TRACE_H

/* `wirelog-sensor trace ...`: argv[0] is "trace". Returns the process exit code. */
int trace_main(int argc, char **argv);

#endif
