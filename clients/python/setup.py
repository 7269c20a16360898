"""`pip install ./clients/python`: the feedloop client and the reference
plug-ins, with the gRPC stubs generated from ../../proto at install.

Nothing is downloaded: the dependencies are Debian's python3-grpcio,
python3-protobuf, python3-pandas and python3-numpy, and the stubs come from
protoc and grpc_python_plugin (Debian's protobuf-compiler and
protobuf-compiler-grpc, which scripts/bootstrap installs). In a virtual environment,
create it with `python3 -m venv --system-site-packages` so Debian's packages
are seen, and install with `pip install --no-index --no-build-isolation`:
an isolated build would try to download setuptools (there is deliberately no
pyproject.toml, which makes pip 23 build in place already; newer pips need
the flag).
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")
PROTOS = ["config", "types", "ingest", "diversity", "ranker", "generator", "experiment",
          "summary"]


class BuildWithStubs(build_py):
    """Generates feedloop/v1/*_pb2*.py into the build folder, then builds."""

    def run(self):
        super().run()
        out = os.path.join(self.build_lib)
        sources = [os.path.join(PROTO_ROOT, "feedloop", "v1", f"{p}.proto") for p in PROTOS]
        missing = [s for s in sources if not os.path.exists(s)]
        if missing:
            sys.exit(f"feedloop: {missing[0]} not found: install from a feedloop checkout "
                     f"(pip install ./clients/python)")
        for tool in ("protoc", "grpc_python_plugin"):
            if shutil.which(tool) is None:
                sys.exit(f"feedloop: {tool} not found: apt-get install protobuf-compiler "
                         f"protobuf-compiler-grpc (scripts/bootstrap installs both)")
        os.makedirs(os.path.join(out, "feedloop", "v1"), exist_ok=True)
        subprocess.run(
            ["protoc", f"--python_out={out}", f"--grpc_python_out={out}",
             f"--plugin=protoc-gen-grpc_python={shutil.which('grpc_python_plugin')}",
             "-I", PROTO_ROOT] + sources, check=True)
        open(os.path.join(out, "feedloop", "v1", "__init__.py"), "w").close()


setup(
    name="feedloop",
    version="0.2.0",
    description="Client and reference plug-ins for feedloop, a testbed that couples a "
                "content generator to a ranker and measures diversity",
    packages=["feedloop", "feedloop.plugins"],
    python_requires=">=3.11",
    install_requires=["grpcio", "protobuf", "pandas", "numpy"],
    cmdclass={"build_py": BuildWithStubs},
)
