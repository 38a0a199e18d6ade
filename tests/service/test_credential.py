"""The ward's own staff credential: made once, kept hashed, rotated by command."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kmc_monitor.service import credential
from kmc_monitor.service.auth import Role, StaffAuth

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"


def test_made_once_kept_hashed_and_accepted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cred, token = credential.ensure(data)
    assert token is not None and len(token) >= 32
    text = cred.path.read_text()
    assert token not in text and stat.S_IMODE(cred.path.stat().st_mode) == 0o600
    again, shown = credential.ensure(data)
    assert shown is None and again.sha256 == cred.sha256  # a restart shows nothing new
    auth = StaffAuth(())
    auth.add_digest(again.sha256, Role.ADMIN)
    ident = auth.token_identity(token)
    assert ident is not None and ident.role is Role.ADMIN and ident.who == cred.fingerprint
    assert auth.token_identity(token + "x") is None


def test_a_damaged_file_says_how_to_replace_it(tmp_path: Path) -> None:
    (tmp_path / credential.CREDENTIAL_FILE).write_text("{not json")
    with pytest.raises(credential.CredentialFileError, match="credential rotate"):
        credential.load(tmp_path)


def test_rotate_replaces_the_credential(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old, old_token = credential.ensure(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMC_")}
    done = subprocess.run(
        [KMC, "credential", "rotate", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    new = credential.load(data)
    assert new is not None and new.sha256 != old.sha256
    token = done.stdout.splitlines()[1].strip()
    auth = StaffAuth(())
    auth.add_digest(new.sha256, Role.ADMIN)
    assert auth.token_identity(token) is not None and auth.token_identity(old_token) is None
    assert old.fingerprint in done.stdout
