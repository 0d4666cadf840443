{
  "targets": [{
    "target_name": "s2deflate",
    "sources": ["s2deflate.c"],
    "libraries": ["-ldeflate"],
    "cflags": ["-O2", "-Wall"]
  }]
}
