/* SPDX-License-Identifier: MIT */
/* The sensor's modes, one file each; sensor/main.c picks one from argv[1]. Each returns the process exit code. */
#ifndef WIRELOG_SENSOR_MODES_H
#define WIRELOG_SENSOR_MODES_H

/* `wirelog-sensor [packet] ...` (sensor/packet.c): argv as given to main. */
int packet_main(int argc, char **argv);
/* `wirelog-sensor trace ...` (sensor/trace.c): argv[0] is "trace". */
int trace_main(int argc, char **argv);
/* `wirelog-sensor conntrack` (sensor/conntrack.c): argv[0] is "conntrack". */
int conntrack_main(int argc, char **argv);
/* `wirelog-sensor netdev ...` (sensor/netdev.c): argv[0] is "netdev". */
int netdev_main(int argc, char **argv);

#endif
