"""Find or build the compiled corr4d library (CMake + nvcc); torch-free.

    python -m kernels.build [--build-dir build] [--archs "87;89;90"] [--tensorrt-root DIR]

The library is looked up as $RT_EDGE_KERNELS_LIB when set, else build/librt_edge_corr4d.so in the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BUILD_DIR = REPO / "build"
LIB_NAME = "librt_edge_corr4d.so"
PLUGIN_NAME = "librt_edge_corr4d_plugin.so"
TEST_NAME = "test_corr4d"
ENV_LIB = "RT_EDGE_KERNELS_LIB"


def library_path() -> Path | None:
    """The compiled kernel library: $RT_EDGE_KERNELS_LIB (which must exist) or build/<lib>; None when not built."""
    env = os.environ.get(ENV_LIB)
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"{ENV_LIB}={env} does not name a file (expected the built {LIB_NAME})")
        return p
    p = DEFAULT_BUILD_DIR / LIB_NAME
    return p if p.is_file() else None


def find_nvcc() -> str | None:
    """nvcc on PATH, $CUDACXX, or the standard /usr/local/cuda/bin/nvcc."""
    for cand in (os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def missing_tools() -> list[str]:
    """Names of the build tools that are not installed (empty: cmake and nvcc both found)."""
    return [name for name, path in (("cmake", shutil.which("cmake")), ("nvcc", find_nvcc())) if path is None]


def build(build_dir: str | os.PathLike = DEFAULT_BUILD_DIR, archs: str | None = None, build_type: str = "Release",
          tensorrt_root: str | os.PathLike | None = None, jobs: int | None = None, nvcc_fallback: bool = False) -> Path:
    """Configure and build the CMake project into `build_dir`; returns the directory holding the outputs.

    archs: CMAKE_CUDA_ARCHITECTURES (e.g. "90"; default the project's "87;89;90").
    nvcc_fallback: without cmake, compile the library and the C++ test with nvcc directly (no plugin).
    FileNotFoundError when cmake or nvcc is missing; RuntimeError with the log's tail when the build fails.
    """
    missing = missing_tools()
    if missing == ["cmake"] and nvcc_fallback:
        return build_with_nvcc(build_dir, archs or "87;89;90", debug=build_type == "Debug")
    if missing:
        raise FileNotFoundError(f"cannot build the corr4d kernels: {', '.join(missing)} not found "
                                "(install CMake >= 3.24 and the CUDA toolkit)")
    out = Path(build_dir)
    cmd = ["cmake", "-S", str(REPO), "-B", str(out), f"-DCMAKE_BUILD_TYPE={build_type}",
           f"-DCMAKE_CUDA_COMPILER={find_nvcc()}"]
    if archs:
        cmd.append(f"-DCMAKE_CUDA_ARCHITECTURES={archs}")
    if tensorrt_root:
        cmd.append(f"-DTensorRT_ROOT={tensorrt_root}")
    for step in (cmd, ["cmake", "--build", str(out), "-j", str(jobs or os.cpu_count() or 1)]):
        r = subprocess.run(step, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(step[:2])} failed ({r.returncode}):\n{(r.stdout + r.stderr)[-4000:]}")
    return out


def build_with_nvcc(build_dir: str | os.PathLike, archs: str = "87;89;90", debug: bool = False) -> Path:
    """The library and the C++ test compiled by nvcc alone (for machines without CMake); returns `build_dir`."""
    nvcc = find_nvcc()
    if nvcc is None:
        raise FileNotFoundError("nvcc not found (install the CUDA toolkit)")
    out = Path(build_dir)
    out.mkdir(parents=True, exist_ok=True)
    csrc = REPO / "kernels" / "csrc"
    flags = ["-std=c++17", "-lineinfo", "-G" if debug else "-O3", "-cudart", "static"]
    for a in archs.split(";"):
        flags += ["-gencode", f"arch=compute_{a},code=sm_{a}"]
    steps = [
        [nvcc, *flags, "-shared", "-Xcompiler", "-fPIC,-fvisibility=hidden", str(csrc / "corr4d.cu"),
         "-o", str(out / LIB_NAME)],
        [nvcc, *flags, f"-I{csrc}", str(csrc / "test_corr4d.cu"), f"-L{out}", "-lrt_edge_corr4d",
         f"-Xlinker=-rpath,{out.resolve()}", "-o", str(out / TEST_NAME)],
    ]
    for step in steps:
        r = subprocess.run(step, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nvcc failed ({r.returncode}):\n{(r.stdout + r.stderr)[-4000:]}")
    return out


DESCRIPTION = ("Build the fused corr4d CUDA kernel library, its C++ test and (with TensorRT headers) the TensorRT "
               "plugin with CMake.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--build-dir", default=str(DEFAULT_BUILD_DIR), help="CMake build directory (default: build/)")
    p.add_argument("--archs", help='CUDA architectures, e.g. "90" (default: "87;89;90")')
    p.add_argument("--tensorrt-root", help="TensorRT install holding include/NvInfer.h (builds the plugin)")
    p.add_argument("--debug", action="store_true", help="Debug build instead of Release")


def run(args: argparse.Namespace) -> int:
    try:
        out = build(args.build_dir, archs=args.archs, build_type="Debug" if args.debug else "Release",
                    tensorrt_root=args.tensorrt_root)
    except RuntimeError as e:
        raise ValueError(str(e)) from None  # one line, exit 2
    built = [n for n in (LIB_NAME, TEST_NAME, PLUGIN_NAME) if (out / n).exists()]
    print(f"built {', '.join(built)} in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from rt_edge.subcommands import standalone

    return standalone("python -m kernels.build", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
