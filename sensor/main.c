// SPDX-License-Identifier: MIT
/*
 * wirelog-sensor: the privileged half of wirelog. One binary, one mode per run:
 *
 *   wirelog-sensor [packet] [-i IFNAME] [-p PORTS|any] ...   (sensor/packet.c: packets of chosen ports, AF_PACKET)
 *   wirelog-sensor trace -p PID ...                          (sensor/trace.c: syscall and TLS tracing)
 *   wirelog-sensor conntrack                                 (sensor/conntrack.c: conntrack entries for tuples on stdin)
 *   wirelog-sensor netdev [--netns all|INODE,...] ...        (sensor/netdev.c: packets at every device of chosen netns)
 *
 * Exit codes: 0 clean stop (SIGINT/SIGTERM/SIGHUP, the "stop" command or the end of a piped stdin, stdout closed,
 * the parent gone), 1 runtime failure (permissions, BPF), 2 usage.
 */
#include <string.h>

#include "modes.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "trace") == 0)
		return trace_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "conntrack") == 0)
		return conntrack_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "netdev") == 0)
		return netdev_main(argc - 1, argv + 1);
	return packet_main(argc, argv);
}
