// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host channel of the MVF test VM (mvf_host.h): a request is a file
 * req.ID.json in the channel directory, the answer rep.ID.json; each side
 * writes under a name starting with '.' and renames it into place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mvf_dev.h"
#include "mvf_host.h"

#define MVF_HOST_DIR_DEFAULT	"/tmp/out/host-channel"
#define MVF_HOST_POLL_MS	20
#define MVF_HOST_REPLY_MAX	65536

static const char *mvf_host_dir(void)
{
	const char *d = getenv("MVF_HOST_DIR");

	return d && *d ? d : MVF_HOST_DIR_DEFAULT;
}

static int mvf_host_write_file(const char *path, const char *data)
{
	size_t len = strlen(data), off = 0;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		off += n;
	}
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

/* The whole file, NUL terminated, in a malloc'ed buffer */
static int mvf_host_read_file(const char *path, char **out)
{
	char *buf = malloc(MVF_HOST_REPLY_MAX);
	size_t off = 0;
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	while (off < MVF_HOST_REPLY_MAX - 1) {
		ssize_t n = read(fd, buf + off, MVF_HOST_REPLY_MAX - 1 - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (!n)
			break;
		off += n;
	}
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	while (off && (buf[off - 1] == '\n' || buf[off - 1] == '\r'))
		off--;
	buf[off] = '\0';
	*out = buf;
	return 0;
}

int mvf_host_qmp(const char *json, char *reply, size_t len)
{
	static unsigned int seq;
	const char *dir = mvf_host_dir();
	char tmp[PATH_MAX], req[PATH_MAX], rep[PATH_MAX];
	struct timespec poll = { 0, MVF_HOST_POLL_MS * 1000000L };
	long waited_ms;
	struct stat st;
	char *ans = NULL;
	int ret;

	if (reply && len)
		reply[0] = '\0';
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr,
			"mvf_host: no host channel at %s (not a vm-run.sh VM?)\n",
			dir);
		return -ENOENT;
	}
	seq++;
	snprintf(tmp, sizeof(tmp), "%s/.req.c%d-%u.tmp", dir, getpid(), seq);
	snprintf(req, sizeof(req), "%s/req.c%d-%u.json", dir, getpid(), seq);
	snprintf(rep, sizeof(rep), "%s/rep.c%d-%u.json", dir, getpid(), seq);
	ret = mvf_host_write_file(tmp, json);
	if (!ret && rename(tmp, req))
		ret = -errno;
	if (ret) {
		fprintf(stderr, "mvf_host: cannot write %s: %s\n", req,
			strerror(-ret));
		unlink(tmp);
		return ret;
	}

	for (waited_ms = 0; access(rep, F_OK); waited_ms += MVF_HOST_POLL_MS) {
		if (waited_ms >= MVF_HOST_TIMEOUT_S * 1000L) {
			unlink(req);
			fprintf(stderr,
				"mvf_host: no answer from the host relay in %d s to %s\n",
				MVF_HOST_TIMEOUT_S, json);
			return -ETIMEDOUT;
		}
		nanosleep(&poll, NULL);
	}
	ret = mvf_host_read_file(rep, &ans);
	unlink(rep);
	if (ret) {
		fprintf(stderr, "mvf_host: cannot read %s: %s\n", rep,
			strerror(-ret));
		return ret;
	}
	if (reply && len)
		snprintf(reply, len, "%s", ans);
	if (strncmp(ans, "{\"error\"", 8) == 0) {
		fprintf(stderr, "mvf_host: %s -> %s\n", json, ans);
		ret = -EREMOTEIO;
	}
	free(ans);
	return ret;
}

static int mvf_host_read_hex(const char *dir, const char *file,
			     unsigned int *val)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ret = fscanf(f, "%x", val) == 1 ? 0 : -EINVAL;
	fclose(f);
	return ret;
}

static int mvf_host_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int mvf_host_fn(const char *bdf, char *pf_id, char *fn)
{
	const char *sys = "/sys/bus/pci/devices";
	char path[PATH_MAX], pf[64], vfn[64];
	struct dirent **ents;
	int n, i, k = 0, ret = -ENODEV;

	snprintf(path, sizeof(path), "%s/%s/physfn", sys, bdf);
	if (!mvf_sysfs_link_name(path, pf, sizeof(pf))) {
		fn[0] = '\0';
		for (i = 0; ; i++) {
			snprintf(path, sizeof(path), "%s/%s/virtfn%d", sys, pf,
				 i);
			if (mvf_sysfs_link_name(path, vfn, sizeof(vfn)))
				break;
			if (!strcmp(vfn, bdf)) {
				snprintf(fn, MVF_HOST_ID_LEN, "vf%d", i);
				break;
			}
		}
		if (!fn[0])
			goto out;
	} else {
		snprintf(pf, sizeof(pf), "%s", bdf);
		snprintf(fn, MVF_HOST_ID_LEN, "pf");
	}

	n = scandir(sys, &ents, NULL, mvf_host_cmp);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		unsigned int vendor, device;

		snprintf(path, sizeof(path), "%s/%s", sys, ents[i]->d_name);
		if (mvf_host_read_hex(path, "vendor", &vendor) ||
		    mvf_host_read_hex(path, "device", &device) ||
		    vendor != 0x6d76 || device != 0x1000)
			continue;
		k++;
		if (!strcmp(ents[i]->d_name, pf)) {
			snprintf(pf_id, MVF_HOST_ID_LEN, "pf%d", k);
			ret = 0;
		}
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
out:
	if (ret)
		fprintf(stderr, "mvf_host: %s is not an MVF function\n", bdf);
	return ret;
}

static int mvf_host_set_pf(const char *pf_id, const char *prop,
			   const char *value)
{
	char json[512];

	snprintf(json, sizeof(json),
		 "{\"execute\": \"qom-set\", \"arguments\": {\"path\": "
		 "\"/machine/peripheral/%s\", \"property\": \"%s\", "
		 "\"value\": \"%s\"}}", pf_id, prop, value);
	return mvf_host_qmp(json, NULL, 0);
}

int mvf_host_aer_inject(const char *bdf, const char *kind)
{
	char pf_id[MVF_HOST_ID_LEN], fn[MVF_HOST_ID_LEN], value[64];
	int ret;

	ret = mvf_host_fn(bdf, pf_id, fn);
	if (ret)
		return ret;
	snprintf(value, sizeof(value), "%s %s", fn, kind);
	return mvf_host_set_pf(pf_id, "aer-inject", value);
}

int mvf_host_link_set(const char *pf_bdf, int speed, int width)
{
	char pf_id[MVF_HOST_ID_LEN], fn[MVF_HOST_ID_LEN], value[32];
	int ret;

	ret = mvf_host_fn(pf_bdf, pf_id, fn);
	if (ret)
		return ret;
	if (strcmp(fn, "pf")) {
		fprintf(stderr, "mvf_host: %s is not a PF\n", pf_bdf);
		return -EINVAL;
	}
	snprintf(value, sizeof(value), "%d %d", speed, width);
	return mvf_host_set_pf(pf_id, "link", value);
}
