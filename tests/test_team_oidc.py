"""auth mode oidc against a real OpenID Connect provider: panva's oidc-provider (npm) with its development login
form, and Streamlit's own st.login (Authlib). The provider's node_modules come from $TUNEDECK_OIDC_PROVIDER
(a folder where `npm install oidc-provider@9` ran); without it, or without node, the test skips."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from jobs.atomic import atomic_write_json
from tests.conftest import REPO
from tests.helpers import CHROMIUM, chromium_browser, free_port, screenshots, streamlit_server
from tests.spool_helpers import wait_for

PROVIDER = Path(os.environ.get("TUNEDECK_OIDC_PROVIDER", "/opt/oidc-provider"))
pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(not (PROVIDER / "node_modules" / "oidc-provider").is_dir(),
                       reason=f"no oidc-provider under {PROVIDER} (npm install --prefix {PROVIDER} oidc-provider@9)"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed"),
]


def test_sign_in_through_a_real_oidc_provider(ws, tmp_path):
    pytest.importorskip("authlib", reason="st.login needs Authlib (requirements.txt)")
    idp_port, st_port = free_port(), free_port()
    app = f"http://127.0.0.1:{st_port}"
    (tmp_path / "node_modules").symlink_to(PROVIDER / "node_modules")
    shutil.copy(REPO / "tests" / "oidc" / "server.mjs", tmp_path / "server.mjs")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'''[auth]
redirect_uri = "{app}/oauth2callback"
cookie_secret = "a-test-cookie-secret-of-some-length"
client_id = "tunedeck"
client_secret = "tunedeck-secret"
server_metadata_url = "http://127.0.0.1:{idp_port}/.well-known/openid-configuration"
client_kwargs = {{ prompt = "login" }}
''')
    atomic_write_json(ws.home / "config.json", {"auth": {"mode": "oidc", "admins": ["tdadmin@example.com"]}})
    log = open(tmp_path / "log.txt", "w")
    idp = subprocess.Popen(["node", "server.mjs", str(idp_port), f"{app}/oauth2callback"], cwd=tmp_path, stdout=log,
                           stderr=subprocess.STDOUT)
    from playwright.sync_api import expect
    try:
        with streamlit_server(ws.home, tmp_path / "dashboard.log", "--secrets.files", str(secrets), port=st_port), \
                chromium_browser() as browser:
            wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration",
                                                    timeout=1).status == 200, 30)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app + "/")
            page.get_by_role("button", name="Sign in").click(timeout=60000)
            page.locator('input[name="login"]').fill("tdadmin", timeout=30000)  # the provider's own login form
            page.locator('input[name="password"]').fill("any")
            page.locator('button[type="submit"]').click()
            page.locator('button[type="submit"]').click(timeout=30000)  # consent: "Continue"
            try:
                # the email claim (shown with a word joiner before "@", so it is not made a mail link)
                expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(
                    re.compile("Signed in as tdadmin\u2060?@example.com · admin"), timeout=60000)
            except Exception:
                page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
                print("at", page.url)
                raise
            page.screenshot(path=str(screenshots(ws) / "oidc-signed-in.png"), full_page=True)
            expect(page.get_by_role("button", name="Sign out")).to_have_count(1, timeout=30000)  # not clicked
    finally:
        idp.terminate()
        idp.wait(10)
        log.close()
        print((tmp_path / "log.txt").read_text()[-3000:], (tmp_path / "dashboard.log").read_text()[-3000:])
