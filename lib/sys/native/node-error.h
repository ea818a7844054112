// A Node-style error for an errno (err.code = 'ENOENT', err.errno = -2,
// err.syscall), so lib/errno.ts maps the sys and handles addons' errors as it
// maps Node's own. Shared by both addons (each links its own copy).
#pragma once
#include <node_api.h>

// "ENOENT: No such file or directory, SYSCALL 'WHAT'" (WHAT may be NULL).
napi_value node_error(napi_env env, int err, const char *syscall, const char *what);
