#define _GNU_SOURCE
#define NAPI_VERSION 8
#include "node-error.h"
#include <stdio.h>
#include <string.h>

napi_value node_error(napi_env env, int err, const char *syscall, const char *what) {
  const char *name = strerrorname_np(err);
  char text[512];
  snprintf(text, sizeof text, "%s: %s, %s%s%.300s%s", name ? name : "EIO", strerror(err), syscall, what ? " '" : "", what ? what : "",
           what ? "'" : "");
  napi_value v, code, msg, sc, errnum;
  napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, v, "syscall", sc);
  napi_create_int32(env, -err, &errnum);  // Node's convention: negative errno
  napi_set_named_property(env, v, "errno", errnum);
  return v;
}
