{
  "targets": [
    {
      "target_name": "stableid_fuse",
      "sources": [
        "lib/fuse/native/addon.c",
        "lib/fuse/native/attr.c",
        "lib/fuse/native/replies.c",
        "lib/fuse/native/requests.c",
        "lib/fuse/native/session.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "<!@(pkg-config --cflags fuse3)"],
      "libraries": ["<!@(pkg-config --libs fuse3)", "-lpthread"]
    },
    {
      "target_name": "stableid_sys",
      "sources": ["lib/sys/native/sys.c", "lib/sys/native/node-error.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "stableid_handles",
      "sources": ["lib/sys/native/handles.c", "lib/sys/native/node-error.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "stableid_lock",
      "sources": ["lib/table/native/lock.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "stableid_notify",
      "sources": ["lib/status/native/notify.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
