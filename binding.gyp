{
  "targets": [
    {
      "target_name": "stableid_fuse",
      "sources": [
        "lib/fuse/native/addon.c",
        "lib/fuse/native/attr.c",
        "lib/fuse/native/caps.c",
        "lib/fuse/native/backing.c",
        "lib/fuse/native/data.c",
        "lib/fuse/native/init.c",
        "lib/fuse/native/io.c",
        "lib/fuse/native/mount.c",
        "lib/fuse/native/fsmount.c",
        "lib/fuse/native/ops.c",
        "lib/fuse/native/replies.c",
        "lib/fuse/native/reqs.c",
        "lib/fuse/native/session.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fvisibility=hidden"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "stableid_sys",
      "sources": ["lib/sys/native/sys.c", "lib/sys/native/listdir.c", "lib/sys/native/node-error.c"],
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
