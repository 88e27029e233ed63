"""Reads the table `strace -c` writes: calls and errors per syscall (shared by h1_profile.py and syscalls.py)."""
import re


def parse_strace_summary(text):
    """strace -c table -> {syscall: (calls, errors)}; the total line is left out."""
    calls = {}
    for line in text.splitlines():
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) >= 5 and re.fullmatch(r"[\d.]+", f[0]) and f[-1] != "total":
            nums = f[3:-1]
            calls[f[-1]] = (int(nums[0]), int(nums[1]) if len(nums) > 1 else 0)
    return calls
