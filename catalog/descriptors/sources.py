"""Where a URL or git location's descriptor files come from, fetched under the crawler's network
policy (core.netpolicy: DISCOVERY_ALLOWED_NETWORKS, link-local refused, same-origin redirects
only) and within bounds (CATALOG_FETCH_TIMEOUT, CATALOG_MAX_BYTES per file,
CATALOG_GIT_MAX_BYTES per checkout, CATALOG_GIT_MAX_FILES). Errors are ``SourceError`` with a
message that names the rule, never the content a server sent.

git runs as a command: a shallow clone (``--depth 1 --branch``) into a fresh temporary directory,
no hooks, no credential prompts, no system or user configuration, symlinks checked out as plain
files (so neither a descriptor nor its ``$text`` can point outside the checkout), redirects not
followed, the host resolved once, checked and pinned (``http.curloptResolve``), protocols limited
to https (and file for local repositories when allowed). The process group is killed at the
deadline or once the checkout outgrows its cap."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings

from core.netpolicy import FetchRefused, check_url, fetch, make_session, resolve_allowed
from core.validators import split_url


class SourceError(Exception):
    """The location could not be read; the message says why (no fetched content in it)."""


@dataclass
class Fetched:
    files: list[tuple[str, bytes, Path | None]]  # (name, content, directory for $text)
    revision: str  # the git commit, or a digest of the URL's body
    digest: str  # sha256 over every file name and content
    ignored: list = field(default_factory=list)  # matched files that declare no apiVersion


def digest_of(files) -> str:
    h = hashlib.sha256()
    for name, content, _ in files:
        h.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return h.hexdigest()


# --- URL locations ------------------------------------------------------------------------------
def fetch_url(url: str) -> Fetched:
    """GET one descriptor file. ``$text`` is not read for a URL location (nothing is fetched
    beyond the one URL)."""
    allowed = settings.DISCOVERY_ALLOWED_NETWORKS
    try:
        check_url(url, allowed)
    except FetchRefused as exc:
        raise SourceError(f"refused: {exc}") from None

    async def run():
        async with make_session(allowed=allowed, concurrency=1) as session:
            return await fetch(
                session,
                url,
                allowed=allowed,
                max_bytes=settings.CATALOG_MAX_BYTES,
                timeout=float(settings.CATALOG_FETCH_TIMEOUT),
            )

    result = asyncio.run(run())
    if not result.ok:
        raise SourceError(f"{url[:200]}: {result.error}")
    name = PurePosixPath(urlsplit(url).path).name or "catalog-info.yaml"
    files = [(name, result.body, None)]
    digest = digest_of(files)
    return Fetched(files=files, revision=digest[:12], digest=digest)


# --- git locations -----------------------------------------------------------------------------
def git_url_check(url: str, *, local_ok: bool) -> tuple[str, list[str]]:
    """The URL git will clone and the extra ``-c`` options that pin it: https (host checked
    against the allow-list and pinned to the checked address), or a local repository (a path
    or file://) when ``local_ok``. Anything else (ssh, git://, http, ext::, options) is refused."""
    url = (url or "").strip()
    if not url or url.startswith("-") or "\n" in url or "\0" in url:
        raise SourceError("Give a repository URL (https://…) or a local path.")
    if url.startswith("/") or url.startswith("file://"):
        if not local_ok:
            raise SourceError(
                "Local repositories (paths and file://) are for superusers unless CATALOG_GIT_ALLOW_LOCAL is set."
            )
        path = url[len("file://") :] if url.startswith("file://") else url
        return "file://" + str(Path(path).resolve()), ["-c", "protocol.file.allow=always"]
    try:
        parts = split_url(url)
    except ValueError as exc:
        raise SourceError(f"{exc}.") from None
    if parts.scheme != "https" or "::" in url.split("/")[0]:
        raise SourceError(f"Scheme '{parts.scheme or url.split(':')[0][:20]}' is not allowed; use https.")
    if not parts.hostname:
        raise SourceError("The URL has no host.")
    if parts.username or parts.password:
        raise SourceError("Credentials in the URL are not accepted.")
    port = parts.port or 443
    try:
        address = resolve_allowed(parts.hostname, port, settings.DISCOVERY_ALLOWED_NETWORKS)
    except FetchRefused as exc:
        raise SourceError(f"refused: {exc}") from None
    pin = f"{parts.hostname}:{port}:{'[' + address + ']' if ':' in address else address}"
    return url, ["-c", "protocol.https.allow=always", "-c", f"http.curloptResolve={pin}"]


def _git_env(home: str) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_LFS_SKIP_SMUDGE": "1",
    }


_SAFE = [
    "-c", "protocol.allow=never",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.symlinks=false",
    "-c", "core.fsmonitor=false",
    "-c", "http.followRedirects=false",
    "-c", "http.lowSpeedLimit=1024",
    "-c", "http.lowSpeedTime=10",
    "-c", "submodule.recurse=false",
    "-c", "credential.helper=",
    "-c", "transfer.fsckObjects=true",
]  # fmt: skip


