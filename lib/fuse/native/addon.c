// Module entry of stableid_fuse.node: session functions, the op table and replies.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include "common.h"

napi_value sf_throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EIO", msg);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  sf_session_register(env, exports);
  sf_ops_register(env, exports);
  sf_reply_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
