{
  "targets": [
    {
      "target_name": "bpf_loader",
      "sources": ["src/main.c", "src/handle.c", "src/reader.c", "src/probe.c", "src/log.c", "src/errors.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-lbpf", "-lelf", "-lz", "-lpthread"]
    }
  ]
}
