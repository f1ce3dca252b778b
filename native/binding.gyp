{ "targets": [ { "target_name": "bpf_loader", "sources": [], "libraries": [] } ] }
