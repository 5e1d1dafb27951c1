"""How the mirror's modules end: a result with failures fails the task, unless allow_partial.

Only the standard library: the modules import it before they know what the target has.
"""

from __future__ import annotations


def exit_with(module, name: str, result: dict, incomplete: str) -> None:
    """exit_json with ``result``; fail_json naming the first reasons when it lists failures
    and the task does not ``allow_partial`` (a warning then). ``incomplete`` says what is
    missing, for the message ("the mirror is incomplete")."""
    failures = result["failures"]
    if failures:
        count = f"{len(failures)} failure{'' if len(failures) == 1 else 's'}"
        reasons = "; ".join(f["reason"] for f in failures[:5])
        if not module.params["allow_partial"]:
            module.fail_json(msg=f"{name}: {count}, {incomplete} (set allow_partial=true to "
                                 f"accept): {reasons}", **result)
        module.warn(f"{incomplete}, {count} (allow_partial): {reasons}")
    module.exit_json(**result)