def _du(path: Path) -> int:
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _run_git(args: list[str], *, cwd: Path, env: dict, deadline: float, watch: Path | None) -> str:
    """Run git in its own process group; kill the group at the deadline or when ``watch``
    grows past CATALOG_GIT_MAX_BYTES. Returns stdout; SourceError on failure."""
    cap = settings.CATALOG_GIT_MAX_BYTES
    git = shutil.which("git") or "/usr/bin/git"
    proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell; URL and branch checked above)
        [git, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    reason = ""
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    reason = f"git did not finish within {settings.CATALOG_FETCH_TIMEOUT} s"
                elif watch is not None and _du(watch) > cap:
                    reason = f"the repository is larger than {cap} bytes (CATALOG_GIT_MAX_BYTES)"
                if reason:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                    raise SourceError(reason) from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        # git's own message (remote names, "not found"), never file content; one line, bounded
        lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        message = lines[-1][:300] if lines else f"exit status {proc.returncode}"
        raise SourceError(f"git {args[0] if args[0] != '-c' else 'clone'} failed: {message}")
    return out.decode("utf-8", "replace")


def branch_check(branch: str) -> str:
    branch = (branch or "").strip()
    if not branch or branch.startswith("-") or any(c in branch for c in " \t\n\0~^:?*[\\") or ".." in branch:
        raise SourceError(f"'{branch[:80]}' is not a branch name.")
    return branch


@contextmanager
def git_checkout(url: str, branch: str, *, local_ok: bool):
    """A shallow checkout of ``branch`` in a temporary directory (removed afterwards); yields
    (directory, commit)."""
    branch = branch_check(branch)
    clone_url, pin = git_url_check(url, local_ok=local_ok)
    work = Path(tempfile.mkdtemp(prefix="sb-git-"))
    try:
        env = _git_env(str(work))
        deadline = time.monotonic() + settings.CATALOG_FETCH_TIMEOUT
        checkout = work / "checkout"
        _run_git(
            [*_SAFE, *pin, "clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags", "--branch", branch,
             "--", clone_url, str(checkout)],
            cwd=work, env=env, deadline=deadline, watch=work,
        )  # fmt: skip
        if _du(work) > settings.CATALOG_GIT_MAX_BYTES:  # finished between two looks
            raise SourceError(
                f"the repository is larger than {settings.CATALOG_GIT_MAX_BYTES} bytes (CATALOG_GIT_MAX_BYTES)"
            )
        commit = _run_git(["rev-parse", "HEAD"], cwd=checkout, env=env, deadline=deadline, watch=None).strip()
        yield checkout, commit
    finally:
        shutil.rmtree(work, ignore_errors=True)


def glob_check(pattern: str) -> str:
    pattern = (pattern or "").strip() or "**/catalog-info.yaml"
    if pattern.startswith("/") or ".." in PurePosixPath(pattern).parts or "\0" in pattern or len(pattern) > 200:
        raise SourceError(f"'{pattern[:80]}' must be a glob relative to the repository root.")
    return pattern


@contextmanager
def fetch_git(url: str, branch: str, pattern: str, *, local_ok: bool):
    """The descriptor files ``pattern`` matches in ``branch``, read within the limits; yields a
    ``Fetched`` whose directories are inside the checkout, so ``$text`` resolves next to each
    file and never outside it (symlinks are plain files). Plan inside the ``with``: the checkout
    is removed when it ends."""
    pattern = glob_check(pattern)
    with git_checkout(url, branch, local_ok=local_ok) as (checkout, commit):
        root = checkout.resolve()
        matches = sorted(p for p in root.glob(pattern) if p.is_file() and ".git" not in p.relative_to(root).parts)
        if len(matches) > settings.CATALOG_GIT_MAX_FILES:
            raise SourceError(f"'{pattern}' matches {len(matches)} files; at most {settings.CATALOG_GIT_MAX_FILES}.")
        files, ignored = [], []
        for path in matches:
            name = str(path.relative_to(root))
            size = path.stat().st_size
            if size > settings.CATALOG_MAX_BYTES:
                raise SourceError(f"{name} is {size} bytes; at most {settings.CATALOG_MAX_BYTES} are read.")
            content = path.read_bytes()
            if b"apiVersion:" not in content:
                ignored.append(name)  # not a descriptor (a $text definition next to one, say)
                continue
            files.append((name, content, path.parent))
        yield Fetched(files=files, revision=commit, digest=digest_of(files), ignored=ignored)


@contextmanager
def fetch_location(kind: str, target: str, branch: str, pattern: str, *, local_ok: bool):
    """A URL or git location's files (see above), as a context."""
    if kind == "url":
        yield fetch_url(target)
    else:
        with fetch_git(target, branch, pattern, local_ok=local_ok) as fetched:
            yield fetched
