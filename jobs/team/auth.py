"""Who is acting, and what they may do. `workspace/config.json`:

    "auth": {"mode": "none" | "header" | "oidc", "header": "X-Remote-User",
             "admins": ["alice"], "service_accounts": ["ci-bot"], "max_user_priority": 0}

- none (default): every job's owner is the OS user that submits it (the spool file's owner, the CLI's caller);
  everyone may do everything, as a one-person install expects.
- header: a reverse proxy that authenticates users passes the user name in a header; a request without it is refused.
- oidc: Streamlit's built-in login (st.login / st.user); the user is the email claim, else preferred_username.

Permissions are checked where the action happens (the CLI, the dashboard's buttons, the daemon's spool pickup), by
`may()`: only the owner or an admin may cancel, retry, delete, hold, release, re-prioritise, export or register a
job; reading (Try it, Compare) is open to all.
"""
from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field

from jobs.settings.notify_config import parse_config
from jobs.workspace import Workspace

MODES = ("none", "header", "oidc")
DEFAULT_HEADER = "X-Remote-User"
OWNER_ACTIONS = ("cancel", "retry", "delete", "hold", "release", "priority", "export", "register", "benchmark")
ADMIN_ACTIONS = ("settings", "register_model_path", "register_benchmark", "register_method")


@dataclass(frozen=True)
class AuthConfig:
    mode: str = "none"
    header: str = DEFAULT_HEADER
    admins: frozenset[str] = frozenset()
    service_accounts: frozenset[str] = frozenset()
    max_user_priority: int = 0
    problems: tuple[str, ...] = field(default=())

    @property
    def on(self) -> bool:
        return self.mode != "none"


def _names(value, where: str, problems: list[str]) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where} must be a list of user names, got {value!r}")
        return frozenset()
    return frozenset(v.strip() for v in value)


def load(ws: Workspace) -> AuthConfig:
    """config.json's auth section; a bad field is reported in `problems` and falls back to its safe default
    (an unknown mode falls back to header, so a typo never opens a team install)."""
    cfg, err = parse_config(ws)
    problems: list[str] = [err] if err else []
    raw = cfg.get("auth") or {}
    if not isinstance(raw, dict):
        return AuthConfig(problems=(*problems, f"auth must be an object, got {raw!r}"))
    mode = raw.get("mode", "none")
    if mode not in MODES:
        problems.append(f"auth.mode {mode!r} is not one of {', '.join(MODES)}; using header")
        mode = "header"
    header = raw.get("header", DEFAULT_HEADER)
    if not isinstance(header, str) or not header.strip():
        problems.append(f"auth.header must be a header name, got {header!r}")
        header = DEFAULT_HEADER
    mup = raw.get("max_user_priority", 0)
    if isinstance(mup, bool) or not isinstance(mup, int):
        problems.append(f"auth.max_user_priority must be an integer, got {mup!r}")
        mup = 0
    return AuthConfig(mode=mode, header=header.strip(), admins=_names(raw.get("admins"), "auth.admins", problems),
                      service_accounts=_names(raw.get("service_accounts"), "auth.service_accounts", problems),
                      max_user_priority=mup, problems=tuple(problems))


def os_user(uid: int | None = None) -> str:
    """The name of a uid (default: this process's user); the number itself when the system has no name for it."""
    uid = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def is_admin(cfg: AuthConfig, user: str | None) -> bool:
    return not cfg.on or (user is not None and user in cfg.admins)


def may(cfg: AuthConfig, user: str | None, action: str, owner: str | None) -> str | None:
    """None when `user` may do `action` on a job owned by `owner`; otherwise the reason, for the user.

    Without auth (mode none) everything is allowed. Admins may do everything."""
    if not cfg.on or is_admin(cfg, user):
        return None
    if user is None:
        return "you are not signed in"
    if action in ADMIN_ACTIONS:
        return f"only an admin may {action.replace('_', ' ')} (admins: {', '.join(sorted(cfg.admins)) or 'none'})"
    if action in OWNER_ACTIONS and owner != user:
        return f"only {owner or 'its owner'} or an admin may {action} this job"
    return None


def priority_problem(cfg: AuthConfig, user: str | None, priority: int) -> str | None:
    """A priority above max_user_priority is for admins only."""
    if cfg.on and not is_admin(cfg, user) and priority > cfg.max_user_priority:
        return f"priority {priority} is above {cfg.max_user_priority}, the highest a user may set; ask an admin"
    return None


def owner_for_drop(cfg: AuthConfig, dropper: str, named: object) -> tuple[str | None, str | None]:
    """(owner, None) for a spec dropped by `dropper` that may name an `owner`; (None, reason) when it may not."""
    if named is None or named == dropper:
        return dropper, None
    if not isinstance(named, str) or not named.strip():
        return None, f"owner must be a user name, got {named!r}"
    if dropper in cfg.admins or dropper in cfg.service_accounts:
        return named.strip(), None
    return None, (f"owner {named!r}: only an admin or a service account may submit for another user "
                  f"({dropper} is neither; see auth.service_accounts in config.json)")
