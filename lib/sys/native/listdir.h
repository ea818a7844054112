// listDir(fd): a directory's names with their d_ino and d_type, read with
// getdents64 on libuv's pool (lib/sys/native/listdir.c).
#pragma once
#include <node_api.h>

napi_value sys_listdir(napi_env env, napi_callback_info info);
