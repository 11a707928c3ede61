/* SPDX-License-Identifier: MIT */
#ifndef WIRELOG_SENSOR_CONNTRACK_H
#define WIRELOG_SENSOR_CONNTRACK_H

/* `wirelog-sensor conntrack`: argv[0] is "conntrack". Returns the process exit code. */
int conntrack_main(int argc, char **argv);

#endif
