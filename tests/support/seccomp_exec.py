#!/usr/bin/python3
"""Runs a command under the seccomp filter a systemd unit's SystemCallFilter= lines describe.

    seccomp_exec.py UNIT [--strict] -- COMMAND [ARGS...]

The filter is built the way systemd builds it: the groups (@system-service, @resources, ...) are
expanded with `systemd-analyze syscall-filter`, the first line decides whether the list allows
or denies, @default is always allowed on an allow list, later lines add (no `~`) or remove
(`~`) calls in order. A denied call kills the process (systemd's default) or fails with the
unit's SystemCallErrorNumber=. With --strict every denied call kills, so a run that survives
made no call outside the allowed set at all. Needs Debian's python3-seccomp (/usr/bin/python3).
"""

import errno
import os
import subprocess
import sys

import seccomp


def service_lines(unit):
    """(key, value) pairs of the [Service] section, in order."""
    out, section = [], None
    with open(unit, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "Service" and "=" in line:
                key, value = line.split("=", 1)
                out.append((key.strip(), value.strip()))
    return out


def groups():
    """Every @group systemd knows, with its members (calls and nested groups)."""
    text = subprocess.run(
        ["systemd-analyze", "syscall-filter", "--no-pager"],
        check=True, capture_output=True, text=True,
    ).stdout
    out, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if raw.startswith("@"):
            current = out.setdefault(line, [])
        elif current is not None:
            current.append(line)
    return out


def expand(names, table, seen=None):
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if name.startswith("@"):
            if name in seen:
                continue
            seen.add(name)
            if name not in table:
                sys.exit(f"unknown syscall group {name}")
            calls |= expand(table[name], table, seen)
        else:
            calls.add(name.split(":", 1)[0])
    return calls


def allowed_calls(lines, table):
    """The set of calls the unit allows (or, for a deny-first unit, denies) and the mode."""
    allow_list, calls = None, set()
    for key, value in lines:
        if key != "SystemCallFilter":
            continue
        if not value:
            allow_list, calls = None, set()
            continue
        deny = value.startswith("~")
        items = expand(value.lstrip("~").split(), table)
        if allow_list is None:
            allow_list = not deny
            calls = set(items) | (expand(["@default"], table) if allow_list else set())
        elif allow_list != deny:
            calls |= items  # same kind as the first line: widens it
        else:
            calls -= items  # the other kind: narrows it
    if allow_list is None:
        sys.exit("the unit has no SystemCallFilter=")
    return allow_list, calls


def main():
    args = sys.argv[1:]
    if "--" not in args or not args:
        sys.exit(__doc__)
    sep = args.index("--")
    unit, flags, command = args[0], args[1:sep], args[sep + 1:]
    strict = "--strict" in flags
    lines = service_lines(unit)
    allow_list, calls = allowed_calls(lines, groups())
    errno_name = next((v for k, v in lines if k == "SystemCallErrorNumber"), None)
    deny = seccomp.KILL_PROCESS
    if errno_name and not strict:
        deny = seccomp.ERRNO(getattr(errno, errno_name))
    f = seccomp.SyscallFilter(defaction=deny if allow_list else seccomp.ALLOW)
    for name in sorted(calls):
        try:
            f.add_rule(seccomp.ALLOW if allow_list else deny, name)
        except (RuntimeError, ValueError, OSError):
            pass  # not a call on this architecture; systemd skips these too
    f.load()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
