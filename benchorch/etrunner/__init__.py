"""The ExecuTorch runner: our own host build, upstream executor_runner builds, registering one."""
