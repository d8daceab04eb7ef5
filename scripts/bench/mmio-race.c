// SPDX-License-Identifier: GPL-2.0-only
/*
 * mmio-race: does the emulator route MMIO by the memory map of the moment,
 * also while another CPU keeps changing that map?  A check of the test
 * bench itself, run inside the test VM as root:
 *
 *   mmio-race SECONDS BDF
 *
 * A reader thread, pinned to CPU 1, reads the local APIC's version register
 * through /dev/mem in long straight-line runs (one translation block of the
 * emulator holds many of them) and counts the reads that do not return the
 * value it read first.  The main thread, pinned to CPU 0, keeps toggling
 * memory decoding of the PCI device BDF, whose BARs sit below the APIC page
 * in the physical address map, so the emulator renders its memory map anew
 * again and again under the reader's feet.  BDF must have no driver; its
 * command register is restored at the end.
 *
 * QEMU 10.0 without qemu/patches/0001-physmem-stale-tlb-section.patch
 * sends some of those reads to whatever region took the APIC's section
 * number in the new map (docs/dev-notes.md, "Lost interrupts").
 *
 * Prints one line of counts; exit status 0 if every read returned the
 * APIC's value, 1 if not, 2 if the check could not run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define APIC_BASE	0xfee00000UL
#define APIC_VERSION	(0x30 / 4)
#define PCI_COMMAND	0x04
#define PCI_COMMAND_MEMORY 0x2

static volatile uint32_t *apic;
static volatile int stop;
static uint32_t ref;
static unsigned long long reads, bad;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* No branches: a conditional branch ends the emulator's translation block. */
#define R1	n += apic[APIC_VERSION] != r
#define R8	R1; R1; R1; R1; R1; R1; R1; R1
#define R64	R8; R8; R8; R8; R8; R8; R8; R8

static void *reader(void *arg)
{
	const uint32_t r = ref;
	unsigned int n;

	(void)arg;
	if (pin(1)) {
		perror("mmio-race: pin reader to CPU 1");
		exit(2);
	}
	while (!stop) {
		n = 0;
		R64;
		reads += 64;
		bad += n;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long long toggles = 0;
	char path[128];
	pthread_t t;
	uint16_t cmd, c, orig;
	double end;
	int fd, cfg;

	if (argc != 3) {
		fprintf(stderr, "usage: mmio-race SECONDS BDF\n");
		return 2;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "mmio-race: needs 2 CPUs\n");
		return 2;
	}
	fd = open("/dev/mem", O_RDONLY | O_SYNC);
	if (fd < 0) {
		perror("mmio-race: /dev/mem");
		return 2;
	}
	apic = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, APIC_BASE);
	if (apic == MAP_FAILED) {
		perror("mmio-race: mmap of the local APIC");
		return 2;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", argv[2]);
	cfg = open(path, O_RDWR);
	if (cfg < 0 || pread(cfg, &cmd, 2, PCI_COMMAND) != 2) {
		fprintf(stderr, "mmio-race: %s: %s\n", path, strerror(errno));
		return 2;
	}
	orig = cmd;
	cmd |= PCI_COMMAND_MEMORY;
	if (pin(0)) {
		perror("mmio-race: pin to CPU 0");
		return 2;
	}
	ref = apic[APIC_VERSION];
	if (pthread_create(&t, NULL, reader, NULL)) {
		fprintf(stderr, "mmio-race: cannot start the reader\n");
		return 2;
	}
	end = now() + atof(argv[1]);
	while (now() < end) {
		c = cmd & ~PCI_COMMAND_MEMORY;
		if (pwrite(cfg, &c, 2, PCI_COMMAND) != 2 ||
		    pwrite(cfg, &cmd, 2, PCI_COMMAND) != 2) {
			perror("mmio-race: config write");
			stop = 1;
			pthread_join(t, NULL);
			return 2;
		}
		toggles++;
	}
	stop = 1;
	pthread_join(t, NULL);
	if (pwrite(cfg, &orig, 2, PCI_COMMAND) != 2)
		perror("mmio-race: restoring the command register");
	printf("mmio-race: %llu map changes, %llu reads of APIC version 0x%x, %llu wrong\n",
	       2 * toggles, reads, ref, bad);
	return bad ? 1 : !toggles || !reads ? 2 : 0;
}
