"""Reference plug-ins: a ranker and a generator written in Python against
feedloop's gRPC protocol (docs/plugins.md). Each is one short file, meant to
be read and copied:

    python3 -m feedloop.plugins.knn_ranker --store 127.0.0.1:7001 --listen 127.0.0.1:7102
    python3 -m feedloop.plugins.mixture_generator --store 127.0.0.1:7001 --listen 127.0.0.1:7103
    feedloop conformance ranker 127.0.0.1:7102 --store 127.0.0.1:7001
    feedloop run --store 127.0.0.1:7001 --ranker 127.0.0.1:7102 --generator 127.0.0.1:7103
"""
