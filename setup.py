"""Builds the C extension `zkevm._poseidon` (Goldilocks Poseidon) at install time.

Everything else about the package lives in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zkevm._poseidon",
            sources=["zkevm/_poseidon.c"],
            extra_compile_args=["-O3", "-std=c11"],
        )
    ]
)
