// Getting a /dev/fuse connection mounted: mount(2) as root, or fusermount3
// (setuid root) for anyone else, which mounts and passes the device back
// over a socket (_FUSE_COMMFD), as libfuse does.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mount.h"

extern char **environ;

// The directory at an absolute, normalised path, reached one component at a
// time without following any symbolic link (O_NOFOLLOW at each step). The
// path is canonical already: lib/cli/mountpoint.ts followed the links only
// root can change. A link here was put there since by someone who can write
// a directory on the path, who could otherwise point it elsewhere between the
// checks and mount(2), and have this root-made mount land over /etc, say.
// Walks all components, or all but the last (`parent`, for unmount: *last is
// then set to it). An O_PATH descriptor, or -1 with err set and errno.
static int open_dir_nolinks(const char *path, int parent, const char **last, char *err, size_t errlen) {
  size_t len = strlen(path);
  char buf[4096];
  if (path[0] != '/' || len >= sizeof buf) {
    snprintf(err, errlen, "%s: the mountpoint must be an absolute path shorter than %zu bytes", path, sizeof buf);
    errno = EINVAL;
    return -1;
  }
  memcpy(buf, path, len + 1);
  int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "/: %s", strerror(errno));
    return -1;
  }
  char *p = buf + 1;
  while (*p) {
    char *name = p, *slash = strchr(p, '/');
    p = slash ? slash + 1 : name + strlen(name);
    if (slash) *slash = '\0';
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
      close(fd);
      snprintf(err, errlen, "%s: the mountpoint must be a normalised path (no empty, . or .. components)", path);
      errno = EINVAL;
      return -1;
    }
    if (parent && !*p) {
      *last = path + (name - buf);
      break;
    }
    int next = openat(fd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (next < 0) {
      int e = errno;
      struct stat st;
      int link = e == ENOTDIR && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
      close(fd);
      size_t at = (size_t)(p - buf) - (*p ? 1 : 0);  // the path up to and including this component
      if (link && !*p)
        snprintf(err, errlen, "%s is a symbolic link: nothing was mounted; give the directory it points to as MNT (realpath %s)", path, path);
      else if (link)
        snprintf(err, errlen, "%.*s, on the path to %s, is a symbolic link now: it changed after stableid resolved the path "
                 "(someone who can write the directory holding it?); nothing was mounted", (int)at, path, path);
      else
        snprintf(err, errlen, "%.*s: %s", (int)at, path, strerror(e));
      errno = link ? ELOOP : e;
      return -1;
    }
    close(fd);
    fd = next;
  }
  if (parent && !*last) {
    close(fd);
    snprintf(err, errlen, "/ cannot be unmounted here");
    errno = EINVAL;
    return -1;
  }
  return fd;
}

static int mount_as_root(const struct mount_spec *m, unsigned *connection, char *err, size_t errlen) {
  // The mount goes on exactly the directory checked here, through its
  // descriptor: /proc/self/fd/N names that inode whatever the path does since.
  // mountinfo still shows the real path (the kernel records where it landed).
  int dir = open_dir_nolinks(m->mountpoint, 0, NULL, err, errlen);
  if (dir < 0) return -1;
  struct stat st;
  if (fstat(dir, &st) != 0) {
    snprintf(err, errlen, "%s: %s", m->mountpoint, strerror(errno));
    close(dir);
    return -1;
  }
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    close(dir);
    snprintf(err, errlen, "/dev/fuse: %s (load the fuse module, or in a container pass --device /dev/fuse)", strerror(errno));
    return -1;
  }
  int how = sf_fsmount(m, dir, fd, st.st_mode & S_IFMT, connection, err, errlen);
  if (how == 0 || how == -2) {
    int e = errno;
    close(dir);
    if (how == 0) return fd;
    close(fd);
    return errno = e, -1;
  }
  // No new mount API (kernels before 5.2, a seccomp filter): mount(2); the
  // caller then reads the connection from mountinfo.
  char data[4096], target[32];
  snprintf(target, sizeof target, "/proc/self/fd/%d", dir);
  int n = snprintf(data, sizeof data, "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s", fd, st.st_mode & S_IFMT, getuid(), getgid(),
                   m->data[0] ? "," : "", m->data);
  if (n < 0 || (size_t)n >= sizeof data) {
    close(fd);
    close(dir);
    snprintf(err, errlen, "mount options too long");
    return -1;
  }
  if (mount(m->fsname, target, m->fstype, m->flags, data) != 0) {
    int e = errno;
    close(fd);
    close(dir);
    snprintf(err, errlen, "mount(%s on %s): %s%s", m->fstype, m->mountpoint, strerror(e),
             e == ENOENT ? " (the mount goes through /proc/self/fd: is /proc mounted?)" : "");
    errno = e;
    return -1;
  }
  close(dir);
  return fd;
}

static int receive_fd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  char ctl[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static int mount_with_fusermount(const struct mount_spec *m, char *err, size_t errlen) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    snprintf(err, errlen, "socketpair: %s", strerror(errno));
    return -1;
  }
  fcntl(sv[0], F_SETFD, FD_CLOEXEC);
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  char **env = calloc(nenv + 2, sizeof *env);
  char commfd[32];
  snprintf(commfd, sizeof commfd, "_FUSE_COMMFD=%d", sv[1]);
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++)
    if (strncmp(environ[i], "_FUSE_COMMFD=", 13) != 0) env[k++] = environ[i];
  env[k++] = commfd;
  char *argv[] = {"fusermount3", "-o", (char *)m->fusermount_opts, "--", (char *)m->mountpoint, NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, env);
  free(env);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    snprintf(err, errlen, "fusermount3: %s (install the Debian package fuse3, or mount as root)", strerror(rc));
    return -1;
  }
  int fd = receive_fd(sv[0]);
  close(sv[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (fd < 0) {
    snprintf(err, errlen, "fusermount3 did not mount %s (exit status %d; its message is on stderr)", m->mountpoint,
             WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return -1;
  }
  return fd;
}

int sf_fuse_mount_device(const struct mount_spec *m, unsigned *connection, char *err, size_t errlen) {
  *connection = 0;
  if (geteuid() == 0) return mount_as_root(m, connection, err, errlen);
  return mount_with_fusermount(m, err, errlen);
}

int sf_fuse_unmount_lazy(const char *mountpoint) {
  if (geteuid() != 0) return EPERM;  // the caller runs `fusermount3 -u -z`
  // As for the mount: reached without links, or a user who swapped a
  // directory on the path for one could have root unmount any host mount.
  char err[600], target[4200];
  const char *last = NULL;
  int dir = open_dir_nolinks(mountpoint, 1, &last, err, sizeof err);
  if (dir < 0) return errno;
  snprintf(target, sizeof target, "/proc/self/fd/%d/%s", dir, last);
  int rc = umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0 ? 0 : errno;
  close(dir);
  return rc;
}
