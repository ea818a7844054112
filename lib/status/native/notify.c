// stableid_notify.node: one datagram to systemd's notify socket (sd_notify(3)
// without libsystemd). Node's sockets are streams or UDP only, and the
// readiness message must come from the main process itself: systemd accepts
// it from the service's main pid (NotifyAccess=main), which a spawned
// systemd-notify is not.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value fail(napi_env env, int err, const char *what) {
  napi_value code, msg, error;
  const char *name = strerrorname_np(err);
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_throw(env, error);
  return NULL;
}

// notify(socketPath, message): "@name" is an abstract socket, as in
// $NOTIFY_SOCKET. Never blocks: a full receive queue is EAGAIN.
static napi_value js_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t plen = 0, mlen = 0;
  char msg[4096];
  if (argc != 2 || napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof sa.sun_path, &plen) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &mlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "notify(socketPath: string, message: string)");
    return NULL;
  }
  if (plen == 0 || plen >= sizeof sa.sun_path - 1 || mlen >= sizeof msg - 1) return fail(env, EINVAL, "notify socket path or message too long");
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
  else if (sa.sun_path[0] != '/') return fail(env, EINVAL, "NOTIFY_SOCKET must be an absolute path or @abstract");
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (sa.sun_path[0] ? 1 : 0));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket");
  ssize_t n = sendto(fd, msg, mlen, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
  int err = errno;
  close(fd);
  if (n < 0) return fail(env, err, "sendto NOTIFY_SOCKET");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {{"notify", NULL, js_notify, NULL, NULL, NULL, napi_default, NULL}};
  napi_define_properties(env, exports, 1, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
